// SigLIP vision tower and the pixel-shuffle connector (spec sections 3.2-3.5).
#include <ATen/ATen.h>
#include <fmt/core.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "model/nn/blocks.h"

namespace smolvid::model::nn {

at::Tensor patch_attention_mask(const at::Tensor& pixel_mask, int64_t patch_size) {
  // [n, H, W] -> [n, H/p, p, W/p, p] blocks starting at the top-left; trailing rows/cols dropped.
  const int64_t n = pixel_mask.size(0);
  const int64_t ph = pixel_mask.size(1) / patch_size, pw = pixel_mask.size(2) / patch_size;
  const at::Tensor m = pixel_mask.narrow(1, 0, ph * patch_size).narrow(2, 0, pw * patch_size).to(at::kLong);
  return m.reshape({n, ph, patch_size, pw, patch_size}).sum({2, 4}) > 0;
}

// ---------------------------------------------------------------------------------------------

VisionEmbeddings::VisionEmbeddings(const WeightScope& w, const VisionConfig& spec) : spec_(spec) {
  const int64_t d = spec.hidden_size, c = spec.num_channels, p = spec.patch_size;
  patch_weight_ = param(w, "patch_embedding.weight", {d, c, p, p});
  patch_bias_ = param(w, "patch_embedding.bias", {d});
  patch_weight_2d_ = patch_weight_.reshape({d, c * p * p});
  const int64_t side = spec.patches_per_side();
  position_embedding_ = child<Embedding>(w, "position_embedding", side * side, d);
}

at::Tensor VisionEmbeddings::position_ids(const at::Tensor& patch_mask) const {
  // The NaViT bucketize scheme, with the same libtorch ops and dtypes as the reference (CPU,
  // float32 aranges, Python-double scalars), so partial grids get bit-identical ids.
  const at::Tensor mask = patch_mask.to(at::kCPU);
  const int64_t n = mask.size(0), rows = mask.size(1), cols = mask.size(2);
  const int64_t side = spec_.patches_per_side();
  const at::Tensor boundaries = at::arange(at::Scalar(1.0 / side), at::Scalar(1.0), at::Scalar(1.0 / side), at::kFloat);
  at::Tensor ids = at::zeros({n, rows * cols}, at::kLong);
  for (int64_t i = 0; i < n; ++i) {
    const at::Tensor m = mask[i];
    const at::Tensor nh = m.select(1, 0).sum();  // int64 scalar tensor: valid patch rows
    const at::Tensor nw = m.select(0, 0).sum();
    if (nh.item<int64_t>() == 0 || nw.item<int64_t>() == 0) {
      throw std::invalid_argument(fmt::format(
          "vision embeddings: image {} has no valid patch in its first row/column (pixel_attention_mask must "
          "mark a top-left region); got {} valid rows, {} valid columns",
          i, nh.item<int64_t>(), nw.item<int64_t>()));
    }
    // Python: torch.arange(0, 1 - 1e-6, 1 / nb_patches) with 1 / tensor == tensor.reciprocal() * 1.
    const double step_h = (at::reciprocal(nh) * 1).item<double>();
    const double step_w = (at::reciprocal(nw) * 1).item<double>();
    const at::Tensor coords_h = at::arange(at::Scalar(int64_t{0}), at::Scalar(1 - 1e-6), at::Scalar(step_h), at::kFloat);
    const at::Tensor coords_w = at::arange(at::Scalar(int64_t{0}), at::Scalar(1 - 1e-6), at::Scalar(step_w), at::kFloat);
    const at::Tensor bucket_h = at::bucketize(coords_h, boundaries, /*out_int32=*/false, /*right=*/true);
    const at::Tensor bucket_w = at::bucketize(coords_w, boundaries, /*out_int32=*/false, /*right=*/true);
    const at::Tensor pos = (bucket_h.unsqueeze(1) * side + bucket_w).flatten();
    const at::Tensor flat_mask = m.reshape({-1});
    const int64_t valid = flat_mask.sum().item<int64_t>();
    if (valid != pos.numel()) {
      throw std::invalid_argument(fmt::format(
          "vision embeddings: image {} patch mask is not a top-left rectangle: {} valid patches, expected {} x {} = {}",
          i, valid, nh.item<int64_t>(), nw.item<int64_t>(), pos.numel()));
    }
    ids[i].index_put_({flat_mask}, pos);
  }
  return ids;
}

at::Tensor VisionEmbeddings::forward(const at::Tensor& pixels, const at::Tensor& patch_mask) const {
  const int64_t n = pixels.size(0), c = pixels.size(1), p = spec_.patch_size;
  if (c != spec_.num_channels) {
    throw std::invalid_argument(fmt::format("vision embeddings: pixel_values has {} channels, expected {}", c,
                                            spec_.num_channels));
  }
  const int64_t ph = pixels.size(2) / p, pw = pixels.size(3) / p;
  // Conv2d with kernel = stride = p as one matmul over patches: [n, C, ph, p, pw, p] ->
  // [n, ph*pw, C*p*p] (row-major patch order, the conv's flatten(2).transpose(1, 2)).
  const at::Tensor patches = pixels.narrow(2, 0, ph * p)
                                 .narrow(3, 0, pw * p)
                                 .reshape({n, c, ph, p, pw, p})
                                 .permute({0, 2, 4, 1, 3, 5})
                                 .reshape({n, ph * pw, c * p * p});
  at::Tensor embeds = at::linear(patches, patch_weight_2d_, patch_bias_);  // [n, T, Dv]
  const at::Tensor ids = position_ids(patch_mask).to(pixels.device());
  embeds.add_(position_embedding_->forward(ids));
  return embeds;
}

// ---------------------------------------------------------------------------------------------

VisionAttention::VisionAttention(const WeightScope& w, const VisionConfig& spec)
    : heads_(spec.num_attention_heads), head_dim_(spec.head_dim()), scale_(std::pow(spec.head_dim(), -0.5)) {
  const int64_t d = spec.hidden_size;
  q_proj_ = child<Linear>(w, "q_proj", d, d, true);
  k_proj_ = child<Linear>(w, "k_proj", d, d, true);
  v_proj_ = child<Linear>(w, "v_proj", d, d, true);
  out_proj_ = child<Linear>(w, "out_proj", d, d, true);
}

at::Tensor VisionAttention::forward(const at::Tensor& x, const at::Tensor& key_bias) const {
  const int64_t n = x.size(0), t = x.size(1), d = x.size(2);
  const at::Tensor q = q_proj_->forward(x).view({n, t, heads_, head_dim_}).transpose(1, 2);  // [n, H, T, Dh]
  const at::Tensor k = k_proj_->forward(x).view({n, t, heads_, head_dim_}).transpose(1, 2);
  const at::Tensor v = v_proj_->forward(x).view({n, t, heads_, head_dim_}).transpose(1, 2);
  at::Tensor scores = at::matmul(q, k.transpose(2, 3));  // [n, H, T, T]
  scores.mul_(scale_);
  if (key_bias.defined()) scores.add_(key_bias);
  const at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(x.scalar_type());
  const at::Tensor out = at::matmul(probs, v).transpose(1, 2).reshape({n, t, d});  // [n, T, Dv]
  return out_proj_->forward(out);
}

VisionMlp::VisionMlp(const WeightScope& w, const VisionConfig& spec) {
  fc1_ = child<Linear>(w, "fc1", spec.hidden_size, spec.intermediate_size, true);
  fc2_ = child<Linear>(w, "fc2", spec.intermediate_size, spec.hidden_size, true);
}

at::Tensor VisionMlp::forward(const at::Tensor& x) const {
  return fc2_->forward(at::gelu(fc1_->forward(x), "tanh"));
}

VisionEncoderLayer::VisionEncoderLayer(const WeightScope& w, const VisionConfig& spec) {
  layer_norm1_ = child<LayerNorm>(w, "layer_norm1", spec.hidden_size, spec.layer_norm_eps);
  self_attn_ = child<VisionAttention>(w, "self_attn", spec);
  layer_norm2_ = child<LayerNorm>(w, "layer_norm2", spec.hidden_size, spec.layer_norm_eps);
  mlp_ = child<VisionMlp>(w, "mlp", spec);
}

at::Tensor VisionEncoderLayer::forward(const at::Tensor& x, const at::Tensor& key_bias) const {
  at::Tensor h = x + self_attn_->forward(layer_norm1_->forward(x), key_bias);
  return h + mlp_->forward(layer_norm2_->forward(h));
}

VisionEncoder::VisionEncoder(const WeightScope& w, const VisionConfig& spec) {
  for (int64_t i = 0; i < spec.num_hidden_layers; ++i) {
    layers_.push_back(child<VisionEncoderLayer>(w, fmt::format("layers.{}", i), spec));
  }
}

VisionTransformer::VisionTransformer(const WeightScope& w, const VisionConfig& spec) : spec_(spec) {
  embeddings_ = child<VisionEmbeddings>(w, "embeddings", spec);
  encoder_ = child<VisionEncoder>(w, "encoder", spec);
  post_layernorm_ = child<LayerNorm>(w, "post_layernorm", spec.hidden_size, spec.layer_norm_eps);
}

at::Tensor VisionTransformer::forward(const at::Tensor& pixels, const at::Tensor& patch_mask,
                                      ActivationDump* dump) const {
  at::Tensor h = embeddings_->forward(pixels, patch_mask);  // [n, T, Dv]
  if (dump) (*dump)["vision_hidden_states.0"] = h;
  // Key mask only when some patch is invalid (the reference passes None otherwise): 0 where the
  // key patch is valid, the dtype's lowest value where it is not; queries are not masked.
  at::Tensor key_bias;
  const at::Tensor flat = patch_mask.reshape({patch_mask.size(0), -1}).to(pixels.device());
  if (!flat.all().item<bool>()) {
    key_bias = at::zeros({flat.size(0), 1, 1, flat.size(1)}, h.options());
    key_bias.masked_fill_(flat.logical_not().view({flat.size(0), 1, 1, flat.size(1)}), lowest_finite(h.scalar_type()));
  }
  const auto& layers = encoder_->layers();
  for (size_t i = 0; i < layers.size(); ++i) {
    h = layers[i]->forward(h, key_bias);
    if (dump) (*dump)[fmt::format("vision_hidden_states.{}", i + 1)] = h;
  }
  return post_layernorm_->forward(h);
}

// ---------------------------------------------------------------------------------------------

at::Tensor pixel_shuffle(const at::Tensor& x, int64_t r) {
  const int64_t n = x.size(0), seq = x.size(1), d = x.size(2);
  const auto side = static_cast<int64_t>(std::sqrt(static_cast<double>(seq)));
  if (side * side != seq || side % r != 0) {
    throw std::invalid_argument(fmt::format(
        "pixel shuffle: {} patches per image is not a square grid divisible by scale_factor {}", seq, r));
  }
  return x.view({n, side, side, d})
      .view({n, side, side / r, d * r})
      .permute({0, 2, 1, 3})
      .reshape({n, side / r, side / r, d * r * r})
      .permute({0, 2, 1, 3})
      .reshape({n, seq / (r * r), d * r * r});
}

Connector::Connector(const WeightScope& w, const ModelConfig& spec) : scale_factor_(spec.scale_factor) {
  const int64_t in = spec.vision_config.hidden_size * spec.scale_factor * spec.scale_factor;
  proj_ = child<Linear>(w, "modality_projection.proj", in, spec.text_config.hidden_size, false);
}

at::Tensor Connector::forward(const at::Tensor& vision_out) const {
  return proj_->forward(nn::pixel_shuffle(vision_out, scale_factor_));
}

}  // namespace smolvid::model::nn
