#include "cli/model_options.h"

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cmath>
#include <filesystem>
#include <regex>
#include <stdexcept>

#include "model/nn/threads.h"
#include "pipeline/hub.h"
#include "cli/option_checks.h"
#include "pipeline/model_smolvlm.h"
#include "util/duration.h"

namespace smolvid::cli {

pipeline::GenerationOptions ModelCliOptions::generation(int command_default) const {
  pipeline::GenerationOptions g;
  g.max_new_tokens = max_new_tokens > 0 ? max_new_tokens : command_default;
  g.temperature = temperature;
  g.top_p = top_p;
  g.seed = seed;
  return g;
}

int ModelCliOptions::effective_threads() const { return threads > 0 ? threads : model::available_cores(); }

void add_model_options(CLI::App& cmd, ModelCliOptions& o, const std::string& max_tokens_help) {
  cmd.add_option("--model", o.model,
                 fmt::format("Model: a local checkpoint directory or a Hugging Face repo id ORG/NAME[@REVISION], looked up "
                             "in the Hugging Face cache and downloaded when missing (default: {})",
                             kDefaultModel))
      ->envname("SMOLVID_MODEL");
  cmd.add_option("--threads", o.threads,
                 fmt::format("CPU threads for the model and the decoder, 0..{} (the cores this process may use); "
                             "0 = all of them (default: 0)",
                             model::available_cores()))
      ->envname("SMOLVID_THREADS")
      ->check(whole_number_in(0, model::available_cores()));
  cmd.add_option("--dtype", o.dtype,
                 fmt::format("Compute dtype: float32, bfloat16, or int8 (linear-layer weights quantized to 8 bits "
                             "at load time, the rest in bfloat16: about half bfloat16's weight memory, faster "
                             "token generation) (default: {}: half the memory of float32, faster on CPUs with "
                             "AVX-512 BF16)",
                             kDefaultDtype))
      ->envname("SMOLVID_DTYPE")
      ->check(CLI::IsMember({"float32", "bfloat16", "int8"}));
  cmd.add_option("--device", o.device, "Where the model runs: cpu, cuda or cuda:N (cuda needs a CUDA build of libtorch) (default: cpu)")
      ->envname("SMOLVID_DEVICE")
      ->check(CLI::Validator(
          [](std::string& v) {
            static const std::regex re("cpu|cuda(:[0-9]+)?");
            return std::regex_match(v, re) ? std::string() : "expected cpu, cuda or cuda:N, got '" + v + "'";
          },
          "cpu|cuda|cuda:N", "device"));
  cmd.add_option("--max-new-tokens", o.max_new_tokens,
                 fmt::format("Most tokens generated per answer, 1..{} (default: {})", kMaxNewTokens, max_tokens_help))
      ->check(whole_number_in(1, kMaxNewTokens));
  cmd.add_option("--temperature", o.temperature, "Sampling temperature, 0..100; 0 = greedy, deterministic (default: 0)")
      ->check(number_in(0.0, 100.0));
  cmd.add_option("--top-p", o.top_p, "Nucleus sampling mass in (0, 1], used when --temperature > 0 (default: 1)")
      ->check(number_in(1e-6, 1.0));
  cmd.add_option("--seed", o.seed, "Sampling seed: the same seed and inputs give the same text (default: 0)");
}

std::unique_ptr<pipeline::Vlm> load_model(const ModelCliOptions& o) {
  pipeline::ResolvedModel resolved;
  try {
    resolved = pipeline::resolve_model(o.model, pipeline::HubOptions::from_env());
  } catch (const pipeline::HubError& e) {
    if (std::filesystem::exists(o.model) || !pipeline::is_repo_id(o.model)) throw;
    throw pipeline::HubError(fmt::format(
        "{}. To run without network, copy the model directory (config.json, tokenizer files, *.safetensors) from a "
        "machine that has it and pass --model /path/to/that/directory (or set SMOLVID_MODEL)",
        e.what()));
  }
  pipeline::SmolVlmOptions so;
  so.dtype = o.dtype;
  so.device = o.device;
  so.threads = o.threads;
  so.name = resolved.repo_id.empty() ? resolved.directory : resolved.repo_id;
  return pipeline::load_smolvlm(resolved.directory, so);
}


}  // namespace smolvid::cli

namespace smolvid::cli {

void require_input(const std::string& input, const char* what) {
  if (input.find("://") != std::string::npos) return;
  std::error_code ec;
  if (!std::filesystem::exists(input, ec)) throw std::invalid_argument(fmt::format("{} {}: no such file", what, input));
  if (std::filesystem::is_directory(input, ec)) {
    throw std::invalid_argument(fmt::format("{} {}: is a directory, expected a video or image file", what, input));
  }
}

std::optional<double> TimeRangeOptions::start_s() const {
  if (start.empty()) return std::nullopt;
  return util::parse_duration(start);
}

std::optional<double> TimeRangeOptions::end_s() const {
  if (end.empty()) return std::nullopt;
  const double e = util::parse_duration(end);
  if (const auto s = start_s(); s && !(e > *s)) {
    throw CLI::ValidationError("--end", fmt::format("{} must be after --start {}", end, start));
  }
  return e;
}

CLI::Validator duration_validator(double min_s) {
  return CLI::Validator(
      [min_s](std::string& v) {
        try {
          if (util::parse_duration(v) < min_s) return fmt::format("'{}' is shorter than the minimum of {} s", v, min_s);
          return std::string();
        } catch (const util::DurationError& e) {
          return std::string(e.what());
        }
      },
      "DURATION", "duration");
}

void add_progress_option(CLI::App& cmd, std::string& mode) {
  cmd.add_option("--progress", mode, "Progress bar on stderr: auto (when it is a terminal), always, never (default: auto)")
      ->check(CLI::IsMember({"auto", "always", "never"}));
}

pipeline::ProgressBar::Mode progress_mode(const std::string& mode) {
  if (mode == "always") return pipeline::ProgressBar::Mode::kAlways;
  if (mode == "never") return pipeline::ProgressBar::Mode::kNever;
  return pipeline::ProgressBar::Mode::kAuto;
}

void add_time_range_options(CLI::App& cmd, TimeRangeOptions& o) {
  cmd.add_option("--start", o.start, "Use the video from this time on: seconds, 1m30s or [HH:]MM:SS (default: the start)")
      ->check(duration_validator());
  cmd.add_option("--end", o.end, "Use the video up to this time (same forms as --start) (default: the end)")
      ->check(duration_validator());
}

}  // namespace smolvid::cli
