// smolvid debug sample-indices --strategy smolvlm2 --duration S --fps F --frames N [--skip-secs 1]
// Prints the frame indices and "MM:SS" timestamps the pure policy chooses for a video described
// by its metadata alone, as JSON in the form of ../shared/golden/video/video.json's "sampling"
// entries, so the arithmetic can be checked on inputs nobody wrote a test for.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/option_checks.h"
#include "cli/registry.h"
#include "cli/sampling_options.h"
#include "sampler/policy.h"
#include "util/duration.h"
#include "util/time_format.h"

namespace smolvid::cli {
namespace {

struct SampleIndicesOptions {
  std::string strategy = "smolvlm2";  // the only policy that works from metadata alone
  double duration_s = 0.0;
  double fps = 0.0;
  int64_t frames = 0;
  double skip_secs = 1.0;
  int max_frames = 0;  // 0 = the policy's default
  double target_fps = 1.0;
};

const Registrar kSampleIndices(Group::kDebug, 30, [](CLI::App& parent) {
  auto o = std::make_shared<SampleIndicesOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "sample-indices", "Print the frame indices and MM:SS timestamps a sampling policy picks from video metadata "
                        "(JSON, as in golden/video/video.json)");
  add_strategy_option(*cmd, o->strategy, {"smolvlm2"});
  cmd->add_option("--duration", o->duration_s, "Video duration in seconds (required)")
      ->required()
      ->check(number_in(1e-3, util::kMaxDurationSeconds));
  cmd->add_option("--fps", o->fps, "Native frame rate of the video (required)")->required()->check(number_in(1e-3, 1000));
  cmd->add_option("--frames", o->frames, "Total number of frames in the video (required)")
      ->required()
      ->check(whole_number_in(1, 1000000000));
  cmd->add_option("--skip-secs", o->skip_secs, "Seconds skipped at both ends when the video is long enough (default: 1)")
      ->check(number_in(0, 3600));
  add_max_frames_option(*cmd, o->max_frames);
  cmd->add_option("--target-fps", o->target_fps, "video_sampling.fps (default: 1)")->check(number_in(1e-3, sampler::kMaxFps));
  cmd->callback([o] {
    sampler::VideoMeta meta;
    meta.duration_s = o->duration_s;
    meta.fps = o->fps;
    meta.frame_count = o->frames;
    sampler::Smolvlm2Options so;
    so.max_frames = o->max_frames > 0 ? o->max_frames : sampler::default_max_frames(o->strategy);
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
    j["video_duration"] = util::format_hmmss(o->duration_s);
    fmt::print("{}\n", j.dump(1));
  });
});

}  // namespace
}  // namespace smolvid::cli
