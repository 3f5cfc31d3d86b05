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
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/registry.h"
#include "decode/video_reader.h"
#include "pipeline/atomic_file.h"
#include "sampler/sampler.h"

namespace smolvid::cli {
namespace {

struct FramesOptions {
  std::string file;
  std::string strategy = "smolvlm2";
  int max_frames = 0;
  double fps = 0.0;
  double skip_secs = 1.0;
  bool dedup = false;
  std::string out_dir;
  std::string contact_sheet;
  bool json = false;
  int thumb_width = 320;
};

cv::Mat to_bgr(const decode::Frame& f) {
  const cv::Mat view(f.height, f.width, f.channels == 3 ? CV_8UC3 : CV_8UC1, const_cast<uint8_t*>(f.pixels.data()));
  cv::Mat bgr;
  cv::cvtColor(view, bgr, f.channels == 3 ? cv::COLOR_RGB2BGR : cv::COLOR_GRAY2BGR);
  return bgr;
}

// Encoded in memory, then written through a temporary name and renamed (a crash leaves no half image).
void write_jpeg(const std::string& path, const cv::Mat& bgr) {
  std::vector<uint8_t> jpeg;
  if (!cv::imencode(".jpg", bgr, jpeg, {cv::IMWRITE_JPEG_QUALITY, 92}))
    throw std::runtime_error(fmt::format("cannot write image {} ({}x{}): OpenCV imencode failed", path, bgr.cols, bgr.rows));
  pipeline::write_file_atomically(path, jpeg);
}

// A grid of thumbnails, each labelled with its time since the first frame (and frame index).
cv::Mat contact_sheet(const std::vector<cv::Mat>& images, const sampler::Selection& sel, int thumb_width) {
  const int n = static_cast<int>(images.size());
  const int cols = std::max(1, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n)))));
  const int rows = (n + cols - 1) / cols;
  int thumb_height = 1;
  for (const auto& im : images)
    thumb_height = std::max(thumb_height, static_cast<int>(std::lround(static_cast<double>(im.rows) * thumb_width / im.cols)));
  const int gap = 4;
  cv::Mat sheet(rows * (thumb_height + gap) + gap, cols * (thumb_width + gap) + gap, CV_8UC3, cv::Scalar(32, 32, 32));
  for (int k = 0; k < n; ++k) {
    const int h = static_cast<int>(std::lround(static_cast<double>(images[k].rows) * thumb_width / images[k].cols));
    cv::Mat thumb;
    cv::resize(images[k], thumb, cv::Size(thumb_width, std::max(1, h)), 0, 0, cv::INTER_AREA);
    const int x = gap + (k % cols) * (thumb_width + gap);
    const int y = gap + (k / cols) * (thumb_height + gap);
    thumb.copyTo(sheet(cv::Rect(x, y, thumb.cols, thumb.rows)));
    const sampler::Pick& p = sel.picks[k];
    const std::string label = p.index >= 0 ? fmt::format("{:.2f}s #{}", p.offset_s, p.index) : fmt::format("{:.2f}s", p.offset_s);
    const double scale = thumb_width / 400.0;
    int base = 0;
    const cv::Size ts = cv::getTextSize(label, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &base);
    cv::rectangle(sheet, cv::Rect(x, y, ts.width + 8, ts.height + base + 8), cv::Scalar(0, 0, 0), cv::FILLED);
    cv::putText(sheet, label, cv::Point(x + 4, y + 4 + ts.height), cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(255, 255, 255), 1,
                cv::LINE_AA);
  }
  return sheet;
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
  j["notes"] = sel.notes;
  j["warnings"] = warnings;
  return j;
}

void run_frames(const FramesOptions& o) {
  sampler::SamplerOptions so;
  so.policy = o.strategy;
  so.max_frames = o.max_frames;
  so.fps = o.fps;
  so.skip_secs = o.skip_secs;
  so.dedup = o.dedup;
  const sampler::Selection sel = sampler::select_frames(o.file, so);

  std::vector<std::string> files;
  std::vector<std::string> warnings;
  if (!o.out_dir.empty() || !o.contact_sheet.empty()) {
    decode::VideoReader reader(o.file);  // full resolution RGB24
    const auto frames = sampler::fetch_frames(reader, sel);
    warnings = reader.warnings();
    std::vector<cv::Mat> images;
    for (const auto& f : frames) images.push_back(to_bgr(f));
    if (!o.out_dir.empty()) {
      std::filesystem::create_directories(o.out_dir);
      for (size_t i = 0; i < images.size(); ++i) {
        const std::string path =
            (std::filesystem::path(o.out_dir) / fmt::format("frame_{:03d}_{:09.3f}s.jpg", i, sel.picks[i].offset_s)).string();
        write_jpeg(path, images[i]);
        files.push_back(path);
      }
    }
    if (!o.contact_sheet.empty() && !images.empty()) write_jpeg(o.contact_sheet, contact_sheet(images, sel, o.thumb_width));
  }

  if (o.json) {
    fmt::print("{}\n", selection_json(o, sel, files, warnings).dump(2));
    return;
  }
  fmt::print("{}: {} frames by '{}'\n", o.file, sel.picks.size(), sel.policy);
  for (const auto& s : sel.segments)
    fmt::print("{} [{:.3f}, {:.3f}) s  score {:.3f}\n", s.kind, s.start_s, s.end_s, s.score);
  for (size_t i = 0; i < sel.picks.size(); ++i) {
    const auto& p = sel.picks[i];
    fmt::print("{:9.3f} s  {}  {}{}\n", p.time_s, p.label, p.reason, i < files.size() ? "  -> " + files[i] : "");
  }
  for (const auto& n : sel.notes) fmt::print("note: {}\n", n);
  for (const auto& w : warnings) fmt::print(stderr, "warning: {}\n", w);
  if (!o.contact_sheet.empty()) fmt::print("contact sheet: {}\n", o.contact_sheet);
}

const Registrar kFrames(Group::kTop, 20, [](CLI::App& parent) {
  auto o = std::make_shared<FramesOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "frames", "Choose frames with a sampling policy and print each time with the reason; optionally write them as "
                "JPEG images and a contact sheet");
  cmd->add_option("FILE", o->file, "Video file or URL (rtsp://, http://)")->required();
  cmd->add_option("--strategy", o->strategy,
                  "Sampling policy: smolvlm2 (the SmolVLM2 reference: 1 fps, at most 64), uniform, keyframes, scenes "
                  "(shot cuts), motion (events for fixed cameras) (default: smolvlm2)")
      ->check(CLI::IsMember(sampler::policy_names()));
  cmd->add_option("--max-frames", o->max_frames, "Frame budget; 0 = the policy's default (smolvlm2 64, others 16) (default: 0)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--fps", o->fps,
                  "smolvlm2: target frames per second (0 = 1); uniform: one frame every 1/F s (0 = the budget spread "
                  "evenly) (default: 0)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--skip-secs", o->skip_secs, "smolvlm2: seconds skipped at both ends of long videos (default: 1)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--dedup", o->dedup, "Drop near-duplicate frames (dHash) so static footage does not spend the budget (default: off)");
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
