#include "model/nn/kernels.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include <fmt/core.h>

#include "model/nn/pool.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SMOLVID_AVX512_KERNELS 1
// GCC 12 warns inside avx512fintrin.h (its _mm512_undefined_* placeholders) for code using it.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace smolvid::model::nn::kernels {

namespace {

inline float bf16_bits_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline float to_float(uint16_t b) { return bf16_bits_to_float(b); }
inline float to_float(float f) { return f; }

// Activations group size of the int8 products (one 512-bit register of int8 values).
constexpr int64_t kGroup = 64;

// x quantized for the int8 loops: q [groups * 64] int8 (zero-padded), one scale per group, and
// sum_g scale[g] * 128 * sum(q in g): what the +128 offset of the stored weights adds to a row's sum.
struct QuantizedInput {
  std::vector<int8_t> q;
  std::vector<float> scale;
  float offset_sum = 0;
};

void quantize_input(const float* x, int64_t k, QuantizedInput& out) {
  const int64_t groups = (k + kGroup - 1) / kGroup;
  out.q.assign(groups * kGroup, 0);
  out.scale.resize(groups);
  double offset = 0;
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t i0 = g * kGroup, i1 = std::min(k, i0 + kGroup);
    float amax = 0;
    for (int64_t i = i0; i < i1; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float s = amax / 127.0f;
    out.scale[g] = s;
    int32_t sum = 0;
    if (s > 0) {
      const float inv = 1.0f / s;
      for (int64_t i = i0; i < i1; ++i) {
        const int v = static_cast<int>(std::nearbyint(x[i] * inv));
        out.q[i] = static_cast<int8_t>(std::clamp(v, -127, 127));
        sum += out.q[i];
      }
    }
    offset += static_cast<double>(s) * 128.0 * sum;
  }
  out.offset_sum = static_cast<float>(offset);
}

// Portable int8 rows: exact int32 group sums, float32 accumulation over groups.
void int8_rows_portable(const uint8_t* w, int64_t ldw, const float* wscale, const QuantizedInput& x, int64_t k,
                        int64_t r0, int64_t r1, float* y) {
  const int64_t groups = static_cast<int64_t>(x.scale.size());
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w + r * ldw;
    float acc = 0;
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t i0 = g * kGroup, i1 = std::min(k, i0 + kGroup);
      int32_t s = 0;
      for (int64_t i = i0; i < i1; ++i) s += (static_cast<int32_t>(row[i]) - 128) * x.q[i];
      acc += static_cast<float>(s) * x.scale[g];
    }
    y[r] = wscale[r] * acc;
  }
}

}  // namespace

float round_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return f;  // NaN stays NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

void round_to(at::ScalarType dtype, float* v, int64_t n) {
  if (dtype != at::kBFloat16) return;
  for (int64_t i = 0; i < n; ++i) v[i] = round_bf16(v[i]);
}

#ifdef SMOLVID_AVX512_KERNELS
namespace {

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

// int8 rows with VNNI: per 64-value group one u8 x s8 dot product into 16 int32 lanes, converted
// and scaled by the group's activation scale; the +128 offset of the weights is removed once per
// row (offset_sum). Eight rows at a time with the same prefetching as gemv_rows.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void int8_rows_vnni(const uint8_t* w, int64_t ldw,
                                                                           const float* wscale,
                                                                           const QuantizedInput& x, int64_t k,
                                                                           int64_t r0, int64_t r1, float* y) {
  constexpr int kRows = 8;
  const int64_t groups = static_cast<int64_t>(x.scale.size());
  const int64_t full = k / kGroup;  // groups without a tail
  const __mmask64 tail_mask = k % kGroup ? (~0ull >> (64 - k % kGroup)) : 0;
  int64_t r = r0;
  for (; r + kRows <= r1; r += kRows) {
    const uint8_t* base = w + r * ldw;
    __m512 acc[kRows];
    for (int j = 0; j < kRows; ++j) acc[j] = _mm512_setzero_ps();
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t i = g * kGroup;
      const __m512i xv = _mm512_loadu_si512(x.q.data() + i);
      const __m512 s = _mm512_set1_ps(x.scale[g]);
      for (int j = 0; j < kRows; ++j) {
        _mm_prefetch(reinterpret_cast<const char*>(base + (j + 2 * kRows) * ldw + i), _MM_HINT_T0);
      }
      for (int j = 0; j < kRows; ++j) {
        const uint8_t* p = base + j * ldw + i;
        const __m512i wv = g < full ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(tail_mask, p);
        const __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wv, xv);
        acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), s, acc[j]);
      }
    }
    for (int j = 0; j < kRows; ++j) y[r + j] = wscale[r + j] * (_mm512_reduce_add_ps(acc[j]) - x.offset_sum);
  }
  if (r < r1) int8_rows_portable(w, ldw, wscale, x, k, r, r1, y);
}

// exp(x) for 16 floats: x = n ln2 + r, |r| <= ln2/2, degree-7 Taylor polynomial of exp(r)
// (relative error < 1e-8 before rounding), scaled by 2^n. Inputs below -87.3 give 0 after scaling
// far enough (softmax inputs are <= 0 here).
__attribute__((target("avx512f"))) inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-103.0f));
  x = _mm512_min_ps(x, _mm512_set1_ps(88.7f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// v[i] = exp(v[i] - shift) in place; returns the sum.
__attribute__((target("avx512f"))) float exp_shift_sum(float* v, int64_t n, float shift) {
  const __m512 sh = _mm512_set1_ps(shift);
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(v + i), sh));
    _mm512_storeu_ps(v + i, e);
    acc = _mm512_add_ps(acc, e);
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, v + i), sh));
    _mm512_mask_storeu_ps(v + i, m, e);
    acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(m, e));
  }
  return _mm512_reduce_add_ps(acc);
}

// Attention of the G query heads of one kv head over K cache rows, each cache row read once.
// scores[g * lds + k] = q[g] . keys[k]  (q float32 [G, dh], keys [K, dh]); G <= 8, dh multiple of 16, <= 256.
template <class W>
__attribute__((target("avx512f"))) void group_scores(const W* keys, int64_t kn, int64_t dh, const float* q,
                                                     int64_t groups, float* scores, int64_t lds) {
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
    for (int64_t g = 0; g < groups; ++g) scores[g * lds + k] = _mm512_reduce_add_ps(acc[g]);
  }
}

// out[g, :] = sum_k p[g * ldp + k] * v[k, :], each value row read once; out float32 [G, dh].
// Accumulators stay in registers for dh = 16 * NV and G <= GMAX.
template <int NV, int GMAX, class P, class W>
__attribute__((target("avx512f"))) void group_weighted_sum_fixed(const P* p, int64_t ldp, int64_t kn, const W* v,
                                                                 int64_t groups, float* out) {
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
      const __m512 pk = _mm512_set1_ps(to_float(p[g * ldp + k]));
      for (int j = 0; j < NV; ++j) acc[g][j] = _mm512_fmadd_ps(pk, vv[j], acc[g][j]);
    }
  }
  for (int g = 0; g < GMAX && g < groups; ++g)
    for (int j = 0; j < NV; ++j) _mm512_storeu_ps(out + g * dh + 16 * j, acc[g][j]);
}

template <class P, class W>
__attribute__((target("avx512f"))) void group_weighted_sum(const P* p, int64_t ldp, int64_t kn, const W* v, int64_t dh,
                                                           int64_t groups, float* out) {
  if (dh == 64 && groups <= 4) return group_weighted_sum_fixed<4, 4>(p, ldp, kn, v, groups, out);
  const int64_t nv = dh / 16;
  for (int64_t i = 0; i < groups * dh; ++i) out[i] = 0;
  for (int64_t k = 0; k < kn; ++k) {
    const W* row = v + k * dh;
    _mm_prefetch(reinterpret_cast<const char*>(row + 8 * dh), _MM_HINT_T0);
    for (int64_t j = 0; j < nv; ++j) {
      const __m512 vv = load16(row + 16 * j);
      for (int64_t g = 0; g < groups; ++g) {
        float* o = out + g * dh + 16 * j;
        _mm512_storeu_ps(o, _mm512_fmadd_ps(_mm512_set1_ps(to_float(p[g * ldp + k])), vv, _mm512_loadu_ps(o)));
      }
    }
  }
}

bool cpu_has_avx512() {
  static const bool ok = __builtin_cpu_supports("avx512f");
  return ok;
}

bool cpu_has_vnni() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vnni");
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

bool int8_uses_vnni() {
#ifdef SMOLVID_AVX512_KERNELS
  return cpu_has_vnni();
#else
  return false;
#endif
}

void set_threads(int threads) { DecodePool::instance().resize(threads); }
int threads() { return DecodePool::instance().size(); }

Int8Weight quantize_int8(const at::Tensor& w) {
  if (w.dim() != 2) throw std::invalid_argument(fmt::format("quantize_int8: expected a 2-d weight, got {} dims", w.dim()));
  // Row by row from the source (a file mapping, typically): no full-size temporaries.
  at::Tensor src = w;
  if (!src.device().is_cpu() || (src.scalar_type() != at::kFloat && src.scalar_type() != at::kBFloat16) ||
      src.stride(1) != 1) {
    src = src.to(at::kCPU).to(at::kFloat).contiguous();
  }
  const int64_t n = src.size(0), k = src.size(1), ld = src.stride(0);
  Int8Weight out{at::empty({n, k}, at::kByte), at::empty({n}, at::kFloat)};
  uint8_t* q = out.q.data_ptr<uint8_t>();
  float* scale = out.scale.data_ptr<float>();
  const bool bf16 = src.scalar_type() == at::kBFloat16;
  const auto* wb = bf16 ? static_cast<const uint16_t*>(src.data_ptr()) : nullptr;
  const float* wf = bf16 ? nullptr : src.data_ptr<float>();
  std::vector<float> row(k);
  for (int64_t r = 0; r < n; ++r) {
    float amax = 0;
    for (int64_t i = 0; i < k; ++i) {
      row[i] = bf16 ? bf16_bits_to_float(wb[r * ld + i]) : wf[r * ld + i];
      amax = std::max(amax, std::fabs(row[i]));
    }
    const float s = amax / 127.0f;
    scale[r] = s;
    const float inv = s > 0 ? 1.0f / s : 0.0f;
    for (int64_t i = 0; i < k; ++i) {
      const int v = static_cast<int>(std::nearbyint(row[i] * inv));
      q[r * k + i] = static_cast<uint8_t>(std::clamp(v, -127, 127) + 128);
    }
  }
  return out;
}

at::Tensor dequantize_int8(const Int8Weight& w, at::ScalarType dtype) {
  if (!w.q.device().is_cpu() || (dtype != at::kFloat && dtype != at::kBFloat16)) {
    return w.q.to(at::kFloat).sub_(128).mul_(w.scale.unsqueeze(1)).to(dtype);
  }
  const int64_t n = w.q.size(0), k = w.q.size(1);
  at::Tensor out = at::empty({n, k}, at::TensorOptions().dtype(dtype));
  const uint8_t* q = w.q.data_ptr<uint8_t>();
  const float* scale = w.scale.data_ptr<float>();
  if (dtype == at::kFloat) {
    float* o = out.data_ptr<float>();
    for (int64_t r = 0; r < n; ++r)
      for (int64_t i = 0; i < k; ++i) o[r * k + i] = scale[r] * (static_cast<float>(q[r * k + i]) - 128.0f);
  } else {
    auto* o = static_cast<uint16_t*>(out.data_ptr());
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t i = 0; i < k; ++i) {
        const float v = round_bf16(scale[r] * (static_cast<float>(q[r * k + i]) - 128.0f));
        uint32_t u;
        std::memcpy(&u, &v, sizeof u);
        o[r * k + i] = static_cast<uint16_t>(u >> 16);
      }
    }
  }
  return out;
}

RowWeight row_weight(const at::Tensor& w) {
  RowWeight r;
  r.type = w.scalar_type();
  r.data = w.data_ptr();
  r.rows = w.size(0);
  r.cols = w.size(1);
  r.ld = w.stride(0);
  if (w.stride(1) != 1 || !w.device().is_cpu()) r.type = at::kDouble;  // unsupported marker
  return r;
}

RowWeight row_weight(const Int8Weight& w) {
  RowWeight r;
  r.type = at::kByte;
  r.data = w.q.data_ptr();
  r.rows = w.q.size(0);
  r.cols = w.q.size(1);
  r.ld = w.q.stride(0);
  r.scale = w.scale.data_ptr<float>();
  if (w.q.stride(1) != 1 || !w.q.device().is_cpu()) r.type = at::kDouble;
  return r;
}

bool supported(const RowWeight& w) {
  if (w.type == at::kByte) return true;
  return (w.type == at::kFloat || w.type == at::kBFloat16) && available();
}

namespace {

// Rows [r0, r1) of the concatenated outputs of `weights`.
void rows_of(const std::vector<RowWeight>& weights, const float* x, const QuantizedInput& xq, int64_t r0, int64_t r1,
             float* y) {
  int64_t offset = 0;
  for (const RowWeight& w : weights) {
    const int64_t a = std::max(r0, offset) - offset, b = std::min(r1, offset + w.rows) - offset;
    if (a < b) {
      float* out = y + offset;
      if (w.type == at::kByte) {
        const auto* wp = static_cast<const uint8_t*>(w.data);
#ifdef SMOLVID_AVX512_KERNELS
        if (cpu_has_vnni()) {
          int8_rows_vnni(wp, w.ld, w.scale, xq, w.cols, a, b, out);
        } else {
          int8_rows_portable(wp, w.ld, w.scale, xq, w.cols, a, b, out);
        }
#else
        int8_rows_portable(wp, w.ld, w.scale, xq, w.cols, a, b, out);
#endif
      } else {
#ifdef SMOLVID_AVX512_KERNELS
        if (w.type == at::kBFloat16) {
          gemv_rows(static_cast<const uint16_t*>(w.data), w.ld, x, w.cols, a, b, out);
        } else {
          gemv_rows(static_cast<const float*>(w.data), w.ld, x, w.cols, a, b, out);
        }
#else
        (void)x;
        throw std::logic_error("kernels: float rows not built for this CPU");
#endif
      }
    }
    offset += w.rows;
  }
}

}  // namespace

void project_rows(const std::vector<RowWeight>& weights, const float* x, float* y) {
  if (weights.empty()) return;
  int64_t total = 0;
  for (const RowWeight& w : weights) {
    if (!supported(w) || w.type != weights[0].type || w.cols != weights[0].cols) {
      throw std::logic_error("kernels::project_rows: unsupported or mixed weights");
    }
    total += w.rows;
  }
  // One buffer per calling thread; the workers read the caller's through this reference (naming the
  // thread_local inside the lambda would give each worker its own, empty, one).
  thread_local QuantizedInput quantized;
  const QuantizedInput& xq = quantized;
  if (weights[0].type == at::kByte) quantize_input(x, weights[0].cols, quantized);
  DecodePool& pool = DecodePool::instance();
  // Below ~64k multiply-adds per thread the dispatch costs more than it saves.
  if (total * weights[0].cols < 65536 * pool.size()) {
    rows_of(weights, x, xq, 0, total, y);
    return;
  }
  pool.run(4 * pool.size(), [&](int part, int parts) {
    const auto [r0, r1] = DecodePool::range(total, part, parts, 16);
    if (r0 < r1) rows_of(weights, x, xq, r0, r1, y);
  });
}

void gemv(const at::Tensor& w, const at::Tensor& x, at::Tensor& y) {
  project_rows({row_weight(w)}, x.data_ptr<float>(), y.data_ptr<float>());
}

void gemv(const Int8Weight& w, const at::Tensor& x, at::Tensor& y) {
  project_rows({row_weight(w)}, x.data_ptr<float>(), y.data_ptr<float>());
}

void gemv_int8_portable(const Int8Weight& w, const at::Tensor& x, at::Tensor& y) {
  QuantizedInput xq;
  const RowWeight rw = row_weight(w);
  quantize_input(x.data_ptr<float>(), rw.cols, xq);
  int8_rows_portable(static_cast<const uint8_t*>(rw.data), rw.ld, rw.scale, xq, rw.cols, 0, rw.rows,
                     y.data_ptr<float>());
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
                     sp + row * total, total);
      } else {
        group_scores(k_cache.data_ptr<float>() + off, total, dh, qp + row * dh, groups, sp + row * total, total);
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
        group_weighted_sum(reinterpret_cast<const uint16_t*>(probs.data_ptr()) + row * total, total, total,
                           reinterpret_cast<const uint16_t*>(v_cache.data_ptr()) + off, dh, groups, op + row * dh);
      } else {
        group_weighted_sum(probs.data_ptr<float>() + row * total, total, total, v_cache.data_ptr<float>() + off, dh,
                           groups, op + row * dh);
      }
    }
  }
  return bf16 ? out.to(dt) : out;
#else
  (void)q, (void)k_cache, (void)v_cache, (void)total, (void)scale, (void)blocked, (void)lowest;
  throw std::logic_error("kernels::decode_attention: not built for this CPU");
#endif
}

#ifdef SMOLVID_AVX512_KERNELS
namespace {

// Phases of attend_one over the keys [k0, k1) of one part.
template <class W>
void attend_scores(const float* q, const W* kc, int64_t hkv, int64_t groups, int64_t dh, int64_t cap, int64_t total,
                   float scale, bool bf16, int64_t k0, int64_t k1, float* scores, float* max_out) {
  const int64_t hq = hkv * groups;
  for (int64_t h = 0; h < hkv; ++h) {
    group_scores(kc + (h * cap + k0) * dh, k1 - k0, dh, q + h * groups * dh, groups, scores + h * groups * total + k0,
                 total);
  }
  for (int64_t r = 0; r < hq; ++r) {
    float* s = scores + r * total;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t k = k0; k < k1; ++k) {
      // The batched path rounds the product to the model dtype, then rounds the scaled value.
      const float v = bf16 ? round_bf16(round_bf16(s[k]) * scale) : s[k] * scale;
      s[k] = v;
      m = std::max(m, v);
    }
    max_out[r] = m;
  }
}

template <class W>
void attend_values(const float* probs, const W* vc, int64_t hkv, int64_t groups, int64_t dh, int64_t cap,
                   int64_t total, int64_t k0, int64_t k1, float* out) {
  for (int64_t h = 0; h < hkv; ++h) {
    group_weighted_sum(probs + h * groups * total + k0, total, k1 - k0, vc + (h * cap + k0) * dh, dh, groups,
                       out + h * groups * dh);
  }
}

}  // namespace
#endif

void attend_one(const float* q, const void* k_cache, const void* v_cache, at::ScalarType dtype, int64_t heads,
                int64_t kv_heads, int64_t head_dim, int64_t capacity, int64_t total, float scale, float* out,
                AttendScratch& s) {
#ifdef SMOLVID_AVX512_KERNELS
  DecodePool& pool = DecodePool::instance();
  // Key ranges taken by the pool's threads; short contexts: one part (the dispatches would cost more
  // than the work).
  const int parts = total >= 256 && pool.size() > 1 ? 2 * pool.size() : 1;
  const int64_t groups = heads / kv_heads, dh = head_dim, hq = heads;
  const bool bf16 = dtype == at::kBFloat16;
  if (static_cast<int64_t>(s.scores.size()) < hq * total) s.scores.resize(std::max<int64_t>(hq * total, 2 * s.scores.size()));
  s.part_max.resize(parts * hq);
  s.part_sum.resize(parts * hq);
  s.part_out.resize(parts * hq * dh);
  float* scores = s.scores.data();
  auto each_part = [&](auto&& fn) {
    pool.run(parts, fn);
  };
  // 1. scores of every query head over this part's keys, and their maximum
  each_part([&](int part, int) {
    const auto [k0, k1] = DecodePool::range(total, part, parts, 16);
    float* mx = s.part_max.data() + part * hq;
    if (k0 >= k1) {
      std::fill(mx, mx + hq, -std::numeric_limits<float>::infinity());
      return;
    }
    if (bf16) {
      attend_scores(q, static_cast<const uint16_t*>(k_cache), kv_heads, groups, dh, capacity, total, scale, true, k0,
                    k1, scores, mx);
    } else {
      attend_scores(q, static_cast<const float*>(k_cache), kv_heads, groups, dh, capacity, total, scale, false, k0,
                    k1, scores, mx);
    }
  });
  // 2. exp(score - max) and partial sums; 3. probabilities (rounded to the model dtype) times values
  each_part([&](int part, int) {
    const auto [k0, k1] = DecodePool::range(total, part, parts, 16);
    for (int64_t r = 0; r < hq; ++r) {
      float m = -std::numeric_limits<float>::infinity();
      for (int p = 0; p < parts; ++p) m = std::max(m, s.part_max[p * hq + r]);
      s.part_sum[part * hq + r] = k0 < k1 ? exp_shift_sum(scores + r * total + k0, k1 - k0, m) : 0.0f;
    }
  });
  each_part([&](int part, int) {
    const auto [k0, k1] = DecodePool::range(total, part, parts, 16);
    float* po = s.part_out.data() + part * hq * dh;
    if (k0 >= k1) {
      std::fill(po, po + hq * dh, 0.0f);
      return;
    }
    for (int64_t r = 0; r < hq; ++r) {
      float sum = 0;
      for (int p = 0; p < parts; ++p) sum += s.part_sum[p * hq + r];
      const float inv = 1.0f / sum;
      float* e = scores + r * total;
      for (int64_t k = k0; k < k1; ++k) e[k] = bf16 ? round_bf16(e[k] * inv) : e[k] * inv;
    }
    if (bf16) {
      attend_values(scores, static_cast<const uint16_t*>(v_cache), kv_heads, groups, dh, capacity, total, k0, k1, po);
    } else {
      attend_values(scores, static_cast<const float*>(v_cache), kv_heads, groups, dh, capacity, total, k0, k1, po);
    }
  });
  for (int64_t i = 0; i < hq * dh; ++i) {
    float v = 0;
    for (int p = 0; p < parts; ++p) v += s.part_out[p * hq * dh + i];
    out[i] = bf16 ? round_bf16(v) : v;
  }
#else
  (void)q, (void)k_cache, (void)v_cache, (void)dtype, (void)heads, (void)kv_heads, (void)head_dim, (void)capacity,
      (void)total, (void)scale, (void)out, (void)s;
  throw std::logic_error("kernels::attend_one: not built for this CPU");
#endif
}

}  // namespace smolvid::model::nn::kernels
