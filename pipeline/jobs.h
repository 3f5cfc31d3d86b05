// pipeline/jobs.h: the jobs behind `smolvid ask`, `summarize`, `index` and `batch`, composed from
// decode/ + sampler/ and a Vlm (pipeline/vlm.h). The CLI fills the option structs and prints.
//
// Usage:
//   std::unique_ptr<Vlm> vlm = ...;                                   // loaded once
//   AskResult a = ask(*vlm, "clip.mp4", {"What happens?"}, AskOptions{}, print_piece);
//   Summary s = summarize(*vlm, "talk.mp4", SummarizeOptions{}, on_progress);
//   write_summary(s, SummaryFormat::kSrt, std::cout);
//   EventIndex db("cams.sqlite");
//   IndexVideoResult r = index_video(*vlm, db, "lobby.mp4", IndexOptions{}, on_progress);
//   run_batch(items, batch_options, make_batch_runner(*vlm, AskOptions{}, SummarizeOptions{}));
//
// Times: every time the model sees or the outputs record is a decoded frame's presentation time
// (stream timeline, seconds) or a boundary the sampler measured on decoded frames; the model never
// produces a time. Memory: summarize and index decode the frames of one segment/event at a time,
// so memory does not grow with the video's length.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/batch.h"
#include "pipeline/index.h"
#include "pipeline/outputs.h"
#include "pipeline/vlm.h"
#include "sampler/sampler.h"

namespace smolvid::pipeline {

class JobError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A job's options do not fit its input: a time range outside the video, a policy that picks no
// frame in the range, an invalid segment length or frame count.
class JobOptionsError : public JobError {
 public:
  using JobError::JobError;
};

// GenerationOptions with another max_new_tokens.
inline GenerationOptions max_tokens(int max_new_tokens) {
  GenerationOptions g;
  g.max_new_tokens = max_new_tokens;
  return g;
}

// Called as work advances: (units done, units total, what was just done).
using JobProgress = std::function<void(size_t done, size_t total, const std::string& detail)>;

// ---- ask ----------------------------------------------------------------------------------------
struct AskOptions {
  sampler::SamplerOptions sampling;          // default: policy "smolvlm2" (the reference sampling);
                                             // its 0 max_frames / fps: the model's video_sampling
  GenerationOptions generation;
  std::optional<double> start_s, end_s;      // only frames in [start_s, end_s) (stream timeline)
  int threads = 0;                           // decoder threads (0 = cores available)
};

struct AskResult {
  std::string input;
  MediaKind kind = MediaKind::kVideo;        // kImages for a still image
  double duration_s = 0.0;
  std::vector<double> frame_times_s;         // pts of the frames shown to the model
  std::vector<std::string> questions;
  std::vector<Generation> answers;           // one per question, same order
  std::string model;
  std::map<std::string, double> timings_s;   // "sample", "decode", "model", "total"
};

// True for inputs handled as a still image (by extension: png, jpg, jpeg, bmp, webp, tif, tiff).
bool is_image_path(const std::string& path);

// Samples the video (or takes the image), asks every question about the same frames (encoded
// once by the model), streams the text through on_text. Throws JobError for no questions or no
// frames in the range; decode/sampler/model errors pass through.
AskResult ask(Vlm& vlm, const std::string& input, const std::vector<std::string>& questions, const AskOptions& options,
              const TextCallback& on_text = {});
// {"input", "kind", "duration_s", "model", "frames": [{"pts_s"}], "answers": [{"question",
// "answer", "prompt_tokens", "generated_tokens", "stop_reason", "timings_s"}], "timings_s"}
nlohmann::json ask_to_json(const AskResult& result);

// ---- summarize ----------------------------------------------------------------------------------
struct SummarizeOptions {
  std::string segmenter = "scenes";   // "scenes": shots from the scenes policy; "fixed": windows
  double segment_s = 30.0;            // fixed: window length; scenes: longer shots are split
                                      // into windows of at most this length
  double min_segment_s = 2.0;         // scenes: shorter shots join the previous segment
  int frames_per_segment = 4;         // frames shown to the model per segment (>= 1)
  std::string caption_prompt = "Describe what happens in this part of the video in one or two sentences.";
  // {captions} is replaced by one "[MM:SS - MM:SS] caption" line per segment.
  std::string summary_prompt =
      "These are descriptions of consecutive parts of one video, with their time ranges:\n{captions}\n"
      "Write a short summary of the whole video in a few sentences.";
  bool overall_summary = true;        // false: captions only, no reduce step
  size_t max_reduce_chars = 6000;     // longer caption lists are condensed in chunks first
  GenerationOptions caption_generation = max_tokens(96);
  GenerationOptions summary_generation = max_tokens(256);
  int thumbnail_side = 320;           // longest side of the HTML report's thumbnails (0 = none)
  std::optional<double> start_s, end_s;
  sampler::SceneOptions scenes;
  int threads = 0;
};

Summary summarize(Vlm& vlm, const std::string& video, const SummarizeOptions& options, const JobProgress& progress = {});

// The segment boundaries summarize uses, without running the model: [start_s, end_s) pairs.
std::vector<std::pair<double, double>> summary_segments(const std::string& video, const SummarizeOptions& options);

// ---- index --------------------------------------------------------------------------------------
struct IndexOptions {
  std::string camera;                 // empty: the file name without extension
  std::optional<double> start_wallclock;  // Unix seconds at video time 0; nullopt: the container's
                                      // creation_time tag, else a date in the file name (e.g.
                                      // VID_20191220_170832, 2024-05-01_10-00-00), else unknown
  sampler::MotionOptions motion;
  sampler::AnalysisOptions analysis;
  int analysis_side = 128;
  int frames_per_event = 3;
  std::string prompt = "Describe what moves or happens in this clip from a fixed camera in one sentence.";
  GenerationOptions generation = max_tokens(64);
  int thumbnail_side = 320;
  int threads = 0;
};

struct IndexVideoResult {
  bool already_indexed = false;       // same content hash + options hash: nothing done
  size_t events = 0;
  std::string content_hash;
  std::optional<double> start_wallclock;
};

// Motion events -> one caption each -> one transaction in `db`.
IndexVideoResult index_video(Vlm& vlm, EventIndex& db, const std::string& video, const IndexOptions& options,
                             const JobProgress& progress = {});

// Wall-clock start from a file name: YYYYMMDD_HHMMSS, YYYY-MM-DD_HH-MM-SS, YYYY-MM-DDTHH:MM:SS
// (read as UTC). nullopt when the name holds no such stamp.
std::optional<double> wallclock_from_filename(const std::string& path);

// ---- batch --------------------------------------------------------------------------------------
// The ItemRunner for run_batch: "ask" items -> {"answers": [...], "frames": [...]}, "summarize"
// items -> {"summary": <summary JSON>}; the item's start/end and sampling overrides apply
// ("policy"/"strategy", "max_frames", "fps" for ask; "segmenter", "segment_s",
// "frames_per_segment" for summarize). Unknown override keys fail the item. A failed item's
// error_type (pipeline/batch.h) is "model" for any failure inside the model, "options" for
// overrides or a range that do not fit the video, "input" for a video that cannot be read.
ItemRunner make_batch_runner(Vlm& vlm, const AskOptions& ask_defaults, const SummarizeOptions& summarize_defaults);

}  // namespace smolvid::pipeline
