// sampler/policy.h: frame-selection results and the metadata-only policies (no decoding, no
// OpenCV): the reference SmolVLM2 sampling, uniform sampling and keyframe sampling.
//
// Usage:
//   smolvid::sampler::VideoMeta meta{/*duration_s=*/10.0, /*fps=*/30.0, /*frame_count=*/300};
//   smolvid::sampler::Selection sel = smolvid::sampler::sample_smolvlm2(meta, {});
//   for (const auto& p : sel.picks) std::printf("%lld %s %s\n", p.index, p.label.c_str(), p.reason.c_str());
//
// Units: times in seconds. `Pick::time_s` is on the stream timeline (what
// decode::VideoReader::decode_at takes: the container start time is included); `Pick::offset_s`
// is the time since the first frame (what people and prompts see). Frame indices are 0-based in
// presentation order. Every policy respects its frame budget (max_frames) and says why it chose
// each frame. Bad options or metadata throw SamplerError naming the value, expected vs got.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace smolvid::sampler {

class SamplerError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// What the metadata-only policies need to know about a video (decode::MediaInfo gives it).
struct VideoMeta {
  double duration_s = 0.0;          // > 0
  double fps = 0.0;                 // native (average) frame rate, > 0
  int64_t frame_count = 0;          // > 0
  double start_time_s = 0.0;        // pts of the first frame on the stream timeline
  std::vector<double> keyframe_times;  // stream timeline, ascending (keyframes policy only)
};

struct Pick {
  double time_s = 0.0;    // stream timeline: pass to decode_at
  double offset_s = 0.0;  // seconds since the first frame
  int64_t index = -1;     // frame index, -1 when the policy chose a time rather than a frame
  std::string label;      // util::format_mmss(offset_s), as in SmolVLM2 prompts
  std::string reason;     // why this frame was chosen, one line
};

// A shot (scenes) or an event (motion): [start_s, end_s) on the stream timeline.
struct Segment {
  double start_s = 0.0;
  double end_s = 0.0;
  double score = 0.0;  // scenes: the cut score that opened the shot (0 for the first shot);
                       // motion: the peak fraction of changed pixels
  std::string kind;    // "shot" or "event"
};

// Where one shot ends and the next begins (scenes): a hard cut between two frames, or a
// gradual transition: a fade through black (or from black at the start, to black at the end) or
// a dissolve (one shot blended into the next). [start_s, end_s) on the stream timeline: a cut's
// start_s is the first frame of the new shot and end_s == start_s; a transition spans its frames.
struct Boundary {
  std::string kind;    // "cut", "fade" or "dissolve"
  double start_s = 0.0;
  double end_s = 0.0;
  double score = 0.0;  // cut: the frame's content score; fade: how far the light fell or rose
                       // (0..255); dissolve: the mean colour change across it (0..255)
};

struct Selection {
  std::string policy;              // "smolvlm2", "uniform", "keyframes", "scenes", "motion"
  double duration_s = 0.0;         // the video's duration as the policy saw it (metadata, or the
                                   // analysed span); the SmolVLM2 intro uses util::format_hmmss(duration_s)
  std::vector<Pick> picks;         // ascending time, at most the budget
  std::vector<Segment> segments;   // shots or events (scenes/motion), ascending
  std::vector<Boundary> boundaries;  // scenes: the cuts and transitions, ascending
  std::vector<std::string> notes;  // what was dropped or adapted, e.g. near-duplicates removed
};

// ---- smolvlm2 ------------------------------------------------------------------------------
struct Smolvlm2Options {
  double target_fps = 1.0;  // video_sampling.fps
  int max_frames = 64;      // video_sampling.max_frames
  double skip_secs = 1.0;   // skipped at both ends when duration - 2*skip > max_frames*target_fps
};

// The reference frame indices (transformers SmolVLMVideoProcessor.sample_frames, spec 5.3):
// sorted, unique, in [0, frame_count).
std::vector<int64_t> smolvlm2_indices(int64_t frame_count, double fps, double duration_s,
                                      const Smolvlm2Options& options = {});
// The same as picks: offset_s = index / fps, label "MM:SS".
Selection sample_smolvlm2(const VideoMeta& meta, const Smolvlm2Options& options = {});

// ---- uniform -------------------------------------------------------------------------------
struct UniformOptions {
  int max_frames = 16;       // N frames spread evenly (centres of N equal parts) when every_s = 0
  double every_s = 0.0;      // > 0: one frame every every_s seconds from the start, capped at
                             // max_frames (thinned evenly when more would fit)
};
Selection sample_uniform(const VideoMeta& meta, const UniformOptions& options = {});

// ---- keyframes -----------------------------------------------------------------------------
struct KeyframeOptions {
  int max_frames = 16;  // more keyframes than this are thinned evenly over their list
};
Selection sample_keyframes(const VideoMeta& meta, const KeyframeOptions& options = {});

// Positions of `budget` items spread evenly over `count` (count > budget): the item nearest to the
// centre of each of `budget` equal parts. Returns 0..count-1 when count <= budget.
std::vector<size_t> spread_evenly(size_t count, size_t budget);

// Fills offset_s/label from time_s and the selection's start time.
void set_offset(Pick& pick, double start_time_s);

}  // namespace smolvid::sampler
