// smolvid debug sample-indices --strategy smolvlm2 --duration S --fps F --frames N [--skip-secs 1]
// Prints the frame indices and "MM:SS" timestamps the pure policy chooses for a video described
// by its metadata alone, as JSON in the form of ../shared/golden/video/video.json's "sampling"
// entries, so the arithmetic can be checked on inputs nobody wrote a test for.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/registry.h"
#include "sampler/policy.h"

namespace smolvid::cli {
namespace {

struct SampleIndicesOptions {
  std::string strategy = "smolvlm2";
  double duration_s = 0.0;
  double fps = 0.0;
  int64_t frames = 0;
  double skip_secs = 1.0;
  int max_frames = 64;
  double target_fps = 1.0;
};

const Registrar kSampleIndices(Group::kDebug, 30, [](CLI::App& parent) {
  auto o = std::make_shared<SampleIndicesOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "sample-indices", "Print the frame indices and MM:SS timestamps a sampling policy picks from video metadata "
                        "(JSON, as in golden/video/video.json)");
  cmd->add_option("--strategy", o->strategy, "Policy: smolvlm2 (default: smolvlm2)")->check(CLI::IsMember({"smolvlm2"}));
  cmd->add_option("--duration", o->duration_s, "Video duration in seconds (required)")->required()->check(CLI::PositiveNumber);
  cmd->add_option("--fps", o->fps, "Native frame rate of the video (required)")->required()->check(CLI::PositiveNumber);
  cmd->add_option("--frames", o->frames, "Total number of frames in the video (required)")->required()->check(CLI::PositiveNumber);
  cmd->add_option("--skip-secs", o->skip_secs, "Seconds skipped at both ends when the video is long enough (default: 1)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-frames", o->max_frames, "video_sampling.max_frames (default: 64)")->check(CLI::PositiveNumber);
  cmd->add_option("--target-fps", o->target_fps, "video_sampling.fps (default: 1)")->check(CLI::PositiveNumber);
  cmd->callback([o] {
    sampler::VideoMeta meta;
    meta.duration_s = o->duration_s;
    meta.fps = o->fps;
    meta.frame_count = o->frames;
    sampler::Smolvlm2Options so;
    so.max_frames = o->max_frames;
    so.target_fps = o->target_fps;
    so.skip_secs = o->skip_secs;
    const sampler::Selection sel = sampler::sample_smolvlm2(meta, so);
    nlohmann::json indices = nlohmann::json::array();
    nlohmann::json stamps = nlohmann::json::array();
    for (const auto& p : sel.picks) {
      indices.push_back(p.index);
      stamps.push_back(p.label);
    }
    nlohmann::json j;
    j["strategy"] = o->strategy;
    j["duration_s"] = o->duration_s;
    j["native_fps"] = o->fps;
    j["total_num_frames"] = o->frames;
    j[fmt::format("skip_secs={:g}", o->skip_secs)] = {{"indices", indices}, {"timestamps", stamps}};
    j["video_duration"] = sampler::format_hmmss(o->duration_s);
    fmt::print("{}\n", j.dump(1));
  });
});

}  // namespace
}  // namespace smolvid::cli
