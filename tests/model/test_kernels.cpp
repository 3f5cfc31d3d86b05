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

namespace {

// Restores the kernels' thread count at the end of a test.
struct ThreadsGuard {
  int saved = kernels::threads();
  ~ThreadsGuard() { kernels::set_threads(saved); }
};

double rel_err(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(at::kDouble) - want.to(at::kDouble)).norm().item<double>() / want.to(at::kDouble).norm().item<double>();
}

}  // namespace

TEST(Kernels, Int8QuantizationRoundsEachRowToItsScale) {
  at::manual_seed(3);
  const at::Tensor w = at::randn({300, 576});
  w[5].zero_();  // an all-zero row must stay zero (scale 0)
  const kernels::Int8Weight q = kernels::quantize_int8(w);
  ASSERT_EQ(q.q.scalar_type(), at::kByte);
  ASSERT_EQ(q.scale.sizes(), (std::vector<int64_t>{300}));
  // scale = max|row| / 127 (torch: w.abs().amax(1) / 127), values in [1, 255] (= q + 128, q in [-127, 127]).
  EXPECT_LT((q.scale - w.abs().amax(1) / 127.0).abs().max().item<double>(), 1e-7);
  EXPECT_GE(q.q.min().item<int64_t>(), 1);
  EXPECT_LE(q.q.max().item<int64_t>(), 255);
  // Round to nearest: every dequantized value within half a step of the original.
  const at::Tensor dq = kernels::dequantize_int8(q, at::kFloat);
  const at::Tensor half_step = q.scale.unsqueeze(1) / 2 + 1e-7;
  EXPECT_TRUE((dq - w).abs().le(half_step).all().item<bool>());
  EXPECT_EQ(dq[5].abs().max().item<double>(), 0.0);
}

TEST(Kernels, Int8GemvIsExactOnRepresentableValues) {
  // Weights that are integers times a row scale and inputs whose 64-value groups each hold +-127
  // quantize without error, so the int8 product must equal the exact one (float32 rounding only).
  at::manual_seed(5);
  for (int64_t k : {576, 1536, 100}) {
    const int64_t n = 77;
    at::Tensor wi = at::randint(-127, 128, {n, k}, at::kLong).to(at::kDouble);
    wi.select(1, 0).fill_(-127);  // every row reaches the full range, so its scale is ws
    const at::Tensor ws = at::rand({n}, at::kDouble) * 0.02 + 0.001;
    const at::Tensor w = (wi * ws.unsqueeze(1)).to(at::kFloat);
    at::Tensor xi = at::randint(-126, 127, {k}, at::kLong).to(at::kDouble);
    for (int64_t g = 0; g < k; g += 64) xi[g] = (g / 64) % 2 ? 127 : -127;
    const at::Tensor x = (xi * 0.25).to(at::kFloat);
    const kernels::Int8Weight q = kernels::quantize_int8(w);
    const at::Tensor want = at::mv(w.to(at::kDouble), x.to(at::kDouble));
    at::Tensor got = at::empty({n});
    kernels::gemv(q, x, got);
    EXPECT_LT(rel_err(got, want), 1e-6) << "k " << k << (kernels::int8_uses_vnni() ? " (VNNI)" : " (portable)");
    at::Tensor portable = at::empty({n});
    kernels::gemv_int8_portable(q, x, portable);
    EXPECT_LT(rel_err(portable, want), 1e-6) << "k " << k << " portable";
  }
}

TEST(Kernels, Int8GemvCloseToFloatProductAtFullSizeShapes) {
  ThreadsGuard guard;
  at::manual_seed(9);
  for (auto shape : {std::pair<int64_t, int64_t>{1536, 576}, {576, 1536}, {49280, 576}, {192, 576}}) {
    const at::Tensor w = at::randn({shape.first, shape.second}) / std::sqrt(static_cast<double>(shape.second));
    const at::Tensor x = at::randn({shape.second});
    const kernels::Int8Weight q = kernels::quantize_int8(w);
    const at::Tensor want = at::mv(w.to(at::kDouble), x.to(at::kDouble));
    at::Tensor portable = at::empty({shape.first});
    kernels::gemv_int8_portable(q, x, portable);
    for (int threads : {1, 2, 3}) {
      kernels::set_threads(threads);
      at::Tensor got = at::empty({shape.first});
      kernels::gemv(q, x, got);
      // Gaussian rows and inputs: per-row int8 weights and per-64 int8 inputs each add ~0.4 %
      // relative error (half a step of 1/127 of a ~3-sigma maximum); 2 % is a wrong-scale alarm.
      EXPECT_LT(rel_err(got, want), 0.02) << shape.first << "x" << shape.second << " threads " << threads;
      // VNNI and portable loops: the same integer sums, float32 summation order only.
      EXPECT_LT(rel_err(got, portable), 1e-5) << shape.first << "x" << shape.second << " threads " << threads;
    }
  }
}

TEST(Kernels, ProjectRowsSplitsOverThreadsWithoutChangingResults) {
  if (!kernels::available()) GTEST_SKIP() << "no AVX-512: the model uses libtorch's products instead";
  ThreadsGuard guard;
  at::manual_seed(13);
  for (at::ScalarType dt : {at::kFloat, at::kBFloat16}) {
    const at::Tensor a = at::randn({576, 576}).to(dt), b = at::randn({192, 576}).to(dt), c = at::randn({192, 576}).to(dt);
    const at::Tensor x = at::randn({576});
    const at::Tensor want = at::mv(at::cat({a, b, c}).to(at::kDouble), x.to(at::kDouble));
    at::Tensor one = at::empty({960}), two = at::empty({960});
    kernels::set_threads(1);
    kernels::project_rows({kernels::row_weight(a), kernels::row_weight(b), kernels::row_weight(c)}, x.data_ptr<float>(),
                          one.data_ptr<float>());
    kernels::set_threads(2);
    kernels::project_rows({kernels::row_weight(a), kernels::row_weight(b), kernels::row_weight(c)}, x.data_ptr<float>(),
                          two.data_ptr<float>());
    EXPECT_LT((one.to(at::kDouble) - want).abs().max().item<double>(), 1e-4) << dt;
    EXPECT_TRUE(at::equal(one, two)) << dt << ": each row is summed the same way whatever thread runs it";
  }
}

TEST(Kernels, AttendOneMatchesLibtorchOnEveryThreadCount) {
  if (!kernels::available()) GTEST_SKIP() << "no AVX-512: the model uses libtorch's attention instead";
  ThreadsGuard guard;
  at::manual_seed(17);
  const int64_t hq = 9, hkv = 3, dh = 64, capacity = 4200;
  for (int threads : {1, 2}) {
    kernels::set_threads(threads);
    for (int64_t total : {1, 37, 300, 1100, 4096}) {
      for (at::ScalarType dt : {at::kFloat, at::kBFloat16}) {
        const at::Tensor q = at::randn({1, hq, dh}).to(dt);
        const at::Tensor kc = at::randn({1, hkv, capacity, dh}).to(dt);
        const at::Tensor vc = at::randn({1, hkv, capacity, dh}).to(dt);
        const at::Tensor qf = q.to(at::kFloat).contiguous();
        at::Tensor out = at::empty({hq * dh});
        kernels::AttendScratch scratch;
        kernels::attend_one(qf.data_ptr<float>(), kc.data_ptr(), vc.data_ptr(), dt, hq, hkv, dh, capacity, total, 0.125f,
                            out.data_ptr<float>(), scratch);
        const at::Tensor want = reference_attention(q, kc, vc, total, 0.125, {}, 0).reshape({hq * dh});
        const double tol = dt == at::kFloat ? 1e-5 : 0.04;
        EXPECT_LT(max_abs(out - want.to(at::kFloat)), tol) << "total " << total << " " << dt << " threads " << threads;
        if (dt == at::kBFloat16) {
          EXPECT_TRUE(at::equal(out, out.to(at::kBFloat16).to(at::kFloat))) << "output not rounded to bfloat16";
        }
      }
    }
  }
}
