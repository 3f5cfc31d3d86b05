// cli/model_options.h: the options every model-running command (ask, summarize, batch, index)
// shares, declared once: which model, where it runs, and how it generates.
//
// Usage (in a cmd_*.cpp registrar):
//   auto m = std::make_shared<ModelCliOptions>();
//   add_model_options(*cmd, *m, /*default_max_new_tokens=*/256);
//   cmd->callback([m] {
//     std::unique_ptr<pipeline::Vlm> vlm = load_model(*m);       // resolves --model, loads once
//     pipeline::GenerationOptions gen = m->generation();
//   });
//
// Environment: SMOLVID_MODEL, SMOLVID_THREADS, SMOLVID_DTYPE, SMOLVID_DEVICE give the defaults of
// --model, --threads, --dtype, --device; the Hugging Face variables (HF_HOME, HF_HUB_CACHE,
// HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE) steer the download (pipeline/hub.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "pipeline/progress.h"
#include "pipeline/vlm.h"

namespace CLI {
class App;
class Validator;
}

namespace smolvid::cli {

constexpr const char* kDefaultModel = "HuggingFaceTB/SmolVLM2-256M-Video-Instruct";
// bfloat16 on CPU: the weights are stored in bfloat16, so this halves the memory and, on CPUs with
// AVX-512 BF16 (or AMX), runs the matmuls faster than float32.
constexpr const char* kDefaultDtype = "bfloat16";
// --max-new-tokens cap: SmolVLM's context holds 8,192 (256M/500M) to 16,384 (2.2B) tokens.
constexpr int kMaxNewTokens = 16384;

struct ModelCliOptions {
  std::string model = kDefaultModel;   // local directory or Hugging Face repo id ORG/NAME[@REV]
  int threads = 0;                     // intra-op threads; 0 = the cores this process may use
  std::string dtype = kDefaultDtype;   // "float32" | "bfloat16" | "int8"
  std::string device = "cpu";          // "cpu" | "cuda" | "cuda:N"
  int max_new_tokens = 0;              // 0 = the command's default
  double temperature = 0.0;            // 0 = greedy
  double top_p = 1.0;                  // (0, 1]; used when temperature > 0
  uint64_t seed = 0;

  // The generation options, with `command_default` tokens when --max-new-tokens was not given.
  pipeline::GenerationOptions generation(int command_default) const;
  // The intra-op thread count that will be used (threads, or the available cores).
  int effective_threads() const;
};

// Declares --model, --threads, --dtype, --device, --max-new-tokens, --temperature, --top-p and
// --seed on `cmd`, writing into `options` (which must outlive the parse). `max_tokens_help` states
// what --max-new-tokens defaults to for this command.
void add_model_options(CLI::App& cmd, ModelCliOptions& options, const std::string& max_tokens_help);

// Resolves --model (local directory, Hugging Face cache, or download) and loads it. When the model
// is not available and cannot be downloaded, throws one line that says how to point --model (or
// SMOLVID_MODEL) at a local copy. Progress of a download goes to stderr.
std::unique_ptr<pipeline::Vlm> load_model(const ModelCliOptions& options);

}  // namespace smolvid::cli

namespace smolvid::cli {

// Fails fast (before a model is loaded) when `input` is neither a URL (scheme://) nor an existing
// regular file: throws std::invalid_argument "<what> <input>: no such file".
// --progress auto|always|never for the long jobs (summarize, batch, index): a bar on stderr.
void add_progress_option(CLI::App& cmd, std::string& mode);
pipeline::ProgressBar::Mode progress_mode(const std::string& mode);

// CLI11 validator for durations (util::parse_duration) of at least min_s seconds, e.g. for
// --segment and --item-timeout.
CLI::Validator duration_validator(double min_s = 0.0);

void require_input(const std::string& input, const char* what = "input");

// Adds --start/--end (a part of the video, video time; see util::parse_duration) to `cmd`.
// end_s() throws CLI::ValidationError (exit 2, naming --end) unless the end is after the start.
struct TimeRangeOptions {
  std::string start, end;  // empty = the whole video
  std::optional<double> start_s() const;
  std::optional<double> end_s() const;
};
void add_time_range_options(CLI::App& cmd, TimeRangeOptions& options);

}  // namespace smolvid::cli
