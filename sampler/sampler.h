// sampler/sampler.h: the sampler's entry point for pipeline/ and cli/: a video + a policy name
// -> a Selection (times, reasons, shots/events), then the chosen frames at full resolution.
//
// Usage:
//   smolvid::sampler::SamplerOptions opt;
//   opt.policy = "scenes";                      // smolvlm2 | uniform | keyframes | scenes | motion
//   opt.max_frames = 8;
//   smolvid::sampler::Selection sel = smolvid::sampler::select_frames("clip.mp4", opt);
//   smolvid::decode::VideoReader reader("clip.mp4");          // RGB24, full resolution
//   std::vector<smolvid::decode::Frame> frames = smolvid::sampler::fetch_frames(reader, sel);
//   // frames[i] is the frame shown at sel.picks[i].time_s
//
// Cost: smolvlm2, uniform and keyframes read metadata only (VideoReader::probe, a demux pass);
// scenes and motion decode every frame once, scaled by FFmpeg to at most analysis_side pixels
// (RGB for scenes, grey for motion), keeping O(1) frames in memory. Near-duplicate suppression
// on a metadata policy decodes its candidate frames small, at their timestamps.
// Errors: unknown policy or bad options (also a time range outside the video) -> SamplerError;
// unreadable input -> decode::DecodeError.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "decode/video_reader.h"
#include "sampler/analysis.h"
#include "sampler/detect.h"
#include "sampler/policy.h"

namespace smolvid::sampler {

// The most a caller may ask for: a frame budget above kMaxFrames would hold gigabytes of
// full-resolution frames (and overflow any model's context); sampling faster than kMaxFps is
// faster than any camera records.
constexpr int kMaxFrames = 256;
constexpr double kMaxFps = 240.0;

struct SamplerOptions {
  std::string policy = "smolvlm2";  // one of policy_names()
  int max_frames = 0;               // budget in [0, kMaxFrames]; 0 = the policy's default
                                    // (smolvlm2 64, others 16)
  double fps = 0.0;                 // [0, kMaxFps]. smolvlm2: target fps (0 = 1); uniform: one frame
                                    // every 1/fps s (0 = max_frames frames spread evenly); others: unused
  double skip_secs = 1.0;           // smolvlm2: seconds skipped at both ends of long videos
  bool dedup = false;               // drop near-duplicate frames (dHash) so static footage does
                                    // not spend the budget
  // Only frames in [start_s, end_s) of the stream timeline (nullopt: the video's first frame /
  // its end). On a part of the video the metadata policies (smolvlm2, uniform, keyframes) run
  // on that part, so they spend their whole budget there, and choose times (Pick::index -1: the
  // nominal indices of a part are not the file's frame indices); scenes and motion analyse the
  // whole file and keep the picks and segments that start inside the part. dedup applies either way.
  std::optional<double> start_s, end_s;
  DedupOptions dedup_options;
  int analysis_side = 96;           // longest side of the analysis frames FFmpeg scales to
  AnalysisOptions analysis;
  SceneOptions scenes;              // its max_frames is replaced by the budget above
  MotionOptions motion;             // its max_frames is replaced by the budget above
  int threads = 0;                  // decoder threads; 0 = cores available
};

// "smolvlm2", "uniform", "keyframes", "scenes", "motion".
const std::vector<std::string>& policy_names();
// The budget a policy uses when SamplerOptions::max_frames is 0.
int default_max_frames(const std::string& policy);

// Metadata for the pure policies: duration, average frame rate (avg_frame_rate, else the header
// rate, else the measured one), frame count, start time, keyframes. Throws SamplerError naming the
// file when the duration, frame rate or frame count is unknown.
VideoMeta video_meta(const decode::MediaInfo& info);

// Decodes every frame of `path` small (analysis_side, `format`) and returns its features, in
// time order. Frames whose time does not ascend are dropped; that count and the decoder's
// warnings (e.g. a truncated file) are appended to `notes` when given.
std::vector<FrameFeatures> analyze_video(const std::string& path, decode::PixelFormat format, int analysis_side,
                                         const AnalysisOptions& options = {}, int threads = 0,
                                         std::vector<std::string>* notes = nullptr);

// Runs the policy on a file or URL. The decoder's warnings (e.g. a truncated file) are appended
// to the selection's notes as "decoder: ...".
Selection select_frames(const std::string& path, const SamplerOptions& options);
// The same for an open reader: metadata come from reader.probe(); policies that analyse pixels
// open a second, small reader on reader.path() (the given reader's settings are left alone).
Selection select_frames(decode::VideoReader& reader, const SamplerOptions& options);

// The chosen frames as `reader` delivers them (open it with the defaults for full-resolution
// RGB24), one per pick, in pick order, decoded with VideoReader::decode_at (smolvlm2 picks on a
// variable-frame-rate file: by frame index, in one sequential pass). Throws SamplerError
// when the decoder returns fewer frames than distinct pick times (e.g. a truncated file).
std::vector<decode::Frame> fetch_frames(decode::VideoReader& reader, const Selection& selection,
                                        decode::SeekMode mode = decode::SeekMode::kExact);

}  // namespace smolvid::sampler
