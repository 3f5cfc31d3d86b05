#include "pipeline/outputs.h"

#include <fmt/core.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>

#include "pipeline/version.h"
#include "util/time_format.h"

namespace smolvid::pipeline {
namespace {

constexpr const char* kSchemaId = "smolvid.summary/1";

// Subtitle text: one cue must not contain a blank line (it would end the cue; players treat a
// line of only spaces as blank too) nor the cue-timing arrow; carriage returns are dropped.
std::string subtitle_text(const std::string& caption) {
  std::string out;
  size_t line_start = 0;
  auto end_line = [&] {  // drops the line just written when it holds nothing but blanks
    if (out.find_first_not_of(" \t\f\v", line_start) == std::string::npos) out.resize(line_start);
    else out += '\n';
    line_start = out.size();
  };
  for (char c : caption) {
    if (c == '\r') continue;
    if (c == '\n') end_line();
    else out += c;
  }
  end_line();
  while (!out.empty() && out.back() == '\n') out.pop_back();
  // "-->" becomes "->"; repeated, since "--->" would otherwise turn into "-->" again.
  for (size_t pos; (pos = out.find("-->")) != std::string::npos;) out.replace(pos, 3, "->");
  return out.empty() ? "(no caption)" : out;
}

// WebVTT cue text: &, < and > must be escaped.
std::string vtt_text(const std::string& caption) {
  std::string text = subtitle_text(caption);
  std::string out;
  for (char c : text) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else out += c;
  }
  return out;
}

// FFmpeg metadata values: '=', ';', '#', '\' and newlines are escaped with a backslash; we turn
// newlines into spaces so a title stays on one line.
std::string ffmeta_escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\r') continue;
    if (c == '\n') {
      out += ' ';
      continue;
    }
    if (c == '=' || c == ';' || c == '#' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

SummaryFormat parse_summary_format(const std::string& name) {
  if (name == "text") return SummaryFormat::kText;
  if (name == "json") return SummaryFormat::kJson;
  if (name == "srt") return SummaryFormat::kSrt;
  if (name == "vtt") return SummaryFormat::kVtt;
  if (name == "chapters") return SummaryFormat::kChapters;
  if (name == "html") return SummaryFormat::kHtml;
  throw OutputError(fmt::format("unknown summary format '{}': expected text, json, srt, vtt, chapters or html", name));
}

const char* summary_format_name(SummaryFormat format) {
  switch (format) {
    case SummaryFormat::kText: return "text";
    case SummaryFormat::kJson: return "json";
    case SummaryFormat::kSrt: return "srt";
    case SummaryFormat::kVtt: return "vtt";
    case SummaryFormat::kChapters: return "chapters";
    case SummaryFormat::kHtml: return "html";
  }
  return "?";
}

const char* summary_format_extension(SummaryFormat format) {
  switch (format) {
    case SummaryFormat::kText: return ".txt";
    case SummaryFormat::kJson: return ".json";
    case SummaryFormat::kSrt: return ".srt";
    case SummaryFormat::kVtt: return ".vtt";
    case SummaryFormat::kChapters: return ".ffmeta";
    case SummaryFormat::kHtml: return ".html";
  }
  return "";
}

void validate_summary(const Summary& summary) {
  if (!std::isfinite(summary.duration_s) || summary.duration_s < 0) {
    throw OutputError(fmt::format("summary of {}: duration {} s is not a finite, non-negative number",
                                  summary.video, summary.duration_s));
  }
  for (size_t i = 0; i < summary.segments.size(); ++i) {
    const SummarySegment& s = summary.segments[i];
    auto bad = [&](const std::string& what) {
      return OutputError(fmt::format("summary of {}: segment {} [{} s, {} s] {}", summary.video, i, s.start_s, s.end_s, what));
    };
    if (!std::isfinite(s.start_s) || !std::isfinite(s.end_s) || s.start_s < 0) throw bad("has a negative or non-finite time");
    if (!(s.end_s > s.start_s)) throw bad("ends before or where it starts (expected end > start)");
    if (i > 0 && s.start_s < summary.segments[i - 1].start_s) {
      throw bad(fmt::format("starts before the previous segment (start {} s); expected ascending starts",
                            summary.segments[i - 1].start_s));
    }
    for (size_t k = 0; k < s.frame_times_s.size(); ++k) {
      const double t = s.frame_times_s[k];
      if (!std::isfinite(t) || t < 0 || (k > 0 && t < s.frame_times_s[k - 1])) {
        throw bad(fmt::format("has frame time {} s at position {}: expected finite, non-negative, ascending", t, k));
      }
    }
  }
}

nlohmann::json summary_to_json(const Summary& summary) {
  validate_summary(summary);
  using nlohmann::json;
  json segments = json::array();
  for (size_t i = 0; i < summary.segments.size(); ++i) {
    const SummarySegment& s = summary.segments[i];
    json seg = {{"index", i}, {"start_s", s.start_s}, {"end_s", s.end_s}, {"caption", s.caption},
                {"frame_times_s", s.frame_times_s}};
    if (!s.thumbnail_jpeg.empty()) seg["thumbnail_time_s"] = s.thumbnail_time_s;
    segments.push_back(std::move(seg));
  }
  json timings = json::object();
  for (const auto& [stage, seconds] : summary.timings_s) timings[stage] = seconds;
  return json{{"schema", kSchemaId},
              {"smolvid_version", version()},
              {"video", {{"path", summary.video}, {"duration_s", summary.duration_s}}},
              {"model", summary.model},
              {"options", summary.options.is_null() ? json::object() : summary.options},
              {"summary", summary.summary},
              {"segments", std::move(segments)},
              {"timings_s", std::move(timings)}};
}

// Invalid UTF-8 (a file name in another encoding) becomes U+FFFD instead of failing the dump.
void write_json(const Summary& summary, std::ostream& out) {
  out << summary_to_json(summary).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

void write_text(const Summary& summary, std::ostream& out) {
  validate_summary(summary);
  out << summary.video;
  if (summary.duration_s > 0) out << " (" << util::format_clock(summary.duration_s) << ")";
  out << "\n\n";
  if (!summary.summary.empty()) out << summary.summary << "\n\n";
  for (const SummarySegment& s : summary.segments) {
    out << '[' << util::format_clock(s.start_s) << " - " << util::format_clock(s.end_s) << "] " << s.caption << '\n';
  }
}

void write_srt(const Summary& summary, std::ostream& out) {
  validate_summary(summary);
  for (size_t i = 0; i < summary.segments.size(); ++i) {
    const SummarySegment& s = summary.segments[i];
    out << (i + 1) << '\n'
        << util::format_clock(s.start_s, ',') << " --> " << util::format_clock(s.end_s, ',') << '\n'
        << subtitle_text(s.caption) << "\n\n";
  }
}

void write_vtt(const Summary& summary, std::ostream& out) {
  validate_summary(summary);
  out << "WEBVTT\n\n";
  for (size_t i = 0; i < summary.segments.size(); ++i) {
    const SummarySegment& s = summary.segments[i];
    out << "segment-" << (i + 1) << '\n'
        << util::format_clock(s.start_s) << " --> " << util::format_clock(s.end_s) << '\n'
        << vtt_text(s.caption) << "\n\n";
  }
}

void write_chapters(const Summary& summary, std::ostream& out) {
  validate_summary(summary);
  out << ";FFMETADATA1\n";
  if (!summary.summary.empty()) out << "description=" << ffmeta_escape(summary.summary) << '\n';
  for (const SummarySegment& s : summary.segments) {
    out << "\n[CHAPTER]\nTIMEBASE=1/1000\n"
        << "START=" << to_millis(s.start_s) << '\n'
        << "END=" << to_millis(s.end_s) << '\n'
        << "title=" << ffmeta_escape(s.caption) << '\n';
  }
}

void write_html(const Summary& summary, std::ostream& out) {
  validate_summary(summary);
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      << "<meta name=\"generator\" content=\"smolvid " << html_escape(version()) << "\">\n"
      << "<title>" << html_escape(summary.video) << " - smolvid summary</title>\n"
      << "<style>\n"
         "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}\n"
         ".segment{display:flex;gap:1em;align-items:flex-start;border-top:1px solid #ddd;padding:.8em 0}\n"
         ".segment img{width:240px;height:auto;border-radius:4px;flex:none}\n"
         ".time{font-family:monospace;color:#555}\n"
         ".meta{color:#777;font-size:.85em}\n"
         "</style>\n</head>\n<body>\n";
  out << "<h1>" << html_escape(summary.video) << "</h1>\n";
  out << "<p class=\"meta\">";
  if (summary.duration_s > 0) out << "Duration " << util::format_clock(summary.duration_s) << " &middot; ";
  out << summary.segments.size() << " segments &middot; model " << html_escape(summary.model) << "</p>\n";
  if (!summary.summary.empty()) out << "<h2>Summary</h2>\n<p class=\"summary\">" << html_escape(summary.summary) << "</p>\n";
  out << "<h2>Segments</h2>\n";
  for (size_t i = 0; i < summary.segments.size(); ++i) {
    const SummarySegment& s = summary.segments[i];
    out << "<section class=\"segment\" id=\"segment-" << (i + 1) << "\">\n";
    if (!s.thumbnail_jpeg.empty()) {
      out << "<img src=\"data:image/jpeg;base64," << base64_encode(s.thumbnail_jpeg) << "\" alt=\"frame at "
          << util::format_clock(s.thumbnail_time_s) << "\">\n";
    }
    out << "<div>\n<p class=\"time\">" << util::format_clock(s.start_s) << " &ndash; " << util::format_clock(s.end_s) << "</p>\n"
        << "<p class=\"caption\">" << html_escape(s.caption) << "</p>\n</div>\n</section>\n";
  }
  out << "</body>\n</html>\n";
}

void check_output_file(const std::string& path) {
  std::error_code ec;
  if (path.empty()) throw OutputError("output file: the name is empty");
  if (std::filesystem::is_directory(path, ec)) throw OutputError(fmt::format("output file {}: is a directory, expected a file name", path));
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  if (!folder.empty() && !std::filesystem::is_directory(folder, ec)) {
    throw OutputError(fmt::format("output file {}: the folder {} does not exist", path, folder.string()));
  }
}

void write_summary(const Summary& summary, SummaryFormat format, std::ostream& out) {
  switch (format) {
    case SummaryFormat::kText: return write_text(summary, out);
    case SummaryFormat::kJson: return write_json(summary, out);
    case SummaryFormat::kSrt: return write_srt(summary, out);
    case SummaryFormat::kVtt: return write_vtt(summary, out);
    case SummaryFormat::kChapters: return write_chapters(summary, out);
    case SummaryFormat::kHtml: return write_html(summary, out);
  }
}

}  // namespace smolvid::pipeline
