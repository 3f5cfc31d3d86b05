// model/nn/blocks.h: the blocks of SmolVLM / SmolVLM2 (Idefics3 architecture), one Module per
// checkpoint block (internal to model/nn; the public API is model/nn/smolvlm.h).
//
//   model.vision_model      VisionTransformer   SigLIP: patch embedding + NaViT position ids,
//                                               pre-LN encoder layers, post_layernorm
//   model.connector         Connector           pixel shuffle (scale_factor) + linear projection
//   model.text_model        TextModel           Llama: RMSNorm, RoPE (half split), GQA, KV cache
//   lm_head                 Linear
//
// Shapes in comments: n images, T patches per image (P*P), Dv vision hidden; B batch, L query
// length, K key length, Dt text hidden, Hq/Hkv heads, Dh head dim.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/nn/module.h"

namespace smolvid::model::nn {

using model::ModelConfig;
using model::TextConfig;
using model::VisionConfig;

// Named intermediate activations (e.g. "vision_hidden_states.0"), filled when non-null.
using ActivationDump = std::map<std::string, at::Tensor>;

// ---------------------------------------------------------------------------------------------
// Vision tower

class VisionEmbeddings : public Module {
 public:
  VisionEmbeddings(const WeightScope& w, const VisionConfig& spec);
  // pixels [n, C, H, W] (model dtype), patch_mask [n, H/p, W/p] bool -> [n, T, Dv]
  at::Tensor forward(const at::Tensor& pixels, const at::Tensor& patch_mask) const;

 private:
  at::Tensor position_ids(const at::Tensor& patch_mask) const;  // [n, T] int64
  VisionConfig spec_;
  at::Tensor patch_weight_, patch_bias_;  // [Dv, C, p, p], [Dv]
  at::Tensor patch_weight_2d_;            // [Dv, C*p*p] view of patch_weight_
  std::shared_ptr<Embedding> position_embedding_;
};

class VisionAttention : public Module {
 public:
  VisionAttention(const WeightScope& w, const VisionConfig& spec);
  // x [n, T, Dv]; key_bias [n, 1, 1, T] additive (0 or lowest) or undefined -> [n, T, Dv]
  at::Tensor forward(const at::Tensor& x, const at::Tensor& key_bias) const;

 private:
  int64_t heads_, head_dim_;
  double scale_;
  std::shared_ptr<Linear> q_proj_, k_proj_, v_proj_, out_proj_;
};

class VisionMlp : public Module {
 public:
  VisionMlp(const WeightScope& w, const VisionConfig& spec);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  std::shared_ptr<Linear> fc1_, fc2_;
};

class VisionEncoderLayer : public Module {
 public:
  VisionEncoderLayer(const WeightScope& w, const VisionConfig& spec);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& key_bias) const;

 private:
  std::shared_ptr<LayerNorm> layer_norm1_, layer_norm2_;
  std::shared_ptr<VisionAttention> self_attn_;
  std::shared_ptr<VisionMlp> mlp_;
};

class VisionEncoder : public Module {
 public:
  VisionEncoder(const WeightScope& w, const VisionConfig& spec);
  const std::vector<std::shared_ptr<VisionEncoderLayer>>& layers() const { return layers_; }

 private:
  std::vector<std::shared_ptr<VisionEncoderLayer>> layers_;
};

class VisionTransformer : public Module {
 public:
  VisionTransformer(const WeightScope& w, const VisionConfig& spec);
  // pixels [n, C, H, W] (model dtype), patch_mask [n, H/p, W/p] bool -> [n, T, Dv] after post_layernorm.
  // dump: "vision_hidden_states.{0..layers}" (embeddings, then each layer's output).
  at::Tensor forward(const at::Tensor& pixels, const at::Tensor& patch_mask, ActivationDump* dump) const;

 private:
  VisionConfig spec_;
  std::shared_ptr<VisionEmbeddings> embeddings_;
  std::shared_ptr<VisionEncoder> encoder_;
  std::shared_ptr<LayerNorm> post_layernorm_;
};

// Patch mask of each image: a patch is valid iff any pixel of its p x p block is 1.
// pixel_mask [n, H, W] (any integer/bool dtype) -> [n, H/p, W/p] bool.
at::Tensor patch_attention_mask(const at::Tensor& pixel_mask, int64_t patch_size);

// ---------------------------------------------------------------------------------------------
// Connector

// Pixel shuffle: [n, P*P, D] -> [n, (P/r)^2, r*r*D], the exact view/permute sequence of the
// reference (row offset major, column offset minor, channels innermost).
at::Tensor pixel_shuffle(const at::Tensor& x, int64_t scale_factor);

class Connector : public Module {
 public:
  Connector(const WeightScope& w, const ModelConfig& spec);
  at::Tensor forward(const at::Tensor& vision_out) const;  // [n, T, Dv] -> [n, S, Dt]

 private:
  int64_t scale_factor_;
  std::shared_ptr<Linear> proj_;  // "modality_projection.proj", no bias
};

// ---------------------------------------------------------------------------------------------
// Text model

// Buffers of the single-token decode step (TextModel::forward with B = 1, L = 1), reused across
// steps so a token allocates nothing: float32 rows holding model-dtype values.
struct DecodeScratch {
  std::vector<float> hidden, normed, qkv, attn, proj, gate_up, act, rope;
  kernels::AttendScratch attend;
};

// Pre-allocated per-layer key/value buffers [B, Hkv, capacity, Dh]; `length` positions are filled.
struct KvCache {
  std::vector<at::Tensor> keys, values;
  int64_t length = 0;
  DecodeScratch scratch;
  int64_t capacity() const { return keys.empty() ? 0 : keys[0].size(2); }
  int64_t batch() const { return keys.empty() ? 0 : keys[0].size(0); }
};

// How the queries of one forward call may attend.
struct AttentionLayout {
  int64_t past = 0;          // cache positions already filled before this call
  at::Tensor key_valid;      // [B, past + L] bool (attention mask) or undefined = all valid
  bool causal = true;
  int64_t query_chunk = 0;   // query rows per score block (0 = all at once)
};

// cos/sin tables of rotary position embedding, computed in float32 then cast to the model dtype.
class Rotary {
 public:
  Rotary(const TextConfig& spec, at::ScalarType dtype, at::Device device);
  // positions [B, L] int64 -> cos, sin [B, L, 1, Dh] (model dtype)
  std::pair<at::Tensor, at::Tensor> lookup(const at::Tensor& positions);

 private:
  void grow(int64_t n);
  int64_t head_dim_;
  double theta_;
  at::ScalarType dtype_;
  at::Device device_;
  at::Tensor inv_freq_;  // [Dh/2] float32
  at::Tensor cos_, sin_;  // [n, Dh] model dtype
};

class TextAttention : public Module {
 public:
  TextAttention(const WeightScope& w, const TextConfig& spec);
  // x [B, L, Dt]; cos/sin [B, L, 1, Dh]; writes k/v into cache slot [past, past + L).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, at::Tensor& k_cache,
                     at::Tensor& v_cache, const AttentionLayout& layout) const;
  // One position of one sequence on float32 rows (see TextModel::forward): x [Dt] normed input,
  // cos/sin [Dh]; writes k/v into cache slot `past` of sample 0; out [Dt] = o_proj output.
  void forward_row(const float* x, const float* cos, const float* sin, at::Tensor& k_cache, at::Tensor& v_cache,
                   int64_t past, at::ScalarType dtype, DecodeScratch& s, float* out) const;
  bool row_path_supported(at::ScalarType dtype) const;

 private:
  // Single-position bfloat16 attention over the filled cache, per (sample, kv head) 2-d products:
  // q [B, 1, Hq, Dh] -> [B, 1, Hq*Dh].
  at::Tensor decode_attention_bf16(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                                   const AttentionLayout& layout, int64_t total) const;
  int64_t heads_, kv_heads_, head_dim_;
  double scale_;
  std::shared_ptr<Linear> q_proj_, k_proj_, v_proj_, o_proj_;
};

class TextMlp : public Module {
 public:
  TextMlp(const WeightScope& w, const TextConfig& spec);
  at::Tensor forward(const at::Tensor& x) const;
  void forward_row(const float* x, at::ScalarType dtype, DecodeScratch& s, float* out) const;  // [Dt] -> [Dt]
  bool row_path_supported(at::ScalarType dtype) const;

 private:
  std::shared_ptr<Linear> gate_proj_, up_proj_, down_proj_;
};

class TextDecoderLayer : public Module {
 public:
  TextDecoderLayer(const WeightScope& w, const TextConfig& spec);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, at::Tensor& k_cache,
                     at::Tensor& v_cache, const AttentionLayout& layout) const;
  // h [Dt] updated in place (the residual stream of one position).
  void forward_row(float* h, const float* cos, const float* sin, at::Tensor& k_cache, at::Tensor& v_cache,
                   int64_t past, at::ScalarType dtype, DecodeScratch& s) const;
  bool row_path_supported(at::ScalarType dtype) const;

 private:
  std::shared_ptr<RmsNorm> input_layernorm_, post_attention_layernorm_;
  std::shared_ptr<TextAttention> self_attn_;
  std::shared_ptr<TextMlp> mlp_;
};

class TextModel : public Module {
 public:
  TextModel(const WeightScope& w, const TextConfig& spec);
  const std::shared_ptr<Embedding>& embed_tokens() const { return embed_tokens_; }
  // embeds [B, L, Dt]; positions [B, L] int64; appends to cache (cache.length += L).
  // Returns the final-norm hidden states [B, L, Dt]. dump: "text_hidden_states.{0..layers}".
  at::Tensor forward(const at::Tensor& embeds, const at::Tensor& positions, Rotary& rotary, KvCache& cache,
                     const AttentionLayout& layout, ActivationDump* dump) const;
  KvCache make_cache(int64_t batch, int64_t capacity, at::ScalarType dtype, at::Device device) const;

 private:
  // A decode step of one sequence (B = 1, L = 1, no padding, CPU, no dump) runs on float32 rows
  // with the kernels.h loops and the same rounding steps as the tensor path: libtorch's per-op
  // overhead (~100 small ops per layer) cost more than the weights' reading at this size.
  bool row_path_applies(const at::Tensor& embeds, const KvCache& cache, const AttentionLayout& layout,
                        ActivationDump* dump) const;
  at::Tensor forward_row(const at::Tensor& embeds, const at::Tensor& positions, Rotary& rotary, KvCache& cache,
                         const AttentionLayout& layout) const;
  mutable std::mutex row_path_mutex_;
  mutable std::map<at::ScalarType, bool> row_path_ok_;
  TextConfig spec_;
  std::shared_ptr<Embedding> embed_tokens_;
  std::vector<std::shared_ptr<TextDecoderLayer>> layers_;
  std::shared_ptr<RmsNorm> norm_;
};

// ---------------------------------------------------------------------------------------------
// The whole checkpoint: "model.{vision_model,connector,text_model}" and "lm_head".

class Idefics3Model : public Module {
 public:
  Idefics3Model(const WeightScope& w, const ModelConfig& spec);
  std::shared_ptr<VisionTransformer> vision_model;
  std::shared_ptr<Connector> connector;
  std::shared_ptr<TextModel> text_model;
};

class SmolVLMNet : public Module {
 public:
  SmolVLMNet(const WeightScope& w, const ModelConfig& spec);
  at::Tensor logits(const at::Tensor& hidden) const;  // [B, L, Dt] -> [B, L, V]
  std::shared_ptr<Idefics3Model> model;

 private:
  std::shared_ptr<Linear> lm_head_;  // "lm_head" [V, Dt]; null when tied to embed_tokens
};

}  // namespace smolvid::model::nn
