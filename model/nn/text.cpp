// Llama text model (spec section 3.7): RMSNorm, half-split RoPE, grouped-query attention with a
// pre-allocated KV cache, causal + padding mask, SwiGLU MLP.
#include <ATen/ATen.h>
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>

#include "model/nn/blocks.h"
#include "model/nn/kernels.h"

namespace smolvid::model::nn {

namespace {

// concat(-x[half:], x[:half]) along the last dim.
at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)}, -1);
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  return x * cos + rotate_half(x) * sin;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Rotary::Rotary(const TextConfig& spec, at::ScalarType dtype, at::Device device)
    : head_dim_(spec.head_dim), theta_(spec.rope_theta), dtype_(dtype), device_(device) {
  // inv_freq = 1 / theta^(arange(0, Dh, 2).float() / Dh), with the reference's ops (float32 pow,
  // `1.0 / t` evaluated as t.reciprocal() * 1.0).
  const at::Tensor exponent = at::arange(0, head_dim_, 2, at::kLong).to(at::kFloat) / head_dim_;
  inv_freq_ = at::reciprocal(at::pow(at::Scalar(theta_), exponent)) * 1.0;
}

void Rotary::grow(int64_t n) {
  if (cos_.defined() && cos_.size(0) >= n) return;
  const int64_t size = std::max<int64_t>(n, cos_.defined() ? 2 * cos_.size(0) : 256);
  // angles[m, k] = float(m) * inv_freq[k] in float32: element-wise, so a table lookup gives the same
  // values as the reference's per-call (inv_freq @ position_ids) product of one term.
  const at::Tensor freqs = at::outer(at::arange(size, at::kLong).to(at::kFloat), inv_freq_);  // [n, Dh/2]
  const at::Tensor emb = at::cat({freqs, freqs}, -1);                                         // [n, Dh]
  cos_ = (emb.cos() * 1.0).to(dtype_).to(device_);
  sin_ = (emb.sin() * 1.0).to(dtype_).to(device_);
}

std::pair<at::Tensor, at::Tensor> Rotary::lookup(const at::Tensor& positions) {
  const int64_t b = positions.size(0), l = positions.size(1);
  grow(positions.max().item<int64_t>() + 1);
  const at::Tensor flat = positions.reshape({-1}).to(device_);
  return {cos_.index_select(0, flat).view({b, l, 1, head_dim_}), sin_.index_select(0, flat).view({b, l, 1, head_dim_})};
}

// ---------------------------------------------------------------------------------------------

TextAttention::TextAttention(const WeightScope& w, const TextConfig& spec)
    : heads_(spec.num_attention_heads),
      kv_heads_(spec.num_key_value_heads),
      head_dim_(spec.head_dim),
      scale_(std::pow(static_cast<double>(spec.head_dim), -0.5)) {
  const int64_t d = spec.hidden_size;
  q_proj_ = child<Linear>(w, "q_proj", d, heads_ * head_dim_, false);
  k_proj_ = child<Linear>(w, "k_proj", d, kv_heads_ * head_dim_, false);
  v_proj_ = child<Linear>(w, "v_proj", d, kv_heads_ * head_dim_, false);
  o_proj_ = child<Linear>(w, "o_proj", heads_ * head_dim_, d, false);
}

at::Tensor TextAttention::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                  at::Tensor& k_cache, at::Tensor& v_cache, const AttentionLayout& layout) const {
  const int64_t b = x.size(0), l = x.size(1);
  const int64_t groups = heads_ / kv_heads_;
  const int64_t past = layout.past, total = past + l;
  if (total > k_cache.size(2)) {
    throw std::length_error(fmt::format("KV cache: {} positions needed, capacity {}", total, k_cache.size(2)));
  }
  at::Tensor q, k, v;  // [B, L, Hq, Dh], [B, L, Hkv, Dh] x2
  const at::Tensor qkv = project_one_row(x, {q_proj_.get(), k_proj_.get(), v_proj_.get()});
  if (qkv.defined()) {
    // Decode step: one pass over the three weights, RoPE once over the adjacent q and k heads
    // (element-wise, so the same values as separately).
    const int64_t nq = heads_ * head_dim_, nk = kv_heads_ * head_dim_;
    const at::Tensor qk = apply_rope(qkv.narrow(-1, 0, nq + nk).view({b, l, heads_ + kv_heads_, head_dim_}), cos, sin);
    q = qk.narrow(2, 0, heads_);
    k = qk.narrow(2, heads_, kv_heads_);
    v = qkv.narrow(-1, nq + nk, nk).view({b, l, kv_heads_, head_dim_});
  } else {
    q = apply_rope(q_proj_->forward(x).view({b, l, heads_, head_dim_}), cos, sin);
    k = apply_rope(k_proj_->forward(x).view({b, l, kv_heads_, head_dim_}), cos, sin);
    v = v_proj_->forward(x).view({b, l, kv_heads_, head_dim_});
  }
  k_cache.narrow(2, past, l).copy_(k.transpose(1, 2));
  v_cache.narrow(2, past, l).copy_(v.transpose(1, 2));
  const at::Tensor keys = k_cache.narrow(2, 0, total);    // [B, Hkv, K, Dh]
  const at::Tensor values = v_cache.narrow(2, 0, total);  // [B, Hkv, K, Dh]

  // Single-position steps. float32: the kernels.h loops (they differ from BLAS only in summation
  // order; golden parity holds). bfloat16: the kernels.h attention (float32 sums, one rounding)
  // broke greedy agreement on 3 of the 4 tiny golden fixtures, which follow libtorch's own bfloat16
  // products, so only long contexts change, and only to the same oneDNN kernel per head
  // (bit-identical, see decode_attention_bf16).
  if (l == 1 && x.scalar_type() == at::kBFloat16 && total >= 1024 && groups * head_dim_ * total > 4096) {
    return o_proj_->forward(decode_attention_bf16(q, k_cache, v_cache, layout, total));
  }
  if (l == 1 && x.scalar_type() == at::kFloat && kernels::decode_attention_supported(q, kv_heads_, head_dim_) &&
      k_cache.is_contiguous() && v_cache.is_contiguous()) {
    at::Tensor blocked;  // [B, K] bool
    if (layout.key_valid.defined()) {
      blocked = layout.key_valid.narrow(1, 0, total).to(x.device()).to(at::kBool).logical_not();
    }
    const at::Tensor ctx = kernels::decode_attention(q.reshape({b, heads_, head_dim_}), k_cache, v_cache, total, scale_,
                                                     blocked, lowest_finite(x.scalar_type()));
    return o_proj_->forward(ctx);
  }

  // Query head h uses kv head h / groups: fold the group into the query rows of each kv head, and
  // walk the queries in chunks so the score matrix stays small for long prompts. Keys past the last
  // query of a causal chunk are masked for every row of it and are left out.
  const at::Tensor q5 = q.view({b, l, kv_heads_, groups, head_dim_}).permute({0, 2, 3, 1, 4});  // [B, Hkv, G, L, Dh]
  at::Tensor out = at::empty({b, l, kv_heads_, groups, head_dim_}, x.options());
  const int64_t chunk = layout.query_chunk > 0 ? layout.query_chunk : l;
  for (int64_t q0 = 0; q0 < l; q0 += chunk) {
    const int64_t lq = std::min(chunk, l - q0);
    const int64_t kend = layout.causal ? past + q0 + lq : total;
    const at::Tensor qc = q5.narrow(3, q0, lq).reshape({b, kv_heads_, groups * lq, head_dim_});
    at::Tensor scores = at::matmul(qc, keys.narrow(2, 0, kend).transpose(2, 3));  // [B, Hkv, G*lq, K]
    scores.mul_(scale_);
    // Blocked scores are set to the dtype's lowest value (transformers adds it; for every row with
    // an allowed key the softmax is the same, exp underflows to 0 either way): causal (key <= past +
    // query) and key padding. Without padding only the chunk's last lq keys can be causally blocked.
    const bool need_causal = layout.causal && lq > 1;
    at::Tensor s5 = scores.view({b, kv_heads_, groups, lq, kend});
    if (layout.key_valid.defined()) {
      at::Tensor blocked =
          layout.key_valid.narrow(1, 0, kend).to(x.device()).to(at::kBool).logical_not().view({b, 1, 1, 1, kend});
      if (need_causal) {
        const at::Tensor qpos = at::arange(past + q0, past + q0 + lq, x.options().dtype(at::kLong)).view({lq, 1});
        const at::Tensor kpos = at::arange(kend, x.options().dtype(at::kLong)).view({1, kend});
        blocked = blocked.logical_or(kpos.gt(qpos).view({1, 1, 1, lq, kend}));
      }
      s5.masked_fill_(blocked, lowest_finite(x.scalar_type()));
    } else if (need_causal) {
      const at::Tensor upper = at::ones({lq, lq}, x.options().dtype(at::kBool)).triu(1);
      s5.narrow(-1, past + q0, lq).masked_fill_(upper, lowest_finite(x.scalar_type()));
    }
    const at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(x.scalar_type());
    const at::Tensor ctx = at::matmul(probs, values.narrow(2, 0, kend));  // [B, Hkv, G*lq, Dh]
    out.narrow(1, q0, lq).copy_(ctx.view({b, kv_heads_, groups, lq, head_dim_}).permute({0, 3, 1, 2, 4}));
  }
  return o_proj_->forward(out.view({b, l, heads_ * head_dim_}));
}

at::Tensor TextAttention::decode_attention_bf16(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                                           const AttentionLayout& layout, int64_t total) const {
  // One query position: per (sample, kv head), the G query heads of the group are the rows of one
  // [G, Dh] x [Dh, K] product over the cache slice, which is contiguous ([K, Dh] rows of the
  // buffer) so oneDNN and BLAS read it in place (a 4-d matmul over the narrowed buffer copied it for
  // bfloat16: 2x slower at 4k context, measured). Same ops and order as the general path, and the
  // same oneDNN kernel: bit-identical results (checked against the batched product at 1k and 4k).
  // libtorch 1.13 sends a 2-d bfloat16 product of at most 16^3 multiply-adds to a naive loop that
  // rounds differently, and below ~1,024 keys oneDNN's per-call setup makes this slower than the
  // batched product, hence the caller's conditions.
  const int64_t b = q.size(0), groups = heads_ / kv_heads_;
  const at::Tensor qg = q.reshape({b, kv_heads_, groups, head_dim_});
  at::Tensor out = at::empty({b, 1, kv_heads_ * groups * head_dim_}, q.options());
  const at::Tensor out4 = out.view({b, kv_heads_, groups, head_dim_});
  at::Tensor blocked;  // [B, K] bool
  if (layout.key_valid.defined()) {
    blocked = layout.key_valid.narrow(1, 0, total).to(q.device()).to(at::kBool).logical_not();
  }
  for (int64_t bi = 0; bi < b; ++bi) {
    for (int64_t h = 0; h < kv_heads_; ++h) {
      const at::Tensor keys = k_cache.select(0, bi).select(0, h).narrow(0, 0, total);    // [K, Dh]
      const at::Tensor values = v_cache.select(0, bi).select(0, h).narrow(0, 0, total);  // [K, Dh]
      at::Tensor scores = at::mm(qg.select(0, bi).select(0, h), keys.t());                // [G, K]
      scores.mul_(scale_);
      if (blocked.defined()) scores.masked_fill_(blocked.select(0, bi).view({1, total}), lowest_finite(q.scalar_type()));
      const at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
      at::Tensor dst = out4.select(0, bi).select(0, h);  // [G, Dh]
      at::mm_out(dst, probs, values);
    }
  }
  return out;
}

namespace {

// Half-split RoPE of n heads in place, with the tensor path's roundings: x*cos and
// rotate_half(x)*sin each in the model dtype, then their sum.
void rope_rows(float* x, int64_t heads, int64_t dh, const float* cos, const float* sin, at::ScalarType dtype,
               float* tmp) {
  const int64_t half = dh / 2;
  const bool bf16 = dtype == at::kBFloat16;
  for (int64_t h = 0; h < heads; ++h) {
    float* v = x + h * dh;
    for (int64_t i = 0; i < dh; ++i) {
      const float rot = i < half ? -v[i + half] : v[i - half];
      if (bf16) {
        tmp[i] = kernels::round_bf16(kernels::round_bf16(v[i] * cos[i]) + kernels::round_bf16(rot * sin[i]));
      } else {
        const float a = v[i] * cos[i], b = rot * sin[i];
        tmp[i] = a + b;
      }
    }
    std::copy(tmp, tmp + dh, v);
  }
}

// Writes n values (already in the model dtype) to a cache row.
void store_row(const float* v, int64_t n, at::ScalarType dtype, void* dst) {
  if (dtype == at::kBFloat16) {
    auto* d = static_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) {
      uint32_t u;
      std::memcpy(&u, &v[i], sizeof u);
      d[i] = static_cast<uint16_t>(u >> 16);  // exact: v is a bfloat16 value
    }
  } else {
    std::memcpy(dst, v, n * sizeof(float));
  }
}

bool row_weight_ok(const Linear& l, at::ScalarType dtype) {
  const kernels::RowWeight w = l.row_weight();
  return !l.bias().defined() && kernels::supported(w) && (w.type == dtype || w.type == at::kByte);
}

}  // namespace

bool TextAttention::row_path_supported(at::ScalarType dtype) const {
  return row_weight_ok(*q_proj_, dtype) && row_weight_ok(*k_proj_, dtype) && row_weight_ok(*v_proj_, dtype) &&
         row_weight_ok(*o_proj_, dtype) && q_proj_->row_weight().type == k_proj_->row_weight().type &&
         q_proj_->row_weight().type == v_proj_->row_weight().type && head_dim_ % 16 == 0 && head_dim_ <= 256 &&
         heads_ % kv_heads_ == 0 && heads_ / kv_heads_ <= 8;
}

void TextAttention::forward_row(const float* x, const float* cos, const float* sin, at::Tensor& k_cache,
                                at::Tensor& v_cache, int64_t past, at::ScalarType dtype, DecodeScratch& s,
                                float* out) const {
  const int64_t nq = heads_ * head_dim_, nk = kv_heads_ * head_dim_, cap = k_cache.size(2);
  if (past + 1 > cap) throw std::length_error(fmt::format("KV cache: {} positions needed, capacity {}", past + 1, cap));
  s.qkv.resize(nq + 2 * nk);
  s.attn.resize(nq);
  s.rope.resize(head_dim_);
  float* qkv = s.qkv.data();
  kernels::project_rows({q_proj_->row_weight(), k_proj_->row_weight(), v_proj_->row_weight()}, x, qkv);
  kernels::round_to(dtype, qkv, nq + 2 * nk);
  rope_rows(qkv, heads_ + kv_heads_, head_dim_, cos, sin, dtype, s.rope.data());
  const int64_t item = dtype == at::kBFloat16 ? 2 : 4;
  auto* kbase = static_cast<uint8_t*>(k_cache.data_ptr());
  auto* vbase = static_cast<uint8_t*>(v_cache.data_ptr());
  for (int64_t h = 0; h < kv_heads_; ++h) {
    const int64_t slot = (h * cap + past) * head_dim_ * item;
    store_row(qkv + nq + h * head_dim_, head_dim_, dtype, kbase + slot);
    store_row(qkv + nq + nk + h * head_dim_, head_dim_, dtype, vbase + slot);
  }
  kernels::attend_one(qkv, kbase, vbase, dtype, heads_, kv_heads_, head_dim_, cap, past + 1,
                      static_cast<float>(scale_), s.attn.data(), s.attend);
  kernels::project_rows({o_proj_->row_weight()}, s.attn.data(), out);
  kernels::round_to(dtype, out, o_proj_->out_features());
}

TextMlp::TextMlp(const WeightScope& w, const TextConfig& spec) {
  gate_proj_ = child<Linear>(w, "gate_proj", spec.hidden_size, spec.intermediate_size, false);
  up_proj_ = child<Linear>(w, "up_proj", spec.hidden_size, spec.intermediate_size, false);
  down_proj_ = child<Linear>(w, "down_proj", spec.intermediate_size, spec.hidden_size, false);
}

at::Tensor TextMlp::forward(const at::Tensor& x) const {
  const at::Tensor gate_up = project_one_row(x, {gate_proj_.get(), up_proj_.get()});
  if (gate_up.defined()) {
    const int64_t f = gate_proj_->out_features();
    return down_proj_->forward(at::silu(gate_up.narrow(-1, 0, f)) * gate_up.narrow(-1, f, f));
  }
  return down_proj_->forward(at::silu(gate_proj_->forward(x)) * up_proj_->forward(x));
}

bool TextMlp::row_path_supported(at::ScalarType dtype) const {
  return row_weight_ok(*gate_proj_, dtype) && row_weight_ok(*up_proj_, dtype) && row_weight_ok(*down_proj_, dtype) &&
         gate_proj_->row_weight().type == up_proj_->row_weight().type;
}

void TextMlp::forward_row(const float* x, at::ScalarType dtype, DecodeScratch& s, float* out) const {
  const int64_t f = gate_proj_->out_features();
  s.gate_up.resize(2 * f);
  s.act.resize(f);
  float* gu = s.gate_up.data();
  kernels::project_rows({gate_proj_->row_weight(), up_proj_->row_weight()}, x, gu);
  kernels::round_to(dtype, gu, 2 * f);
  float* act = s.act.data();
  for (int64_t i = 0; i < f; ++i) {
    const float g = gu[i];
    const float silu = g / (1.0f + std::exp(-g));
    act[i] = dtype == at::kBFloat16 ? kernels::round_bf16(kernels::round_bf16(silu) * gu[f + i]) : silu * gu[f + i];
  }
  kernels::project_rows({down_proj_->row_weight()}, act, out);
  kernels::round_to(dtype, out, down_proj_->out_features());
}

TextDecoderLayer::TextDecoderLayer(const WeightScope& w, const TextConfig& spec) {
  input_layernorm_ = child<RmsNorm>(w, "input_layernorm", spec.hidden_size, spec.rms_norm_eps);
  self_attn_ = child<TextAttention>(w, "self_attn", spec);
  post_attention_layernorm_ = child<RmsNorm>(w, "post_attention_layernorm", spec.hidden_size, spec.rms_norm_eps);
  mlp_ = child<TextMlp>(w, "mlp", spec);
}

at::Tensor TextDecoderLayer::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                     at::Tensor& k_cache, at::Tensor& v_cache, const AttentionLayout& layout) const {
  at::Tensor h = x + self_attn_->forward(input_layernorm_->forward(x), cos, sin, k_cache, v_cache, layout);
  return h + mlp_->forward(post_attention_layernorm_->forward(h));
}

bool TextDecoderLayer::row_path_supported(at::ScalarType dtype) const {
  return self_attn_->row_path_supported(dtype) && mlp_->row_path_supported(dtype);
}

void TextDecoderLayer::forward_row(float* h, const float* cos, const float* sin, at::Tensor& k_cache,
                                   at::Tensor& v_cache, int64_t past, at::ScalarType dtype, DecodeScratch& s) const {
  const int64_t d = static_cast<int64_t>(s.hidden.size());
  s.normed.resize(d);
  s.proj.resize(d);
  const bool bf16 = dtype == at::kBFloat16;
  input_layernorm_->forward_row(h, s.normed.data(), dtype);
  self_attn_->forward_row(s.normed.data(), cos, sin, k_cache, v_cache, past, dtype, s, s.proj.data());
  for (int64_t i = 0; i < d; ++i) h[i] = bf16 ? kernels::round_bf16(h[i] + s.proj[i]) : h[i] + s.proj[i];
  post_attention_layernorm_->forward_row(h, s.normed.data(), dtype);
  mlp_->forward_row(s.normed.data(), dtype, s, s.proj.data());
  for (int64_t i = 0; i < d; ++i) h[i] = bf16 ? kernels::round_bf16(h[i] + s.proj[i]) : h[i] + s.proj[i];
}

TextModel::TextModel(const WeightScope& w, const TextConfig& spec) : spec_(spec) {
  embed_tokens_ = child<Embedding>(w, "embed_tokens", spec.vocab_size, spec.hidden_size);
  for (int64_t i = 0; i < spec.num_hidden_layers; ++i) {
    layers_.push_back(child<TextDecoderLayer>(w, fmt::format("layers.{}", i), spec));
  }
  norm_ = child<RmsNorm>(w, "norm", spec.hidden_size, spec.rms_norm_eps);
}

KvCache TextModel::make_cache(int64_t batch, int64_t capacity, at::ScalarType dtype, at::Device device) const {
  KvCache cache;
  const auto opts = at::TensorOptions().dtype(dtype).device(device);
  for (size_t i = 0; i < layers_.size(); ++i) {
    cache.keys.push_back(at::empty({batch, spec_.num_key_value_heads, capacity, spec_.head_dim}, opts));
    cache.values.push_back(at::empty({batch, spec_.num_key_value_heads, capacity, spec_.head_dim}, opts));
  }
  return cache;
}

at::Tensor TextModel::forward(const at::Tensor& embeds, const at::Tensor& positions, Rotary& rotary, KvCache& cache,
                              const AttentionLayout& layout, ActivationDump* dump) const {
  if (cache.keys.size() != layers_.size()) {
    throw std::invalid_argument(fmt::format("text model: KV cache has {} layers, model has {}", cache.keys.size(),
                                            layers_.size()));
  }
  if (row_path_applies(embeds, cache, layout, dump)) return forward_row(embeds, positions, rotary, cache, layout);
  const auto [cos, sin] = rotary.lookup(positions);
  at::Tensor h = embeds;
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (dump) (*dump)[fmt::format("text_hidden_states.{}", i)] = h;
    h = layers_[i]->forward(h, cos, sin, cache.keys[i], cache.values[i], layout);
  }
  cache.length = layout.past + embeds.size(1);
  h = norm_->forward(h);
  if (dump) (*dump)[fmt::format("text_hidden_states.{}", layers_.size())] = h;
  return h;
}

bool TextModel::row_path_applies(const at::Tensor& embeds, const KvCache& cache, const AttentionLayout& layout,
                                 ActivationDump* dump) const {
  const at::ScalarType dt = embeds.scalar_type();
  if (dump || !kernels::available() || !embeds.device().is_cpu() || embeds.size(0) != 1 || embeds.size(1) != 1 ||
      layout.key_valid.defined() || (dt != at::kFloat && dt != at::kBFloat16)) {
    return false;
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (cache.keys[i].scalar_type() != dt || cache.values[i].scalar_type() != dt || !cache.keys[i].is_contiguous() ||
        !cache.values[i].is_contiguous()) {
      return false;
    }
  }
  // The layers' weights do not change: check them once per dtype.
  std::lock_guard<std::mutex> lock(row_path_mutex_);
  auto it = row_path_ok_.find(dt);
  if (it == row_path_ok_.end()) {
    bool ok = true;
    for (const auto& l : layers_) ok = ok && l->row_path_supported(dt);
    it = row_path_ok_.emplace(dt, ok).first;
  }
  return it->second;
}

at::Tensor TextModel::forward_row(const at::Tensor& embeds, const at::Tensor& positions, Rotary& rotary,
                                  KvCache& cache, const AttentionLayout& layout) const {
  const at::ScalarType dt = embeds.scalar_type();
  const int64_t d = spec_.hidden_size, dh = spec_.head_dim;
  DecodeScratch& s = cache.scratch;
  const auto [cos_t, sin_t] = rotary.lookup(positions);  // [1, 1, 1, Dh]
  const at::Tensor cs = at::cat({cos_t.reshape({dh}), sin_t.reshape({dh})}).to(at::kFloat);
  std::vector<float> cos_sin(cs.data_ptr<float>(), cs.data_ptr<float>() + 2 * dh);
  s.hidden.resize(d);
  const at::Tensor e = embeds.reshape({d}).to(at::kFloat).contiguous();
  std::copy(e.data_ptr<float>(), e.data_ptr<float>() + d, s.hidden.data());
  for (size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->forward_row(s.hidden.data(), cos_sin.data(), cos_sin.data() + dh, cache.keys[i], cache.values[i],
                            layout.past, dt, s);
  }
  cache.length = layout.past + 1;
  at::Tensor out = at::empty({d}, at::kFloat);
  norm_->forward_row(s.hidden.data(), out.data_ptr<float>(), dt);
  return out.to(dt).view({1, 1, d});
}

// ---------------------------------------------------------------------------------------------

Idefics3Model::Idefics3Model(const WeightScope& w, const ModelConfig& spec) {
  vision_model = child<VisionTransformer>(w, "vision_model", spec.vision_config);
  connector = child<Connector>(w, "connector", spec);
  text_model = child<TextModel>(w, "text_model", spec.text_config);
}

SmolVLMNet::SmolVLMNet(const WeightScope& w, const ModelConfig& spec) {
  model = child<Idefics3Model>(w, "model", spec);
  if (!spec.tie_word_embeddings) {
    lm_head_ = child<Linear>(w, "lm_head", spec.text_config.hidden_size, spec.text_config.vocab_size, false);
  }
}

at::Tensor SmolVLMNet::logits(const at::Tensor& hidden) const {
  if (lm_head_) return lm_head_->forward(hidden);
  return project(hidden, model->text_model->embed_tokens()->weight());
}

}  // namespace smolvid::model::nn
