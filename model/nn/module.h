// model/nn/module.h: the small module tree the network is built from (internal to model/nn).
//
// Every block is a Module registered under its checkpoint name, so the tree of names equals the
// checkpoint key tree: the Linear registered as "q_proj" inside the attention registered as
// "self_attn" inside "model.vision_model.encoder.layers.3" owns the tensor
// "model.vision_model.encoder.layers.3.self_attn.q_proj.weight".
//
//   struct Mlp : Module {
//     Mlp(const WeightScope& w, int64_t d, int64_t f)
//         : fc1(child<Linear>(w, "fc1", d, f, true)), fc2(child<Linear>(w, "fc2", f, d, true)) {}
//     std::shared_ptr<Linear> fc1, fc2;
//   };
//
// Tensors are fetched through a WeightScope, which prefixes names and asks the loader for the
// tensor with its expected shape (the loader throws on a missing name or a wrong shape).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/nn/kernels.h"

namespace smolvid::model::nn {

// The most negative finite value of a floating dtype (torch.finfo(dtype).min): what additive
// attention masks put on blocked positions.
double lowest_finite(at::ScalarType t);

// Returns the checkpoint tensor `name` (full key) in the compute dtype and device; throws when it
// is missing or its shape differs from `shape`.
using TakeWeight = std::function<at::Tensor(const std::string& name, const std::vector<int64_t>& shape)>;

// Returns the checkpoint matrix `name` quantized to int8 (see kernels::Int8Weight).
using TakeInt8 = std::function<kernels::Int8Weight(const std::string& name, const std::vector<int64_t>& shape)>;

// `take_int8`, when set, turns on the int8 mode: Linear layers take their weight through it and
// keep only the int8 quantization.
class WeightScope {
 public:
  WeightScope(TakeWeight take, std::string prefix, TakeInt8 take_int8 = {})
      : take_(std::move(take)), take_int8_(std::move(take_int8)), prefix_(std::move(prefix)) {}
  WeightScope sub(const std::string& name) const { return WeightScope(take_, join(name), take_int8_); }
  at::Tensor take(const std::string& name, const std::vector<int64_t>& shape) const { return take_(join(name), shape); }
  bool int8_linear() const { return static_cast<bool>(take_int8_); }
  kernels::Int8Weight take_int8(const std::string& name, const std::vector<int64_t>& shape) const {
    return take_int8_(join(name), shape);
  }
  const std::string& prefix() const { return prefix_; }

 private:
  std::string join(const std::string& name) const { return prefix_.empty() ? name : prefix_ + "." + name; }
  TakeWeight take_;
  TakeInt8 take_int8_;
  std::string prefix_;
};

class Module {
 public:
  virtual ~Module() = default;

  // Every tensor below this module with its name relative to it, in registration order.
  std::vector<std::pair<std::string, at::Tensor>> named_parameters() const;

 protected:
  at::Tensor param(const WeightScope& w, const std::string& name, const std::vector<int64_t>& shape);
  void add_param(const std::string& name, const at::Tensor& t) { params_.emplace_back(name, t); }

  template <class M, class... Args>
  std::shared_ptr<M> child(const WeightScope& w, const std::string& name, Args&&... args) {
    auto m = std::make_shared<M>(w.sub(name), std::forward<Args>(args)...);
    children_.emplace_back(name, m);
    return m;
  }

 private:
  std::vector<std::pair<std::string, at::Tensor>> params_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// y = x W^T (+ b) for x [..., in], W [out, in], b [out]. A single row (a decode step) goes through
// the matrix-vector loops of kernels.h (or BLAS gemv for float32 without them), which read W 2-3x
// faster than libtorch's one-row matmul here; results differ only in summation order.
at::Tensor project(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {});

class Linear;

// The one-row products x W_i^T of several bias-free Linear layers (same input size) through the
// kernels.h loops, concatenated: [..., sum N_i], each part exactly Linear::forward(x). Undefined
// when x is not a single row or the loops do not apply (the caller then uses Linear::forward).
at::Tensor project_one_row(const at::Tensor& x, const std::vector<const Linear*>& layers);

// y = x W^T (+ b). In the int8 mode (WeightScope::int8_linear) W is kept only as its symmetric
// per-row int8 quantization (kernels::Int8Weight): one row goes through the int8 loops, more rows
// through libtorch's matmul on W dequantized to x's dtype for the call.
class Linear : public Module {
 public:
  Linear(const WeightScope& w, int64_t in_features, int64_t out_features, bool bias);
  at::Tensor forward(const at::Tensor& x) const;  // [..., in] -> [..., out]
  const at::Tensor& weight() const { return weight_; }  // undefined in the int8 mode
  const at::Tensor& bias() const { return bias_; }
  bool is_int8() const { return int8_.q.defined(); }
  const kernels::Int8Weight& int8_weight() const { return int8_; }
  // The weight as the row loops read it (check kernels::supported()).
  kernels::RowWeight row_weight() const;
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  int64_t in_, out_;
  at::Tensor weight_, bias_;
  kernels::Int8Weight int8_;
};

// LayerNorm with affine weight and bias (biased variance; fp32 statistics inside the kernel).
class LayerNorm : public Module {
 public:
  LayerNorm(const WeightScope& w, int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  at::Tensor weight_, bias_;
  double eps_;
};

// Llama RMSNorm: statistics in float32, normalized value cast back to the input dtype *before* the
// multiplication by the weight (this order matters for bfloat16 bit-exactness).
class RmsNorm : public Module {
 public:
  RmsNorm(const WeightScope& w, int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const;
  // The same on one row of float32 values held in `dtype` (float32 or bfloat16), with the same
  // rounding steps: x [dim] -> out [dim].
  void forward_row(const float* x, float* out, at::ScalarType dtype) const;

 private:
  at::Tensor weight_;
  std::vector<float> weight_f32_;  // weight_'s values, for forward_row
  double eps_;
};

// Embedding table [num, dim]; forward gathers rows.
class Embedding : public Module {
 public:
  Embedding(const WeightScope& w, int64_t num, int64_t dim);
  at::Tensor forward(const at::Tensor& ids) const;  // int64 [...] -> [..., dim]
  const at::Tensor& weight() const { return weight_; }

 private:
  at::Tensor weight_;
};

}  // namespace smolvid::model::nn
