// smolvid frames FILE --strategy NAME [--max-frames N] [--fps F] [--out DIR] [--json]
//                [--contact-sheet FILE.jpg] [--dedup]
// Chooses frames with a sampling policy, prints each chosen time with the reason, and (with --out
// or --contact-sheet) writes the frames as JPEG images and/or one grid image with each frame's
// timestamp drawn on it, so people can check footage by looking.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/option_checks.h"
#include "cli/registry.h"
#include "cli/sampling_options.h"
#include "decode/video_reader.h"
#include "sampler/image.h"
#include "sampler/sampler.h"

namespace smolvid::cli {
namespace {

struct FramesOptions {
  std::string file;
  SamplingCliOptions sampling;
  double skip_secs = sampler::SamplerOptions{}.skip_secs;
  std::string out_dir;
  std::string contact_sheet;
  bool json = false;
  int thumb_width = 320;
};

// The contact-sheet label of a pick: its time since the first frame (and frame index).
std::string sheet_label(const sampler::Pick& p) {
  return p.index >= 0 ? fmt::format("{:.2f}s #{}", p.offset_s, p.index) : fmt::format("{:.2f}s", p.offset_s);
}

nlohmann::json selection_json(const FramesOptions& o, const sampler::Selection& sel, const std::vector<std::string>& files,
                              const std::vector<std::string>& warnings) {
  nlohmann::json j;
  j["file"] = o.file;
  j["strategy"] = sel.policy;
  j["duration_s"] = sel.duration_s;
  nlohmann::json picks = nlohmann::json::array();
  for (size_t i = 0; i < sel.picks.size(); ++i) {
    const sampler::Pick& p = sel.picks[i];
    nlohmann::json pj{{"time_s", p.time_s},
                      {"offset_s", p.offset_s},
                      {"timestamp", p.label},
                      {"index", p.index >= 0 ? nlohmann::json(p.index) : nlohmann::json(nullptr)},
                      {"reason", p.reason}};
    if (i < files.size()) pj["image"] = files[i];
    picks.push_back(pj);
  }
  j["frames"] = picks;
  if (sel.policy == "scenes" || sel.policy == "motion") {
    nlohmann::json segs = nlohmann::json::array();
    for (const auto& s : sel.segments) segs.push_back({{"start_s", s.start_s}, {"end_s", s.end_s}, {"score", s.score}});
    j[sel.policy == "scenes" ? "shots" : "events"] = segs;
  }
  if (sel.policy == "scenes") {
    nlohmann::json bounds = nlohmann::json::array();
    for (const auto& b : sel.boundaries)
      bounds.push_back({{"kind", b.kind}, {"start_s", b.start_s}, {"end_s", b.end_s}, {"score", b.score}});
    j["boundaries"] = bounds;
  }
  j["notes"] = sel.notes;
  j["warnings"] = warnings;
  return j;
}

void run_frames(const FramesOptions& o) {
  sampler::SamplerOptions so = o.sampling.sampler_options();
  so.skip_secs = o.skip_secs;
  sampler::Selection sel = sampler::select_frames(o.file, so);

  // What the decoder met (frames lost to damage, a truncated file) is a warning on stderr (exit codes
  // in README.md), not a note among the picks.
  std::vector<std::string> files;
  std::vector<std::string> warnings;
  const std::string kDecoderNote = "decoder: ";
  for (auto it = sel.notes.begin(); it != sel.notes.end();) {
    if (it->rfind(kDecoderNote, 0) != 0) {
      ++it;
      continue;
    }
    warnings.push_back(it->substr(kDecoderNote.size()));
    it = sel.notes.erase(it);
  }
  if (!o.out_dir.empty() || !o.contact_sheet.empty()) {
    decode::VideoReader reader(o.file);  // full resolution RGB24
    const auto frames = sampler::fetch_frames(reader, sel);
    for (const std::string& w : reader.warnings()) {
      if (std::find(warnings.begin(), warnings.end(), w) == warnings.end()) warnings.push_back(w);
    }
    if (!o.out_dir.empty()) {
      std::filesystem::create_directories(o.out_dir);
      for (size_t i = 0; i < frames.size(); ++i) {
        const std::string path =
            (std::filesystem::path(o.out_dir) / fmt::format("frame_{:03d}_{:09.3f}s.jpg", i, sel.picks[i].offset_s)).string();
        sampler::write_jpeg(path, frames[i]);
        files.push_back(path);
      }
    }
    if (!o.contact_sheet.empty() && !frames.empty()) {
      std::vector<std::string> labels;
      for (size_t i = 0; i < frames.size(); ++i) labels.push_back(sheet_label(sel.picks[i]));
      sampler::write_contact_sheet(o.contact_sheet, frames, labels, o.thumb_width);
    }
  }

  for (const auto& w : warnings) fmt::print(stderr, "warning: {}\n", w);
  if (o.json) {
    fmt::print("{}\n", selection_json(o, sel, files, warnings).dump(2));
    return;
  }
  fmt::print("{}: {} frames by '{}'\n", o.file, sel.picks.size(), sel.policy);
  for (const auto& s : sel.segments)
    fmt::print("{} [{:.3f}, {:.3f}) s  score {:.3f}\n", s.kind, s.start_s, s.end_s, s.score);
  for (const auto& b : sel.boundaries) fmt::print("boundary {} [{:.3f}, {:.3f}) s  score {:.3f}\n", b.kind, b.start_s, b.end_s, b.score);
  for (size_t i = 0; i < sel.picks.size(); ++i) {
    const auto& p = sel.picks[i];
    fmt::print("{:9.3f} s  {}  {}{}\n", p.time_s, p.label, p.reason, i < files.size() ? "  -> " + files[i] : "");
  }
  for (const auto& n : sel.notes) fmt::print("note: {}\n", n);
  if (!o.contact_sheet.empty()) fmt::print("contact sheet: {}\n", o.contact_sheet);
}

const Registrar kFrames(Group::kTop, 20, [](CLI::App& parent) {
  auto o = std::make_shared<FramesOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "frames", "Choose frames with a sampling policy and print each time with the reason; optionally write them as "
                "JPEG images and a contact sheet");
  cmd->add_option("FILE", o->file, "Video file or URL (rtsp://, http://)")->required();
  add_sampling_options(*cmd, o->sampling);
  cmd->add_option("--skip-secs", o->skip_secs, "smolvlm2: seconds skipped at both ends of long videos, 0..3600 (default: 1)")
      ->check(number_in(0, 3600));
  cmd->add_option("--out", o->out_dir, "Write the chosen frames as JPEG images into this folder (default: none)");
  cmd->add_option("--contact-sheet", o->contact_sheet, "Write one grid image (JPEG) of the chosen frames with their timestamps (default: none)");
  cmd->add_option("--thumb-width", o->thumb_width, "Width of each contact-sheet thumbnail in pixels (default: 320)")
      ->check(CLI::Range(32, 4096));
  cmd->add_flag("--json", o->json,
                "Print JSON: chosen frames with reasons, and for scenes/motion the shots/events as [start_s, end_s) "
                "(default: off, human-readable)");
  cmd->callback([o] { run_frames(*o); });
});

}  // namespace
}  // namespace smolvid::cli
