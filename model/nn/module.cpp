#include "model/nn/module.h"

#include <ATen/ATen.h>

namespace smolvid::model::nn {

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

Linear::Linear(const WeightScope& w, int64_t in_features, int64_t out_features, bool bias) {
  weight_ = param(w, "weight", {out_features, in_features});
  if (bias) bias_ = param(w, "bias", {out_features});
}

at::Tensor Linear::forward(const at::Tensor& x) const { return at::linear(x, weight_, bias_); }

LayerNorm::LayerNorm(const WeightScope& w, int64_t dim, double eps) : eps_(eps) {
  weight_ = param(w, "weight", {dim});
  bias_ = param(w, "bias", {dim});
}

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
  return at::layer_norm(x, {x.size(-1)}, weight_, bias_, eps_);
}

RmsNorm::RmsNorm(const WeightScope& w, int64_t dim, double eps) : eps_(eps) { weight_ = param(w, "weight", {dim}); }

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
