// model/nn/smolvlm_impl.h: SmolVLM's internals, shared by smolvlm.cpp (loading, vision, forward)
// and generate.cpp (decoding loop). Not a public header.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

#include "model/config.h"
#include "model/nn/blocks.h"
#include "model/nn/smolvlm.h"

namespace smolvid::model {

struct SmolVLM::Impl {
  ModelFiles files;
  ModelOptions options;
  c10::ScalarType dtype = c10::ScalarType::Float;  // compute dtype (bfloat16 in the int8 mode)
  bool int8 = false;                               // linear weights quantized to int8
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  std::shared_ptr<nn::SmolVLMNet> net;
  std::unique_ptr<nn::Rotary> rotary;
  nn::KvCache cache;  // reused across calls while batch and capacity fit
  double load_s = 0;

  // Vision feature cache: pixel hash -> [1, S, Dt] features, least recently used evicted first.
  struct CacheEntry {
    at::Tensor features;
    std::list<uint64_t>::iterator lru;
  };
  std::unordered_map<uint64_t, CacheEntry> vision_cache;
  std::list<uint64_t> vision_lru;  // front = most recent
  int64_t last_encoded = 0, last_from_cache = 0;

  // Applies a thread count (see configure notes in smolvlm.cpp); < 0 leaves the settings alone.
  void use_threads(int threads) const;
  // Threads of single-token decode steps: options.decode_threads, or (0) options.threads' count.
  int decode_thread_count() const;

  nn::TextModel& text() const { return *net->model->text_model; }

  // Vision tower + connector over real images, in chunks of options.vision_batch.
  // pixels [n, C, H, W] (model dtype, device), pixel_mask [n, H, W] -> features [n, S, Dt].
  struct VisionOut {
    at::Tensor patch_mask, last_hidden, features;
  };
  VisionOut run_vision(const at::Tensor& pixels, const at::Tensor& pixel_mask, bool keep_hidden,
                       nn::ActivationDump* dump) const;

  // Token embeddings with image features written at the image-token positions, in order.
  at::Tensor embed_with_images(const at::Tensor& input_ids, const at::Tensor& features) const;

  // Selects the real (not all-zero) images of a [B, N, C, H, W] batch (section 3.2).
  std::pair<at::Tensor, at::Tensor> real_images(const BatchInputs& in) const;

  nn::KvCache& cache_for(int64_t batch, int64_t capacity);
  at::Tensor encode_cached(const at::Tensor& pixel_values, const at::Tensor& pixel_attention_mask);
};

}  // namespace smolvid::model
