// model/nn/smolvlm.h: SmolVLM / SmolVLM2 inference in libtorch (vision tower, connector, Llama text
// model, generation), numerically following Hugging Face transformers (spec section 3).
//
//   smolvid::model::ModelOptions opts;
//   opts.dtype = "bfloat16";
//   auto vlm = smolvid::model::SmolVLM::load("/models/SmolVLM2-256M-Video-Instruct", opts);
//   // pixel_values [n, 3, 512, 512] float32, normalized (the image processor's output)
//   at::Tensor feats = vlm->encode_images(pixel_values);          // [n, 64, 576], cached by pixels
//   smolvid::model::Prompt prompt{ids, {}, {}, feats};            // ids hold n*64 <image> tokens
//   smolvid::model::GenerationOptions gen;                          // greedy, checkpoint eos ids
//   gen.max_new_tokens = 128;
//   auto result = vlm->generate(prompt, gen, [&](int64_t tok) { print(tok); return true; });
//   // result.tokens: new tokens only (the eos token included when it stopped on one)
//
// Dtypes: float32 or bfloat16 compute on CPU; CUDA when libtorch was built with it. Inputs are
// CPU or device tensors; outputs live on the model's device. Not thread-safe: one call at a time
// per SmolVLM object (it reuses its KV cache and scratch buffers between calls).
// Process-wide effects of load(): the thread settings (ModelOptions::threads) and glibc's
// mmap/trim thresholds (large temporaries are reused from the heap instead of being page-faulted
// in afresh for every attention block).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/config.h"

namespace smolvid::model {

class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ModelOptions {
  std::string dtype = "float32";      // "float32" | "bfloat16" | "int8" (also "f32", "bf16", "i8"); int8:
                                      // linear-layer weights quantized at load time (symmetric, per
                                      // output row), everything else computed in bfloat16
  std::string device = "cpu";         // "cpu" | "cuda" | "cuda:N"
  int threads = 0;                    // cores to compute on; 0 = all this process may use, -1 = leave the
                                      // thread settings alone. float32 on CPU: OpenBLAS gets them and
                                      // libtorch's own pool runs serially; bfloat16: the reverse.
  int decode_threads = 0;             // cores for single-token decode steps (the kernels' own spinning
                                      // workers, see model/nn/pool.h); 0 = as many as `threads` gives
  int64_t vision_cache_images = 512;  // frames whose features encode_images keeps (0 = no cache)
  int64_t vision_batch = 1;           // images per vision-tower forward (bounds attention memory)
  int64_t attention_chunk = 256;      // query rows per attention block in prefill (bounds memory)
};

struct GenerationOptions {
  int64_t max_new_tokens = 256;
  bool do_sample = false;              // false: greedy (argmax, first index wins ties)
  double temperature = 1.0;            // sampling only; > 0
  int64_t top_k = 0;                   // sampling only; 0 = off
  double top_p = 1.0;                  // sampling only; 1 = off
  double repetition_penalty = 1.0;     // 1 = off (applies to prompt and generated ids, as transformers)
  uint64_t seed = 0;                   // sampling RNG seed
  std::optional<std::vector<int64_t>> eos_token_ids;  // nullopt: the checkpoint's generation_config
  std::vector<std::string> stop_strings;              // needs a Detokenizer
};

// Called with each new token as soon as it is chosen; return false to stop generating.
using TokenCallback = std::function<bool(int64_t token)>;
// Turns token ids into text (the tokenizer's decode); used to match stop strings.
using Detokenizer = std::function<std::string(const std::vector<int64_t>& ids)>;

enum class StopReason { kEos, kStopString, kMaxNewTokens, kCallback };
const char* stop_reason_name(StopReason r);  // "eos", "stop_string", "max_new_tokens", "callback"

struct GenerationTimings {
  double vision_s = 0;              // encoding the prompt's images in this call
  int64_t images_encoded = 0;       // vision-tower runs in this call
  int64_t images_from_cache = 0;    // features served by the vision cache
  double prefill_s = 0;             // text model over the prompt (incl. the first token's logits)
  int64_t prompt_tokens = 0;
  std::vector<double> decode_s;     // one entry per decode step (tokens after the first)
  double total_s = 0;
  double prefill_tokens_per_s() const { return prefill_s > 0 ? prompt_tokens / prefill_s : 0; }
  double decode_tokens_per_s() const;
};

// One prompt: token ids (with image_seq_len <image> ids per image) and its images, either as pixels
// (encoded inside generate, through the cache) or as features from encode_images().
struct Prompt {
  std::vector<int64_t> input_ids;
  at::Tensor pixel_values;          // [n, 3, H, W] float32 normalized, or undefined
  at::Tensor pixel_attention_mask;  // [n, H, W] 0/1, or undefined (all pixels valid)
  at::Tensor image_features;        // [n, S, Dt] from encode_images(); takes precedence over pixels
};

struct GenerateResult {
  std::vector<int64_t> tokens;      // new tokens only
  StopReason stop_reason = StopReason::kMaxNewTokens;
  std::string stop_string;          // the matched stop string (kStopString)
  GenerationTimings timings;
};

// A batch laid out as the Hugging Face processor returns it (used by the golden runner and for
// batched decoding): left padding, padding images all zero.
struct BatchInputs {
  at::Tensor input_ids;             // [B, L] int64
  at::Tensor attention_mask;        // [B, L] 0/1, or undefined (all ones)
  at::Tensor pixel_values;          // [B, N, 3, H, W] float32, or undefined (text only)
  at::Tensor pixel_attention_mask;  // [B, N, H, W] 0/1, or undefined
};

using Activations = std::map<std::string, at::Tensor>;

struct ForwardOptions {
  bool position_ids_from_mask = false;  // cumsum(attention_mask) - 1, pads -> 1 (what generate uses)
  bool output_hidden_states = false;    // fill ForwardOutputs::activations
};

struct ForwardOutputs {
  at::Tensor logits;                // [B, L, V] (model dtype)
  at::Tensor inputs_embeds;         // [B, L, Dt]
  at::Tensor patch_attention_mask;  // [M, H/p, W/p] bool, M real images (undefined without images)
  at::Tensor vision_last_hidden_state;  // [M, T, Dv]
  at::Tensor image_hidden_states;   // [M, S, Dt]
  Activations activations;          // "vision_hidden_states.i", "text_hidden_states.i"
};

class SmolVLM {
 public:
  // Loads config.json, generation_config.json and the safetensors weights of `dir` (a single file
  // or shards). Throws ConfigError / WeightError / ModelError naming the file and tensor.
  static std::unique_ptr<SmolVLM> load(const std::string& dir, const ModelOptions& options = {});
  ~SmolVLM();
  SmolVLM(const SmolVLM&) = delete;
  SmolVLM& operator=(const SmolVLM&) = delete;

  const ModelConfig& config() const;
  const std::vector<int64_t>& eos_token_ids() const;  // generation_config.json (may be empty)
  int64_t image_token_id() const;
  int64_t image_seq_len() const;                      // <image> tokens per image (64 for 256M)
  c10::ScalarType dtype() const;
  c10::Device device() const;
  double load_seconds() const;

  // Vision tower + connector. pixel_values [n, 3, H, W] float32 (normalized);
  // pixel_attention_mask [n, H, W] or undefined. Returns [n, S, Dt] in the model dtype. Each image's
  // features are cached under a hash of its pixels (and mask) when the cache is enabled.
  at::Tensor encode_images(const at::Tensor& pixel_values, const at::Tensor& pixel_attention_mask = {});
  void clear_vision_cache();
  int64_t vision_cache_size() const;

  // Generates from one prompt.
  GenerateResult generate(const Prompt& prompt, const GenerationOptions& options, const TokenCallback& on_token = {},
                          const Detokenizer& detokenize = {});

  // Batched greedy/sampled generation over a left-padded batch. Returns [B, steps] int64 new tokens;
  // rows that finished (eos) are filled with pad_token_id afterwards. No stop strings or callback.
  at::Tensor generate_batch(const BatchInputs& inputs, const GenerationOptions& options,
                            GenerationTimings* timings = nullptr);

  // Full forward pass over a batch (all positions' logits), as the model's __call__ in transformers.
  ForwardOutputs forward(const BatchInputs& inputs, const ForwardOptions& options = {});

  // Every parameter with its checkpoint name ("model.vision_model.encoder.layers.3.self_attn.q_proj.weight").
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;

  struct Impl;

 private:
  explicit SmolVLM(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace smolvid::model
