// smolvid debug random-checkpoint: write a model directory with random weights in a real layout.
// smolvid debug model-files: read a model directory, check its weights against its config.
#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/format.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "cli/registry.h"
#include "model/config.h"
#include "model/nn/random_checkpoint.h"
#include "model/safetensors.h"

namespace {

using smolvid::model::DType;

struct RandomCheckpointArgs {
  std::string config;
  std::string tensors;
  std::string out;
  std::string dtype;  // "" = as in tensors.json
  uint64_t seed = 0;
  bool zeros = false;
  std::string extra_files;
  bool json = false;
};

void run_random_checkpoint(const RandomCheckpointArgs& a) {
  smolvid::model::RandomCheckpointOptions o;
  o.config_path = a.config;
  o.tensors_path = a.tensors;
  o.out_dir = a.out;
  if (a.dtype == "bf16") o.dtype = DType::kBF16;
  if (a.dtype == "f32") o.dtype = DType::kF32;
  o.seed = a.seed;
  o.zeros = a.zeros;
  o.extra_files_dir = a.extra_files;
  const auto t0 = std::chrono::steady_clock::now();
  const smolvid::model::RandomCheckpointResult r = smolvid::model::write_random_checkpoint(o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (a.json) {
    nlohmann::json j;
    j["out_dir"] = a.out;
    j["weight_files"] = r.weight_files;
    j["index_file"] = r.index_file;
    j["copied_files"] = r.copied_files;
    j["tensor_count"] = r.tensor_count;
    j["parameter_count"] = r.parameter_count;
    j["data_bytes"] = r.data_bytes;
    j["seconds"] = seconds;
    fmt::print("{}\n", j.dump(2));
    return;
  }
  fmt::print("wrote {}: {} tensors, {} parameters, {} data bytes in {} file(s){} in {:.1f} s\n", a.out, r.tensor_count,
             r.parameter_count, r.data_bytes, r.weight_files.size(), r.index_file.empty() ? "" : " + index", seconds);
  for (const std::string& f : r.copied_files) fmt::print("copied {}\n", f);
}

struct ModelFilesArgs {
  std::string dir;
  bool json = false;
};

void run_model_files(const ModelFilesArgs& a) {
  using namespace smolvid::model;
  const ModelFiles files = ModelFiles::load(a.dir);
  const ModelConfig& c = files.config;
  const SafetensorsCheckpoint ckpt(a.dir);
  // Every tensor the config implies must be present with its shape, and nothing else.
  const std::vector<ExpectedTensor> expected = expected_checkpoint_tensors(c);
  std::map<std::string, int64_t> dtype_counts;
  for (const ExpectedTensor& e : expected) {
    if (!ckpt.contains(e.name)) throw std::runtime_error(fmt::format("{}: missing tensor \"{}\"", ckpt.description(), e.name));
    const TensorView& v = ckpt.at(e.name);
    if (v.shape != e.shape) {
      throw std::runtime_error(fmt::format("{}: tensor \"{}\" has shape [{}], config implies [{}]", ckpt.file_of(e.name).path(),
                                           e.name, fmt::join(v.shape, ", "), fmt::join(e.shape, ", ")));
    }
    ++dtype_counts[dtype_name(v.dtype)];
  }
  if (ckpt.names().size() != expected.size()) {
    throw std::runtime_error(fmt::format("{}: {} tensors, but the config implies {}", ckpt.description(), ckpt.names().size(),
                                         expected.size()));
  }
  const VisionConfig& v = c.vision_config;
  const TextConfig& t = c.text_config;
  nlohmann::json j;
  j["dir"] = a.dir;
  j["model_type"] = c.model_type;
  j["vision"] = {{"hidden_size", v.hidden_size}, {"layers", v.num_hidden_layers}, {"heads", v.num_attention_heads},
                 {"intermediate_size", v.intermediate_size}, {"image_size", v.image_size}, {"patch_size", v.patch_size}};
  j["connector"] = {{"scale_factor", c.scale_factor}, {"image_seq_len", c.image_seq_len()}};
  j["text"] = {{"hidden_size", t.hidden_size}, {"layers", t.num_hidden_layers}, {"heads", t.num_attention_heads},
               {"kv_heads", t.num_key_value_heads}, {"head_dim", t.head_dim}, {"intermediate_size", t.intermediate_size},
               {"vocab_size", t.vocab_size}, {"rms_norm_eps", t.rms_norm_eps}, {"rope_theta", t.rope_theta}};
  j["image_token_id"] = c.image_token_id;
  j["eos_token_id"] = files.generation.eos_token_id;
  j["weights"] = {{"files", files.weight_files}, {"tensors", expected.size()}, {"dtypes", dtype_counts}};
  j["tokenizer_json"] = files.tokenizer_json;
  if (a.json) {
    fmt::print("{}\n", j.dump(2));
    return;
  }
  fmt::print("{} ({}): vision {}x{} layers, heads {}, {}px/{}; connector x{} -> {} tokens per tile; text {} layers, "
             "hidden {}, heads {}/{} kv, head_dim {}, vocab {}\n",
             a.dir, c.model_type, v.num_hidden_layers, v.hidden_size, v.num_attention_heads, v.image_size, v.patch_size,
             c.scale_factor, c.image_seq_len(), t.num_hidden_layers, t.hidden_size, t.num_attention_heads,
             t.num_key_value_heads, t.head_dim, t.vocab_size);
  fmt::print("weights: {} tensors in {} file(s), all match the config; dtypes {}\n", expected.size(), files.weight_files.size(),
             nlohmann::json(dtype_counts).dump());
}

const smolvid::cli::Registrar kRandomCheckpoint(smolvid::cli::Group::kDebug, 70, [](CLI::App& parent) {
  auto a = std::make_shared<RandomCheckpointArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "random-checkpoint", "Write a model directory with random weights laid out like a real checkpoint (names, shapes, dtype, shards)");
  cmd->add_option("--config", a->config, "config.json of the checkpoint (real or reconstructed); required")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--tensors", a->tensors, "tensors.json listing the checkpoint's tensors and shards; required")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", a->out, "output model directory (created; files overwritten); required")->required();
  cmd->add_option("--dtype", a->dtype, "stored dtype: bf16 or f32 (default: the dtype in tensors.json)")
      ->check(CLI::IsMember({"bf16", "f32"}));
  cmd->add_option("--seed", a->seed, "random seed (default: 0)");
  cmd->add_flag("--zeros", a->zeros, "write all-zero weights as sparse files instead (layout only; default: off)");
  cmd->add_option("--extra-files", a->extra_files,
                  "directory to copy model files (tokenizer.json, ...) from when they are not next to --config "
                  "(default: none)")
      ->check(CLI::ExistingDirectory);
  cmd->add_flag("--json", a->json, "print the result as JSON (default: text)");
  cmd->callback([a] { run_random_checkpoint(*a); });
});

const smolvid::cli::Registrar kModelFiles(smolvid::cli::Group::kDebug, 71, [](CLI::App& parent) {
  auto a = std::make_shared<ModelFilesArgs>();
  CLI::App* cmd = parent.add_subcommand("model-files", "Read a model directory and check its weights against its config");
  cmd->add_option("DIR", a->dir, "model directory (config.json + model.safetensors or an index with shards); required")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_flag("--json", a->json, "print the summary as JSON (default: text)");
  cmd->callback([a] { run_model_files(*a); });
});

}  // namespace
