// The hand-written decode kernels (model/nn/kernels.h) against libtorch's own operators, at the
// full-size SmolVLM-256M shapes the tiny golden models never reach (head_dim 64, 9 query heads
// over 3 KV heads, 4k cached positions, 576x1536 projections).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <fstream>
#include <limits>
#include <string>

#include "model/nn/kernels.h"

namespace kernels = smolvid::model::nn::kernels;

namespace {

// What the kernels need, read from the CPU flags independently of the kernels' own check.
bool cpu_has_avx512() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) return line.find(" avx512f ") != std::string::npos;
  }
  return false;
}

double max_abs(const at::Tensor& a) { return a.abs().max().item<double>(); }

// The batched decode path written with plain ATen ops: scores in the model dtype, blocked keys
// set to `lowest`, float32 softmax rounded to the model dtype, then probs x v.
at::Tensor reference_attention(const at::Tensor& q, const at::Tensor& kc, const at::Tensor& vc, int64_t total,
                               double scale, const at::Tensor& blocked, double lowest) {
  const int64_t hq = q.size(1), hkv = kc.size(1), dh = q.size(2), group = hq / hkv;
  at::Tensor k = kc.narrow(2, 0, total).repeat_interleave(group, 1);  // [B, Hq, T, Dh]
  at::Tensor v = vc.narrow(2, 0, total).repeat_interleave(group, 1);
  at::Tensor scores = at::matmul(q.unsqueeze(2), k.transpose(2, 3)) * scale;  // [B, Hq, 1, T]
  if (blocked.defined()) scores = scores.masked_fill(blocked.view({q.size(0), 1, 1, total}), lowest);
  at::Tensor probs = at::softmax(scores.to(at::kFloat), -1).to(q.scalar_type());
  return at::matmul(probs, v).reshape({q.size(0), 1, hq * dh});
}

}  // namespace

TEST(Kernels, AvailableExactlyWhenTheCpuHasAvx512) { EXPECT_EQ(kernels::available(), cpu_has_avx512()); }

TEST(Kernels, GemvMatchesLibtorchAtFullSizeShapes) {
  if (!kernels::available()) GTEST_SKIP() << "no AVX-512: the model uses libtorch's products instead";
  at::manual_seed(7);
  for (auto shape : {std::pair<int64_t, int64_t>{1536, 576}, {576, 1536}, {49280, 576}, {192, 576}}) {
    const at::Tensor w32 = at::randn({shape.first, shape.second}) / std::sqrt(static_cast<double>(shape.second));
    const at::Tensor x = at::randn({shape.second});
    for (at::ScalarType dt : {at::kFloat, at::kBFloat16}) {
      const at::Tensor w = w32.to(dt);
      at::Tensor y = at::empty({shape.first});
      kernels::gemv(w, x, y);
      const at::Tensor want = at::mv(w.to(at::kDouble), x.to(at::kDouble));
      // float32 accumulation over K terms of size ~1/sqrt(K): a few float32 ulps of the result.
      EXPECT_LT(max_abs(y.to(at::kDouble) - want), 1e-4) << shape.first << "x" << shape.second << " " << dt;
    }
  }
}

TEST(Kernels, DecodeAttentionMatchesLibtorchWithGqaAndBlockedKeys) {
  if (!kernels::available()) GTEST_SKIP() << "no AVX-512: the model uses libtorch's attention instead";
  at::manual_seed(11);
  const int64_t batch = 2, hq = 9, hkv = 3, dh = 64, capacity = 4200;
  for (int64_t total : {1, 37, 1100, 4096}) {
    for (at::ScalarType dt : {at::kFloat, at::kBFloat16}) {
      const at::Tensor q = at::randn({batch, hq, dh}).to(dt);
      const at::Tensor kc = at::randn({batch, hkv, capacity, dh}).to(dt);
      const at::Tensor vc = at::randn({batch, hkv, capacity, dh}).to(dt);
      at::Tensor blocked = at::zeros({batch, total}, at::kBool);
      blocked.index_put_({1, at::indexing::Slice(0, total / 3)}, true);  // left padding of row 1
      ASSERT_TRUE(kernels::decode_attention_supported(q, hkv, dh));
      const double lowest = dt == at::kFloat ? std::numeric_limits<float>::lowest() : -3.3895313892515355e38;
      const at::Tensor got = kernels::decode_attention(q, kc, vc, total, 0.125, blocked, lowest);
      const at::Tensor want = reference_attention(q, kc, vc, total, 0.125, blocked, lowest);
      ASSERT_EQ(got.sizes(), want.sizes());
      // float32: summation order only; bfloat16: one rounding step of the output (|v| <~ 4).
      const double tol = dt == at::kFloat ? 1e-5 : 0.04;
      EXPECT_LT(max_abs(got.to(at::kFloat) - want.to(at::kFloat)), tol) << "total " << total << " " << dt;
    }
  }
}
