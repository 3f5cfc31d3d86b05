// smolvid summarize VIDEO [--segment 30s] [--format text|json|srt|vtt|chapters|html] [--out FILE]
// Cuts the video into segments (shots, or fixed windows with --segment), has the model describe
// each one, condenses the captions into an overall summary, and writes the result in one of the
// formats of pipeline/outputs.h. A progress bar on stderr (when it is a terminal) counts segments.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

#include "cli/model_options.h"
#include "cli/registry.h"
#include "pipeline/atomic_file.h"
#include "pipeline/jobs.h"
#include "pipeline/outputs.h"
#include "pipeline/progress.h"
#include "util/duration.h"

namespace smolvid::cli {
namespace {

const int kCaptionMaxNewTokens = pipeline::SummarizeOptions{}.caption_generation.max_new_tokens;
const int kSummaryMaxNewTokens = pipeline::SummarizeOptions{}.summary_generation.max_new_tokens;
// A segment gets one caption from several frames: shorter than a second is no segment.
constexpr double kMinSegmentSeconds = 1.0;

struct SummarizeCliOptions {
  std::string video;
  std::string segment;            // empty: shots (scenes); else fixed windows of this length
  std::string max_segment = "30s";
  int frames_per_segment = 4;
  std::string format;             // empty: from --out's extension, else text
  std::string out;
  bool no_summary = false;
  std::string progress = "auto";
  TimeRangeOptions range;
  ModelCliOptions model;
};

// --format, else the format whose extension --out has (none: text). Another extension is a usage
// error rather than a file in an unexpected format.
pipeline::SummaryFormat choose_format(const SummarizeCliOptions& o) {
  if (!o.format.empty()) return pipeline::parse_summary_format(o.format);
  if (o.out.empty()) return pipeline::SummaryFormat::kText;
  std::string ext = std::filesystem::path(o.out).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext.empty()) return pipeline::SummaryFormat::kText;
  if (ext == ".htm") return pipeline::SummaryFormat::kHtml;
  std::string known;
  for (auto f : {pipeline::SummaryFormat::kText, pipeline::SummaryFormat::kJson, pipeline::SummaryFormat::kSrt, pipeline::SummaryFormat::kVtt,
                 pipeline::SummaryFormat::kChapters, pipeline::SummaryFormat::kHtml}) {
    if (ext == pipeline::summary_format_extension(f)) return f;
    known += fmt::format("{}{} ({})", known.empty() ? "" : ", ", pipeline::summary_format_extension(f), pipeline::summary_format_name(f));
  }
  throw CLI::ValidationError("--out", fmt::format("{}: unknown extension '{}'; expected {}, or choose the format with --format",
                                                  o.out, ext, known));
}

void run_summarize(const SummarizeCliOptions& o) {
  const pipeline::SummaryFormat format = choose_format(o);
  require_input(o.video, "video");
  if (!o.out.empty()) pipeline::check_output_file(o.out);  // before the model runs, not after
  pipeline::SummarizeOptions so;
  if (!o.segment.empty()) {
    so.segmenter = "fixed";
    so.segment_s = util::parse_duration(o.segment);
  } else {
    so.segmenter = "scenes";
    so.segment_s = util::parse_duration(o.max_segment);
  }
  so.frames_per_segment = o.frames_per_segment;
  so.overall_summary = !o.no_summary;
  so.caption_generation = o.model.generation(kCaptionMaxNewTokens);
  so.summary_generation = o.model.generation(kSummaryMaxNewTokens);
  so.start_s = o.range.start_s();
  so.end_s = o.range.end_s();
  so.threads = o.model.threads;
  if (format != pipeline::SummaryFormat::kHtml) so.thumbnail_side = 0;
  std::unique_ptr<pipeline::Vlm> vlm = load_model(o.model);

  pipeline::ProgressBar bar("summarize", 0, progress_mode(o.progress));
  const pipeline::Summary summary = pipeline::summarize(*vlm, o.video, so, [&](size_t done, size_t total, const std::string& detail) {
    bar.set_total(static_cast<int64_t>(total));
    bar.update(static_cast<int64_t>(done), detail);
  });
  bar.finish();
  if (o.out.empty()) {
    pipeline::write_summary(summary, format, std::cout);
    std::cout.flush();
    return;
  }
  pipeline::write_file_atomically(o.out, [&](std::ostream& out) { pipeline::write_summary(summary, format, out); });
  fmt::print(stderr, "summarize: {} segments, {} written to {}\n", summary.segments.size(), pipeline::summary_format_name(format), o.out);
}

const Registrar kSummarize(Group::kTop, 40, [](CLI::App& parent) {
  auto o = std::make_shared<SummarizeCliOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "summarize", "Timestamped summary of a video of any length: a caption per segment (shots or fixed windows), "
                   "then an overall summary; text, JSON, SRT, WebVTT, FFmpeg chapters or an HTML report");
  cmd->add_option("VIDEO", o->video, "Video file or URL")->required();
  cmd->add_option("--segment", o->segment,
                  "Cut into fixed windows of this length (30, 30s, 1m, 01:30; at least 1 s and one frame) instead of "
                  "shots (default: off, segments are the shots found by the scenes policy)")
      ->check(duration_validator(kMinSegmentSeconds));
  cmd->add_option("--max-segment", o->max_segment,
                  "Shots longer than this (at least 1 s and one frame) are split into windows of at most this length "
                  "(default: 30s)")
      ->check(duration_validator(kMinSegmentSeconds));
  cmd->add_option("--frames-per-segment", o->frames_per_segment, "Frames shown to the model per segment (default: 4)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--format", o->format,
                  "Output format: text, json (pipeline/summary.schema.json), srt, vtt, chapters (FFmpeg metadata), html "
                  "(self-contained report with thumbnails) (default: from --out's extension .txt/.json/.srt/.vtt/"
                  ".ffmeta/.html, text without one; another extension needs --format)")
      ->check(CLI::IsMember({"text", "json", "srt", "vtt", "chapters", "html"}));
  cmd->add_option("--out,-o", o->out, "Write the output to this file (replaced atomically) (default: stdout)");
  cmd->add_flag("--no-summary", o->no_summary, "Captions only, skip the overall summary (default: off)");
  add_progress_option(*cmd, o->progress);
  add_time_range_options(*cmd, o->range);
  add_model_options(*cmd, o->model,
                    fmt::format("{} per caption, {} for the overall summary", kCaptionMaxNewTokens, kSummaryMaxNewTokens));
  cmd->callback([o] { run_summarize(*o); });
});

}  // namespace
}  // namespace smolvid::cli
