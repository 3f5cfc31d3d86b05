#include "model/nn/kernels.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstring>
#include <stdexcept>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SMOLVID_AVX512_KERNELS 1
// GCC 12 warns inside avx512fintrin.h (its _mm512_undefined_* placeholders) for code using it.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace smolvid::model::nn::kernels {

#ifdef SMOLVID_AVX512_KERNELS
namespace {

inline float bf16_bits_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline float to_float(uint16_t b) { return bf16_bits_to_float(b); }
inline float to_float(float f) { return f; }

// bfloat16 -> float32 is a 16-bit left shift of the bits.
__attribute__((target("avx512f"))) inline __m512 load16(const uint16_t* p) {
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16));
}
__attribute__((target("avx512f"))) inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }

// y[r] = sum_i w[r, i] * x[i] for rows [r0, r1). Eight rows at a time, prefetching the rows two
// blocks ahead: one core then streams ~25-30 GB/s instead of ~12 with the hardware prefetcher
// alone (measured). Prefetches past the matrix are harmless (they never fault).
template <class W>
__attribute__((target("avx512f"))) void gemv_rows(const W* w, int64_t ldw, const float* x, int64_t k, int64_t r0,
                                                  int64_t r1, float* y) {
  constexpr int kRows = 8;
  const int64_t k16 = k / 16 * 16;
  int64_t r = r0;
  for (; r + kRows <= r1; r += kRows) {
    const W* base = w + r * ldw;
    __m512 acc[kRows];
    for (int j = 0; j < kRows; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t i = 0; i < k16; i += 16) {
      for (int j = 0; j < kRows; ++j) {
        _mm_prefetch(reinterpret_cast<const char*>(base + (j + 2 * kRows) * ldw + i), _MM_HINT_T0);
      }
      const __m512 xv = _mm512_loadu_ps(x + i);
      for (int j = 0; j < kRows; ++j) acc[j] = _mm512_fmadd_ps(load16(base + j * ldw + i), xv, acc[j]);
    }
    for (int j = 0; j < kRows; ++j) {
      float s = _mm512_reduce_add_ps(acc[j]);
      for (int64_t i = k16; i < k; ++i) s += to_float(base[j * ldw + i]) * x[i];
      y[r + j] = s;
    }
  }
  for (; r < r1; ++r) {
    const W* row = w + r * ldw;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < k16; i += 16) acc = _mm512_fmadd_ps(load16(row + i), _mm512_loadu_ps(x + i), acc);
    float s = _mm512_reduce_add_ps(acc);
    for (int64_t i = k16; i < k; ++i) s += to_float(row[i]) * x[i];
    y[r] = s;
  }
}

// Attention of the G query heads of one kv head over K cache rows, each cache row read once.
// scores[g, k] = q[g] . keys[k]  (q float32 [G, dh], keys [K, dh]); G <= 8, dh multiple of 16, <= 256.
template <class W>
__attribute__((target("avx512f"))) void group_scores(const W* keys, int64_t kn, int64_t dh, const float* q,
                                                     int64_t groups, float* scores) {
  const int64_t nv = dh / 16;
  for (int64_t k = 0; k < kn; ++k) {
    const W* row = keys + k * dh;
    _mm_prefetch(reinterpret_cast<const char*>(row + 8 * dh), _MM_HINT_T0);
    __m512 acc[8];
    for (int64_t g = 0; g < groups; ++g) acc[g] = _mm512_setzero_ps();
    for (int64_t j = 0; j < nv; ++j) {
      const __m512 kv = load16(row + 16 * j);
      for (int64_t g = 0; g < groups; ++g) acc[g] = _mm512_fmadd_ps(kv, _mm512_loadu_ps(q + g * dh + 16 * j), acc[g]);
    }
    for (int64_t g = 0; g < groups; ++g) scores[g * kn + k] = _mm512_reduce_add_ps(acc[g]);
  }
}

// out[g, :] = sum_k p[g, k] * v[k, :], each value row read once; out float32 [G, dh].
// Accumulators stay in registers for dh = 16 * NV and G <= GMAX.
template <int NV, int GMAX, class W>
__attribute__((target("avx512f"))) void group_weighted_sum_fixed(const W* p, int64_t kn, const W* v, int64_t groups,
                                                                 float* out) {
  constexpr int64_t dh = 16 * NV;
  __m512 acc[GMAX][NV];
  for (int g = 0; g < GMAX; ++g)
    for (int j = 0; j < NV; ++j) acc[g][j] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kn; ++k) {
    const W* row = v + k * dh;
    _mm_prefetch(reinterpret_cast<const char*>(row + 8 * dh), _MM_HINT_T0);
    __m512 vv[NV];
    for (int j = 0; j < NV; ++j) vv[j] = load16(row + 16 * j);
    for (int g = 0; g < GMAX; ++g) {
      if (g >= groups) break;
      const __m512 pk = _mm512_set1_ps(to_float(p[g * kn + k]));
      for (int j = 0; j < NV; ++j) acc[g][j] = _mm512_fmadd_ps(pk, vv[j], acc[g][j]);
    }
  }
  for (int g = 0; g < GMAX && g < groups; ++g)
    for (int j = 0; j < NV; ++j) _mm512_storeu_ps(out + g * dh + 16 * j, acc[g][j]);
}

template <class W>
__attribute__((target("avx512f"))) void group_weighted_sum(const W* p, int64_t kn, const W* v, int64_t dh,
                                                           int64_t groups, float* out) {
  if (dh == 64 && groups <= 4) return group_weighted_sum_fixed<4, 4>(p, kn, v, groups, out);
  const int64_t nv = dh / 16;
  for (int64_t i = 0; i < groups * dh; ++i) out[i] = 0;
  for (int64_t k = 0; k < kn; ++k) {
    const W* row = v + k * dh;
    _mm_prefetch(reinterpret_cast<const char*>(row + 8 * dh), _MM_HINT_T0);
    for (int64_t j = 0; j < nv; ++j) {
      const __m512 vv = load16(row + 16 * j);
      for (int64_t g = 0; g < groups; ++g) {
        float* o = out + g * dh + 16 * j;
        _mm512_storeu_ps(o, _mm512_fmadd_ps(_mm512_set1_ps(to_float(p[g * kn + k])), vv, _mm512_loadu_ps(o)));
      }
    }
  }
}

bool cpu_has_avx512() {
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok;
}

}  // namespace
#endif

bool available() {
#ifdef SMOLVID_AVX512_KERNELS
  return cpu_has_avx512();
#else
  return false;
#endif
}

void gemv(const at::Tensor& w, const at::Tensor& x, at::Tensor& y) {
#ifdef SMOLVID_AVX512_KERNELS
  const int64_t n = w.size(0), k = w.size(1), ldw = w.stride(0);
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  if (w.scalar_type() == at::kBFloat16) {
    const auto* wp = reinterpret_cast<const uint16_t*>(w.data_ptr());
    at::parallel_for(0, n, 512, [&](int64_t r0, int64_t r1) { gemv_rows(wp, ldw, xp, k, r0, r1, yp); });
  } else {
    const float* wp = w.data_ptr<float>();
    at::parallel_for(0, n, 512, [&](int64_t r0, int64_t r1) { gemv_rows(wp, ldw, xp, k, r0, r1, yp); });
  }
#else
  (void)w, (void)x, (void)y;
  throw std::logic_error("kernels::gemv: not built for this CPU");
#endif
}

bool decode_attention_supported(const at::Tensor& q, int64_t kv_heads, int64_t head_dim) {
  return available() && q.device().is_cpu() &&
         (q.scalar_type() == at::kFloat || q.scalar_type() == at::kBFloat16) && head_dim % 16 == 0 &&
         head_dim <= 256 && q.size(-2) % kv_heads == 0 && q.size(-2) / kv_heads <= 8;
}

at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache, int64_t total,
                            double scale, const at::Tensor& blocked, double lowest) {
#ifdef SMOLVID_AVX512_KERNELS
  const int64_t b = q.size(0), hq = q.size(1), dh = q.size(2);
  const int64_t hkv = k_cache.size(1), cap = k_cache.size(2), groups = hq / hkv;
  const at::ScalarType dt = q.scalar_type();
  const bool bf16 = dt == at::kBFloat16;
  // Scores in float32, then the batched path's steps on the whole [B, Hq, K] block.
  const at::Tensor qf = q.to(at::kFloat).contiguous();
  at::Tensor scores = at::empty({b, hq, total}, qf.options());
  const float* qp = qf.data_ptr<float>();
  float* sp = scores.data_ptr<float>();
  for (int64_t bi = 0; bi < b; ++bi) {
    for (int64_t h = 0; h < hkv; ++h) {
      const int64_t off = (bi * hkv + h) * cap * dh;
      const int64_t row = bi * hq + h * groups;
      if (bf16) {
        group_scores(reinterpret_cast<const uint16_t*>(k_cache.data_ptr()) + off, total, dh, qp + row * dh, groups,
                     sp + row * total);
      } else {
        group_scores(k_cache.data_ptr<float>() + off, total, dh, qp + row * dh, groups, sp + row * total);
      }
    }
  }
  at::Tensor s = bf16 ? scores.to(dt) : scores;
  s.mul_(scale);
  if (blocked.defined()) s.masked_fill_(blocked.view({b, 1, total}), lowest);
  const at::Tensor probs = at::softmax(s, -1, at::kFloat).to(dt).contiguous();  // [B, Hq, K]
  at::Tensor out = at::empty({b, 1, hq * dh}, qf.options());
  float* op = out.data_ptr<float>();
  for (int64_t bi = 0; bi < b; ++bi) {
    for (int64_t h = 0; h < hkv; ++h) {
      const int64_t off = (bi * hkv + h) * cap * dh;
      const int64_t row = bi * hq + h * groups;
      if (bf16) {
        group_weighted_sum(reinterpret_cast<const uint16_t*>(probs.data_ptr()) + row * total, total,
                           reinterpret_cast<const uint16_t*>(v_cache.data_ptr()) + off, dh, groups, op + row * dh);
      } else {
        group_weighted_sum(probs.data_ptr<float>() + row * total, total, v_cache.data_ptr<float>() + off, dh, groups,
                           op + row * dh);
      }
    }
  }
  return bf16 ? out.to(dt) : out;
#else
  (void)q, (void)k_cache, (void)v_cache, (void)total, (void)scale, (void)blocked, (void)lowest;
  throw std::logic_error("kernels::decode_attention: not built for this CPU");
#endif
}

}  // namespace smolvid::model::nn::kernels
