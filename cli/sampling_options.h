// cli/sampling_options.h: the frame-sampling options that frames, ask and batch share, declared
// once (flag, help with default, range check): --strategy, --max-frames, --fps, --dedup.
//
// Usage (in a cmd_*.cpp registrar):
//   auto o = std::make_shared<SamplingCliOptions>();
//   add_sampling_options(*cmd, *o);
//   cmd->callback([o] { sampler::SamplerOptions so = o->sampler_options(); ... });
//
// Defaults: the policy is sampler::SamplerOptions{}.policy (smolvlm2); 0 frames / 0 fps mean the
// policy's own default. For smolvlm2 that is the model checkpoint's video_sampling (fps,
// max_frames in its preprocessor config) when a command runs a model (pipeline::ask applies it),
// else the reference values (1 fps, 64 frames). Ranges: --max-frames 0..sampler::kMaxFrames,
// --fps 0..sampler::kMaxFps.
#pragma once

#include <string>
#include <vector>

#include "sampler/sampler.h"

namespace CLI {
class App;
}

namespace smolvid::cli {

struct SamplingCliOptions {
  std::string strategy = sampler::SamplerOptions{}.policy;
  int max_frames = 0;  // 0 = the policy's default
  double fps = 0.0;    // 0 = the policy's default
  bool dedup = false;

  // The sampler's options with these values; the others keep their defaults.
  sampler::SamplerOptions sampler_options() const;
};

// Declares --strategy, --max-frames, --fps and --dedup on `cmd`, writing into `options` (which
// must outlive the parse).
void add_sampling_options(CLI::App& cmd, SamplingCliOptions& options);

// The single declarations of --strategy (restricted to `policies`) and --max-frames, for
// commands that take only these (debug sample-indices).
void add_strategy_option(CLI::App& cmd, std::string& strategy, const std::vector<std::string>& policies = sampler::policy_names());
void add_max_frames_option(CLI::App& cmd, int& max_frames);

}  // namespace smolvid::cli
