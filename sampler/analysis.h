// sampler/analysis.h: per-frame features of small analysis frames (OpenCV), computed in one
// streaming pass, so that the scenes/motion/near-duplicate policies are pure functions of a
// vector of numbers.
//
// Usage:
//   smolvid::sampler::FrameAnalyzer analyzer;                  // default AnalysisOptions
//   reader.decode_all([&](const smolvid::decode::Frame& f) {   // small frames: max_side 64-160
//     features.push_back(analyzer.push(f));
//     return true;
//   });
//
// Frames may be RGB24 (3 channels: content difference in HSV) or GRAY8 (1 channel: luma only).
// Memory is bounded: the analyzer keeps the previous frame and a background model, nothing more.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "decode/frame.h"

namespace smolvid::sampler {

struct FrameFeatures {
  double time_s = 0.0;     // stream timeline
  int64_t index = 0;
  bool keyframe = false;
  uint64_t dhash = 0;      // 64-bit difference hash of the grey frame (9x8 area resize)
  double content = 0.0;    // mean |difference| to the previous frame over H, S, V (or luma),
                           // 0..255 scale, PySceneDetect ContentDetector's content_val; 0 first
  double histogram = 0.0;  // 1 - correlation of the 32-bin luma histograms of this and the
                           // previous frame (0 = same distribution, up to 2)
  double motion = 0.0;     // fraction of pixels (0..1) differing from the background model by
                           // more than AnalysisOptions::motion_pixel_threshold
  // Scene features (AnalysisOptions::scene_features); all 0 on the first frame.
  double changed = 0.0;      // fraction of pixels (0..1) whose R, G or B moved by more than
                             // changed_pixel_threshold since the previous frame: the share of the
                             // picture that changed, whatever its texture (flat colour included)
  double edge_change = 0.0;  // edge change ratio (Zabih et al.): min(share of this frame's edge
                             // pixels with no edge near them in the previous frame, share of the
                             // previous frame's edges with none near them now). A cut replaces
                             // both; motion moves edges within reach, a pop-in only adds some
  double luma_mean = 0.0;    // mean grey level (0..255) of this frame
  double luma_std = 0.0;     // its standard deviation: both ~0 on a black frame
  std::array<uint8_t, 192> thumb{};  // 8x8 RGB area average (RGB order; grey repeated for GRAY8)
};

struct AnalysisOptions {
  bool motion_features = true;          // false: skip motion (blur, background model),
                                        // e.g. for the scenes policy, which does not use them
  bool scene_features = true;           // false: skip changed/edge_change/luma/thumb
                                        // (the motion policy does not use them)
  double changed_pixel_threshold = 24.0;  // levels (0..255) a colour channel must move by
  double edge_reach = 2.0;              // pixels of the work frame an edge may move and still
                                        // count as the same edge (edge change ratio)
  int work_side = 128;                  // frames larger than this are resized (INTER_AREA)
  int blur_kernel = 5;                  // Gaussian blur (odd) before motion differencing
  double motion_pixel_threshold = 24.0; // grey levels (0..255) a pixel must differ by
  double background_tau_s = 2.0;        // time constant of the background running average: an
                                        // object that stops is absorbed in ~1.4 tau (its event
                                        // ends), and so is the ghost it leaves when it goes
  double foreground_slowdown = 1.0;     // changed pixels adapt this many times more slowly (> 1
                                        // keeps still objects longer but leaves longer ghosts)
};

class FrameAnalyzer {
 public:
  explicit FrameAnalyzer(AnalysisOptions options = {});
  ~FrameAnalyzer();
  FrameAnalyzer(FrameAnalyzer&&) noexcept;
  FrameAnalyzer& operator=(FrameAnalyzer&&) noexcept;

  // Throws SamplerError for an empty frame or a pixel count that does not match its size.
  FrameFeatures push(const decode::Frame& frame);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// dHash of one frame on its own (any size, 1 or 3 channels).
uint64_t difference_hash(const decode::Frame& frame);
int hamming_distance(uint64_t a, uint64_t b);

}  // namespace smolvid::sampler
