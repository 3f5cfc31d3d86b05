#include "cli/sampling_options.h"

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/format.h>

#include "cli/option_checks.h"

namespace smolvid::cli {

sampler::SamplerOptions SamplingCliOptions::sampler_options() const {
  sampler::SamplerOptions so;
  so.policy = strategy;
  so.max_frames = max_frames;
  so.fps = fps;
  so.dedup = dedup;
  return so;
}

void add_strategy_option(CLI::App& cmd, std::string& strategy, const std::vector<std::string>& policies) {
  const std::string all =
      "smolvlm2 (the SmolVLM2 reference: the model's video_sampling, 1 fps and at most 64 frames for SmolVLM2), "
      "uniform, keyframes, scenes (shot cuts), motion (events for fixed cameras)";
  cmd.add_option("--strategy", strategy,
                 fmt::format("Frame sampling policy: {} (default: {})",
                             policies == sampler::policy_names() ? all : fmt::format("{}", fmt::join(policies, ", ")),
                             sampler::SamplerOptions{}.policy))
      ->check(CLI::IsMember(policies));
}

void add_max_frames_option(CLI::App& cmd, int& max_frames) {
  cmd.add_option("--max-frames", max_frames,
                 fmt::format("Frame budget, 0..{}; 0 = the policy's default: smolvlm2 the model's "
                             "video_sampling.max_frames (without a model {}), others {} (default: 0)",
                             sampler::kMaxFrames, sampler::default_max_frames("smolvlm2"),
                             sampler::default_max_frames("uniform")))
      ->check(whole_number_in(0, sampler::kMaxFrames));
}

void add_sampling_options(CLI::App& cmd, SamplingCliOptions& o) {
  add_strategy_option(cmd, o.strategy);
  add_max_frames_option(cmd, o.max_frames);
  cmd.add_option("--fps", o.fps,
                 fmt::format("Frames per second, 0..{}: smolvlm2 the target rate (0 = the model's video_sampling.fps, "
                             "without a model {}); uniform one frame every 1/F s (0 = the budget spread evenly); "
                             "others unused (default: 0)",
                             sampler::kMaxFps, sampler::Smolvlm2Options{}.target_fps))
      ->check(number_in(0, sampler::kMaxFps));
  cmd.add_flag("--dedup", o.dedup,
               "Drop near-duplicate frames (dHash) so static footage does not spend the budget (default: off)");
}

}  // namespace smolvid::cli
