// model/nn/kernels.h: hand-written CPU loops for the memory-bound single-token decode step
// (internal to model/nn). libtorch 1.13's one-row products read the weights at ~8-12 GB/s on the
// 2-core EPYC machines (oneDNN bf16 matmul, OpenBLAS sgemm/sgemv); these AVX-512 loops stream
// ~25-30 GB/s. Float32 accumulation, bfloat16 results rounded once (as oneDNN does), so results
// differ from libtorch's only in summation order. Used only where available() is true.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace smolvid::model::nn::kernels {

// True when this CPU and build have the AVX-512 loops.
bool available();

// y = W x for one row: w [N, K] float32 or bfloat16 with unit column stride; x [K] float32
// (contiguous) -> y [N] float32 (contiguous, preallocated).
void gemv(const at::Tensor& w, const at::Tensor& x, at::Tensor& y);

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

}  // namespace smolvid::model::nn::kernels
