// pipeline/vlm.h: the vision-language model as the jobs (ask, summarize, batch, index) see it.
// The real SmolVLM adapter and the test fakes implement this interface; the jobs never see
// tensors, tokenizers or devices.
//
// Usage:
//   std::unique_ptr<smolvid::pipeline::Vlm> vlm = ...;              // real model or a fake
//   smolvid::pipeline::VisualInput input{smolvid::pipeline::MediaKind::kVideo, frames};
//   smolvid::pipeline::GenerationOptions gen;                       // greedy, 256 new tokens
//   auto answers = vlm->generate(input, {"What happens?", "Who is there?"}, gen,
//       [](size_t question, const std::string& piece) { std::fputs(piece.c_str(), stdout); });
//   // answers[0].text, answers[0].timings.decode_s, ...
//
// Units: times in seconds. Frames are RGB24 (channels == 3) with their true presentation time in
// `pts_seconds` (the stream timeline, as decoded); the model puts those times, counted from the
// video's start (`start_time_s`), in the prompt and never invents its own. Ownership: the caller owns the frames; the model does not keep them
// after generate() returns. Threading: one Vlm is used from one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "decode/frame.h"

namespace smolvid::pipeline {

// A job stopped because its deadline passed (batch --item-timeout). The message names the stage.
class TimeoutError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A model failure (bad input for this model, generation failed). The message names the input.
class VlmError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using Clock = std::chrono::steady_clock;

// Cooperative time limit: long-running code calls check() between units of work (decoded frames,
// encoded images, generated tokens) and throws TimeoutError once the deadline has passed.
struct Deadline {
  std::optional<Clock::time_point> at;  // none = no limit

  static Deadline after_seconds(double seconds);  // seconds <= 0 means no limit
  bool expired() const { return at && Clock::now() >= *at; }
  // Throws TimeoutError("<stage>: item timeout reached") when expired.
  void check(const char* stage) const;
};

struct GenerationOptions {
  int max_new_tokens = 256;      // upper bound on generated tokens, >= 1
  double temperature = 0.0;      // 0 = greedy decoding; > 0 samples
  double top_p = 1.0;            // nucleus sampling mass in (0, 1]; used when temperature > 0
  uint64_t seed = 0;             // sampling seed (same seed + inputs = same text)
  Deadline deadline;             // checked between tokens and after encoding the frames
  // Polled before each new token; returning true ends the generation there (stop_reason
  // "callback"), e.g. when the server's client has disconnected or a stop sequence appeared.
  std::function<bool()> should_stop;
};

// What the frames are: a video clip (SmolVLM2 video prompt with "Frame from MM:SS" stamps), a set
// of still images (one <image> per frame), or nothing (text-only prompt, e.g. the reduce step of
// summarize).
enum class MediaKind { kVideo, kImages, kNone };

struct VisualInput {
  MediaKind kind = MediaKind::kVideo;
  std::vector<decode::Frame> frames;  // RGB24, in ascending pts for kVideo; empty for kNone
  double duration_s = 0.0;            // kVideo: the length of the clip the frames stand for (the
                                      // SmolVLM2 intro states it); 0 = the frames' time span
  double start_time_s = 0.0;          // kVideo: stream time of the video's first frame (its start
                                      // time; MPEG-TS often 1.4 s): the prompt says pts - this, as
                                      // the reference's frame index / fps
};

struct GenerationTimings {
  double vision_s = 0.0;   // preprocessing + vision tower + connector (shared by all questions)
  double prefill_s = 0.0;  // prompt forward pass
  double decode_s = 0.0;   // token-by-token generation
};

struct Generation {
  std::string text;             // the answer, without the prompt and special tokens
  std::vector<int64_t> token_ids;  // generated token ids (the eos token included when it stopped on one)
  int prompt_tokens = 0;
  int generated_tokens = 0;
  std::string stop_reason;      // "eos", "max_new_tokens"
  GenerationTimings timings;
};

// The frame sampling a checkpoint was trained with (SmolVLM2's video_sampling in its
// preprocessor config): the smolvlm2 policy's defaults when the caller sets none.
struct VideoSampling {
  double fps = 0.0;    // video_sampling.fps
  int max_frames = 0;  // video_sampling.max_frames
};

// Called with each decoded piece of text as soon as it is available: (question index, piece).
using TextCallback = std::function<void(size_t question, const std::string& piece)>;

class Vlm {
 public:
  virtual ~Vlm() = default;

  // Answers each prompt about the same frames; the frames are encoded once and reused. Returns
  // one Generation per prompt, in order. Throws VlmError for inputs the model cannot take and
  // TimeoutError when options.deadline passes.
  virtual std::vector<Generation> generate(const VisualInput& input, const std::vector<std::string>& prompts,
                                           const GenerationOptions& options, const TextCallback& on_text) = 0;

  // One prompt; on_text may be empty.
  Generation generate_one(const VisualInput& input, const std::string& prompt, const GenerationOptions& options,
                          const std::function<void(const std::string&)>& on_text = {});

  // E.g. "HuggingFaceTB/SmolVLM2-256M-Video-Instruct" or the local directory it was loaded from.
  virtual std::string model_name() const = 0;
  // The checkpoint's video_sampling; nullopt when it has none (SmolVLM v1, fakes).
  virtual std::optional<VideoSampling> video_sampling() const { return std::nullopt; }
};

}  // namespace smolvid::pipeline
