// model/nn/kernels.h: hand-written CPU loops for the memory-bound single-token decode step and the
// int8 weights (internal to model/nn). libtorch 1.13's one-row products read the weights at
// ~8-12 GB/s on the 2-core EPYC machines (oneDNN bf16 matmul, OpenBLAS sgemm/sgemv); these AVX-512
// loops stream ~25-30 GB/s per core. Float32 accumulation, bfloat16 results rounded once (as
// oneDNN does), so results differ from libtorch's only in summation order. The float32/bfloat16
// loops are used only where available() is true; the int8 loops run everywhere (AVX-512 VNNI when
// the CPU has it, plain C++ otherwise, chosen at run time). Row products and decode attention are
// split over the threads of DecodePool (pool.h); set_threads() sizes it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace smolvid::model::nn::kernels {

// True when this CPU and build have the AVX-512 float32/bfloat16 loops.
bool available();
// True when the int8 products use AVX-512 VNNI (else the portable loop).
bool int8_uses_vnni();

// Threads the row products and decode attention run on (>= 1; the caller is one of them).
void set_threads(int threads);
int threads();

// ---- int8 weights ---------------------------------------------------------------------------
// Symmetric per-output-row int8: w[r, i] ~= scale[r] * q[r, i], q in [-127, 127], stored as
// uint8 q + 128 (the unsigned operand of VNNI's u8 x s8 product). The activations are quantized
// per call in groups of 64 (symmetric int8, one float scale per group), as llama.cpp's q8_0
// quantizes them in groups of 32.
struct Int8Weight {
  at::Tensor q;      // [N, K] uint8 (value + 128), contiguous
  at::Tensor scale;  // [N] float32
};
// w [N, K] float32 or bfloat16 (any device; the result is on the CPU... or w's device).
Int8Weight quantize_int8(const at::Tensor& w);
// [N, K] in `dtype` on q's device: scale[r] * (q[r, i] - 128).
at::Tensor dequantize_int8(const Int8Weight& w, at::ScalarType dtype);

// ---- row products ---------------------------------------------------------------------------
// One weight as the row loops read it: float32 / bfloat16 [rows, cols] with row stride ld, or int8.
struct RowWeight {
  at::ScalarType type = at::kFloat;  // kFloat, kBFloat16, or kByte (= Int8Weight)
  const void* data = nullptr;
  int64_t rows = 0, cols = 0, ld = 0;
  const float* scale = nullptr;  // int8 only: [rows]
};
RowWeight row_weight(const at::Tensor& w);    // float32/bfloat16 CPU tensor with unit column stride
RowWeight row_weight(const Int8Weight& w);
// Whether the loops can run this weight here (dtype, CPU, AVX-512 for float types).
bool supported(const RowWeight& w);

// y[0 : sum rows] = concatenation of W_i x for the weights (all the same type and cols = K);
// x [K] float32. Parallel over the output rows.
void project_rows(const std::vector<RowWeight>& weights, const float* x, float* y);

// y = W x for one row: w [N, K] float32 or bfloat16 with unit column stride; x [K] float32
// (contiguous) -> y [N] float32 (contiguous, preallocated).
void gemv(const at::Tensor& w, const at::Tensor& x, at::Tensor& y);
// The same for an int8 weight.
void gemv(const Int8Weight& w, const at::Tensor& x, at::Tensor& y);
// The portable int8 loop, whatever the CPU has (the reference the VNNI loop is tested against).
void gemv_int8_portable(const Int8Weight& w, const at::Tensor& x, at::Tensor& y);

// ---- attention ------------------------------------------------------------------------------
// Single-position grouped-query attention over the first `total` cache positions, with the same
// steps as the batched path: scores = q k^T (rounded to the model dtype), * scale, blocked keys set
// to the dtype's lowest value, float32 softmax rounded to the model dtype, then probs v.
// q [B, Hq, Dh] (model dtype, contiguous); caches [B, Hkv, capacity, Dh] (contiguous);
// blocked [B, total] bool or undefined. Returns [B, 1, Hq*Dh] in the model dtype.
// Supports float32/bfloat16, Dh a multiple of 16 up to 256, at most 8 query heads per kv head;
// q [..., Hq, Dh].
bool decode_attention_supported(const at::Tensor& q, int64_t kv_heads, int64_t head_dim);
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache, int64_t total,
                            double scale, const at::Tensor& blocked, double lowest);

// Buffers of attend_one, grown as needed and reused across steps.
struct AttendScratch {
  std::vector<float> scores, part_max, part_sum, part_out;
};
// The same steps for one sequence without blocked keys, on raw buffers and split over the pool's
// threads by key ranges: q [Hq * Dh] float32 holding model-dtype values; k/v caches of one
// sequence [Hkv, capacity, Dh] in `dtype` (float32 or bfloat16); out [Hq * Dh] float32 holding
// model-dtype values (bfloat16: rounded).
void attend_one(const float* q, const void* k_cache, const void* v_cache, at::ScalarType dtype, int64_t heads,
                int64_t kv_heads, int64_t head_dim, int64_t capacity, int64_t total, float scale, float* out,
                AttendScratch& scratch);

// ---- element-wise helpers -------------------------------------------------------------------
// Rounds to the nearest bfloat16 (ties to even), as a float.
float round_bf16(float f);
// Rounds n values in place when dtype is bfloat16 (no-op for float32).
void round_to(at::ScalarType dtype, float* v, int64_t n);

}  // namespace smolvid::model::nn::kernels
