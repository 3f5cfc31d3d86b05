// pipeline/outputs.h: the result of `summarize` and its output formats.
//
// Usage:
//   smolvid::pipeline::Summary s;             // filled by the summarize job (or a test)
//   s.video = "clip.mp4"; s.duration_s = 8.09; s.model = vlm.model_name();
//   s.segments.push_back({0.0, 3.09, "A rocket on the pad.", {0.5, 1.5, 2.5}, jpeg_bytes, 1.5});
//   std::ofstream out("clip.srt");
//   smolvid::pipeline::write_summary(s, smolvid::pipeline::parse_summary_format("srt"), out);
//
// Formats:
//   text      human-readable: overall summary, then one "[start - end] caption" line per segment
//   json      the document described by pipeline/summary.schema.json (schema "smolvid.summary/1")
//   srt, vtt  one subtitle cue per segment (SubRip / WebVTT)
//   chapters  FFmpeg metadata (;FFMETADATA1, one [CHAPTER] per segment, TIMEBASE=1/1000):
//             ffmpeg -i video -i chapters.txt -map_metadata 1 -codec copy out.mkv
//   html      one self-contained page: summary, then per segment its thumbnail (base64 JPEG data
//             URI), time range and caption; no external resources
// Units: seconds on the video's presentation timeline (as decoded, not shifted to start at 0).
// Every writer first checks the summary (validate_summary) and throws OutputError naming the
// segment when a time is negative or not finite, a segment ends before or where it starts, or
// segments are not in ascending start order.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/media_util.h"

namespace smolvid::pipeline {

struct SummarySegment {
  double start_s = 0.0;                 // segment start (first frame's time or the cut time)
  double end_s = 0.0;                   // segment end, > start_s
  std::string caption;                  // the model's description of the segment
  std::vector<double> frame_times_s;    // pts of the frames shown to the model, ascending
  std::vector<uint8_t> thumbnail_jpeg;  // optional (empty = none); shown in the HTML report
  double thumbnail_time_s = 0.0;        // pts of the thumbnail frame when there is one
};

struct Summary {
  std::string video;                    // the input as given (path or URL)
  double duration_s = 0.0;              // video duration (0 = unknown)
  std::vector<SummarySegment> segments; // ascending start times
  std::string summary;                  // overall summary condensed from the captions
  std::string model;                    // Vlm::model_name()
  nlohmann::json options = nlohmann::json::object();  // the job's options, as run
  std::map<std::string, double> timings_s;            // stage -> seconds, e.g. "total", "decode"
};

enum class SummaryFormat { kText, kJson, kSrt, kVtt, kChapters, kHtml };

// "text", "json", "srt", "vtt", "chapters", "html"; throws OutputError listing the valid names.
SummaryFormat parse_summary_format(const std::string& name);
const char* summary_format_name(SummaryFormat format);
// The usual file extension (".txt", ".json", ".srt", ".vtt", ".ffmeta", ".html").
const char* summary_format_extension(SummaryFormat format);

void validate_summary(const Summary& summary);

// The JSON document (also what --format json prints).
nlohmann::json summary_to_json(const Summary& summary);

// Output files. check_output_file fails early (before the work that fills the file) when `path`
// is a directory or its folder does not exist, throwing OutputError naming the path. The file itself
// is written with write_file_atomically (pipeline/atomic_file.h), which checks the same first.
void check_output_file(const std::string& path);

void write_summary(const Summary& summary, SummaryFormat format, std::ostream& out);
void write_text(const Summary& summary, std::ostream& out);
void write_json(const Summary& summary, std::ostream& out);
void write_srt(const Summary& summary, std::ostream& out);
void write_vtt(const Summary& summary, std::ostream& out);
void write_chapters(const Summary& summary, std::ostream& out);
void write_html(const Summary& summary, std::ostream& out);

}  // namespace smolvid::pipeline
