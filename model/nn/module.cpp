#include "model/nn/module.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include <fmt/core.h>

#include "model/nn/kernels.h"

namespace smolvid::model::nn {

double lowest_finite(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return std::numeric_limits<float>::lowest();
    case at::kDouble: return std::numeric_limits<double>::lowest();
    case at::kBFloat16: return -3.3895313892515355e38;
    case at::kHalf: return -65504.0;
    default: throw std::invalid_argument(fmt::format("attention mask: unsupported dtype {}", at::toString(t)));
  }
}

std::vector<std::pair<std::string, at::Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out = params_;
  for (const auto& [name, m] : children_) {
    for (auto& [sub, t] : m->named_parameters()) out.emplace_back(name + "." + sub, t);
  }
  return out;
}

at::Tensor Module::param(const WeightScope& w, const std::string& name, const std::vector<int64_t>& shape) {
  at::Tensor t = w.take(name, shape);
  params_.emplace_back(name, t);
  return t;
}

Linear::Linear(const WeightScope& w, int64_t in_features, int64_t out_features, bool bias)
    : in_(in_features), out_(out_features) {
  if (w.int8_linear()) {
    int8_ = w.take_int8("weight", {out_features, in_features});
    add_param("weight", int8_.q);
    add_param("weight_scale", int8_.scale);
  } else {
    weight_ = param(w, "weight", {out_features, in_features});
  }
  if (bias) bias_ = param(w, "bias", {out_features});
}

kernels::RowWeight Linear::row_weight() const {
  return is_int8() ? kernels::row_weight(int8_) : kernels::row_weight(weight_);
}

at::Tensor project(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const int64_t in = weight.size(1), out = weight.size(0);
  const bool one_row = x.device().is_cpu() && x.numel() == in && x.dim() >= 1;
  if (!one_row || x.scalar_type() != weight.scalar_type()) return at::linear(x, weight, bias);
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = out;
  const at::ScalarType dt = x.scalar_type();
  if (kernels::available() && (dt == at::kFloat || (dt == at::kBFloat16 && !bias.defined())) &&
      weight.stride(1) == 1) {
    const at::Tensor xf = x.reshape({in}).to(at::kFloat).contiguous();
    at::Tensor y = at::empty({out}, xf.options());
    kernels::gemv(weight, xf, y);
    if (dt == at::kBFloat16) return y.to(dt).view(shape);
    if (bias.defined()) y.add_(bias);
    return y.view(shape);
  }
  if (dt == at::kFloat) {
    at::Tensor y = at::mv(weight, x.reshape({in}));
    if (bias.defined()) y.add_(bias);
    return y.view(shape);
  }
  return at::linear(x, weight, bias);
}

at::Tensor project_one_row(const at::Tensor& x, const std::vector<const Linear*>& layers) {
  if (layers.empty() || !x.device().is_cpu()) return {};
  const int64_t in = layers[0]->in_features();
  const at::ScalarType dt = x.scalar_type();
  if (x.numel() != in || x.dim() < 1 || (dt != at::kFloat && dt != at::kBFloat16)) return {};
  std::vector<kernels::RowWeight> weights;
  int64_t total = 0;
  for (const Linear* l : layers) {
    kernels::RowWeight w = l->row_weight();
    if (l->bias().defined() || !kernels::supported(w) || (w.type != dt && w.type != at::kByte) ||
        w.type != layers[0]->row_weight().type || w.cols != in) {
      return {};
    }
    weights.push_back(w);
    total += w.rows;
  }
  const at::Tensor xf = x.reshape({in}).to(at::kFloat).contiguous();
  at::Tensor y = at::empty({total}, xf.options());
  kernels::project_rows(weights, xf.data_ptr<float>(), y.data_ptr<float>());
  std::vector<int64_t> shape = x.sizes().vec();
  shape.back() = total;
  return (dt == at::kFloat ? y : y.to(dt)).view(shape);
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  if (!is_int8()) return project(x, weight_, bias_);
  if (x.device().is_cpu() && x.numel() == in_ && x.dim() >= 1) {
    at::Tensor y = project_one_row(x, {this});
    if (bias_.defined()) y = y + bias_;
    return y;
  }
  return at::linear(x, kernels::dequantize_int8(int8_, x.scalar_type()), bias_);
}

LayerNorm::LayerNorm(const WeightScope& w, int64_t dim, double eps) : eps_(eps) {
  weight_ = param(w, "weight", {dim});
  bias_ = param(w, "bias", {dim});
}

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
  return at::layer_norm(x, {x.size(-1)}, weight_, bias_, eps_);
}

RmsNorm::RmsNorm(const WeightScope& w, int64_t dim, double eps) : eps_(eps) {
  weight_ = param(w, "weight", {dim});
  const at::Tensor wf = weight_.to(at::kFloat).to(at::kCPU).contiguous();
  weight_f32_.assign(wf.data_ptr<float>(), wf.data_ptr<float>() + dim);
}

void RmsNorm::forward_row(const float* x, float* out, at::ScalarType dtype) const {
  const int64_t n = static_cast<int64_t>(weight_f32_.size());
  double sq = 0;
  for (int64_t i = 0; i < n; ++i) sq += static_cast<double>(x[i]) * x[i];
  const float var = static_cast<float>(sq / n);
  const float inv = 1.0f / std::sqrt(var + static_cast<float>(eps_));
  if (dtype == at::kBFloat16) {
    for (int64_t i = 0; i < n; ++i) out[i] = kernels::round_bf16(weight_f32_[i] * kernels::round_bf16(x[i] * inv));
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = weight_f32_[i] * (x[i] * inv);
  }
}

at::Tensor RmsNorm::forward(const at::Tensor& x) const {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor var = xf.pow(2).mean(-1, /*keepdim=*/true);
  const at::Tensor normed = xf * at::rsqrt(var + eps_);
  return weight_ * normed.to(x.scalar_type());
}

Embedding::Embedding(const WeightScope& w, int64_t num, int64_t dim) { weight_ = param(w, "weight", {num, dim}); }

at::Tensor Embedding::forward(const at::Tensor& ids) const {
  std::vector<int64_t> shape = ids.sizes().vec();
  shape.push_back(weight_.size(1));
  return weight_.index_select(0, ids.reshape({-1})).view(shape);
}

}  // namespace smolvid::model::nn
