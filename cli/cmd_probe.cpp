// smolvid probe FILE [--json]: what a video file holds, each value with where it came from
// (header, content = measured by a demux-only pass over the packets, derived, codec, ...).
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <string>

#include "cli/registry.h"
#include "decode/video_reader.h"

namespace smolvid::cli {
namespace {

using decode::MediaInfo;
using decode::Sourced;

template <typename T>
nlohmann::ordered_json sourced_json(const Sourced<T>& s) {
  nlohmann::ordered_json j;
  j["value"] = s.known() ? nlohmann::ordered_json(s.value) : nlohmann::ordered_json(nullptr);
  j["source"] = s.source;
  return j;
}

nlohmann::ordered_json value_json(const nlohmann::ordered_json& value, const std::string& source) {
  return nlohmann::ordered_json{{"value", value}, {"source", source}};
}

nlohmann::ordered_json probe_json(const MediaInfo& m, const std::vector<std::string>& warnings) {
  nlohmann::ordered_json j;
  j["path"] = m.path;
  j["container"] = value_json(m.container, "header");
  j["video_stream_index"] = m.video_stream_index;
  j["codec"] = value_json(m.codec, "codec");
  j["profile"] = value_json(m.profile, m.profile.empty() ? "none" : "codec");
  j["pixel_format"] = value_json(m.pixel_format, "codec");
  j["coded_size"] = value_json({m.coded_width, m.coded_height}, "codec");
  j["rotation_degrees"] = value_json(m.rotation_degrees, m.rotation_degrees ? "display-matrix" : "none");
  j["sample_aspect_ratio"] = value_json(fmt::format("{}:{}", m.sar_num, m.sar_den), "header");
  j["display_size"] = value_json({m.display_width, m.display_height}, "derived");
  j["field_order"] = value_json(m.field_order, "codec");
  j["interlaced"] = m.interlaced;
  j["deinterlaced"] = m.deinterlaced;
  j["fps_header"] = sourced_json(m.fps_header);
  j["r_frame_rate"] = value_json(m.r_frame_rate, "header");
  j["avg_frame_rate"] = value_json(m.avg_frame_rate, "header");
  j["fps_measured"] = sourced_json(m.fps_measured);
  j["variable_frame_rate"] = value_json(m.variable_frame_rate, "content");
  j["duration"] = sourced_json(m.duration);
  j["duration_header"] = sourced_json(m.duration_header);
  j["duration_measured"] = sourced_json(m.duration_measured);
  j["frame_count"] = sourced_json(m.frame_count);
  j["frame_count_header"] = sourced_json(m.frame_count_header);
  j["start_time"] = sourced_json(m.start_time);
  j["creation_time"] = sourced_json(m.creation_time);
  j["timestamps_derived"] = m.timestamps_derived;
  j["live"] = m.live;
  j["keyframe_times"] = value_json(m.keyframe_times, m.timestamps_derived ? "derived" : "content");
  nlohmann::ordered_json audio = nlohmann::ordered_json::array();
  for (const auto& a : m.audio_streams) {
    audio.push_back({{"index", a.index}, {"codec", a.codec}, {"sample_rate", a.sample_rate}, {"channels", a.channels}});
  }
  j["audio_streams"] = value_json(audio, "header");
  j["warnings"] = warnings;
  return j;
}

std::string sourced_text(const Sourced<double>& s, const char* unit) {
  if (!s.known()) return "unknown";
  return fmt::format("{:.3f}{} ({})", s.value, unit, s.source);
}

std::string keyframes_text(const std::vector<double>& times) {
  std::string out = fmt::format("{}", times.size());
  if (times.empty()) return out;
  out += " at ";
  const size_t shown = std::min<size_t>(times.size(), 12);
  for (size_t i = 0; i < shown; ++i) out += fmt::format("{}{:.3f}", i ? ", " : "", times[i]);
  if (shown < times.size()) out += fmt::format(", ... ({} more)", times.size() - shown);
  return out + " s";
}

void print_text(const MediaInfo& m, const std::vector<std::string>& warnings) {
  fmt::print("file:          {}\n", m.path);
  fmt::print("container:     {}\n", m.container);
  fmt::print("video:         stream {}, {}{} {}\n", m.video_stream_index, m.codec,
             m.profile.empty() ? "" : " (" + m.profile + ")", m.pixel_format);
  fmt::print("coded size:    {}x{}\n", m.coded_width, m.coded_height);
  fmt::print("display size:  {}x{} (rotation {} deg from {}, SAR {}:{})\n", m.display_width, m.display_height,
             m.rotation_degrees, m.rotation_degrees ? "the display matrix" : "none", m.sar_num, m.sar_den);
  fmt::print("field order:   {}{}\n", m.field_order,
             m.interlaced ? (m.deinterlaced ? " (interlaced: frames are deinterlaced with yadif)"
                                            : " (interlaced: frames are NOT deinterlaced)")
                          : "");
  fmt::print("fps:           {} (r_frame_rate {:.3f}, avg_frame_rate {:.3f}); measured {}\n",
             sourced_text(m.fps_header, ""), m.r_frame_rate, m.avg_frame_rate, sourced_text(m.fps_measured, ""));
  fmt::print("frame rate:    {}\n", m.variable_frame_rate ? "variable (measured packet gaps differ)" : "constant");
  fmt::print("duration:      {}; header {}, measured {}\n", sourced_text(m.duration, " s"),
             sourced_text(m.duration_header, " s"), sourced_text(m.duration_measured, " s"));
  fmt::print("frames:        {} ({}){}\n", m.frame_count.value, m.frame_count.source,
             m.frame_count_header.known() ? fmt::format("; header declares {}", m.frame_count_header.value) : "");
  fmt::print("start time:    {}\n", sourced_text(m.start_time, " s"));
  if (m.live) fmt::print("live stream:   yes (no duration; facts from its first seconds)\n");
  if (m.creation_time.known()) fmt::print("created:       {} ({})\n", m.creation_time.value, m.creation_time.source);
  fmt::print("timestamps:    {}\n", m.timestamps_derived ? "none in the stream: derived from the frame rate"
                                                         : "from the container");
  fmt::print("keyframes:     {}\n", keyframes_text(m.keyframe_times));
  if (m.audio_streams.empty()) fmt::print("audio:         none\n");
  for (const auto& a : m.audio_streams) {
    fmt::print("audio:         stream {}, {} {} Hz {} ch\n", a.index, a.codec, a.sample_rate, a.channels);
  }
  for (const auto& w : warnings) fmt::print("warning:       {}\n", w);
}

struct ProbeOptions {
  std::string file;
  bool json = false;
};

const Registrar kProbe(Group::kTop, 10, [](CLI::App& parent) {
  auto opts = std::make_shared<ProbeOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "probe", "Print what a video file holds (container, codec, sizes, fps, duration, frames, keyframes, audio), "
               "each value with its source; demuxes only, decodes nothing");
  cmd->add_option("FILE", opts->file, "Video file or URL (rtsp://, http://)")->required();
  cmd->add_flag("--json", opts->json, "Print JSON: every field as {value, source} (default: off, human-readable)");
  cmd->callback([opts] {
    decode::VideoReader reader(opts->file);
    const MediaInfo& info = reader.probe();
    if (opts->json) {
      fmt::print("{}\n", probe_json(info, reader.warnings()).dump(2));
    } else {
      print_text(info, reader.warnings());
    }
  });
});

}  // namespace
}  // namespace smolvid::cli
