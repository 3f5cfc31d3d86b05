// bench/prompt_ids.h: synthetic prompts for the model benchmarks (bench_model, gpu_check).
#pragma once

#include <cstdint>
#include <vector>

namespace smolvid::bench {

// A prompt of `length` ids with `images` blocks of `seq` image tokens spread through it; other ids
// are ordinary vocabulary ids (what they are does not change the work).
inline std::vector<int64_t> make_ids(int64_t length, int64_t images, int64_t seq, int64_t image_token, int64_t vocab) {
  std::vector<int64_t> ids(length);
  for (int64_t i = 0; i < length; ++i) ids[i] = 100 + (i * 7919) % (vocab - 1000);
  const int64_t stride = images > 0 ? length / images : 0;
  for (int64_t k = 0; k < images; ++k) {
    for (int64_t j = 0; j < seq; ++j) ids[k * stride + 2 + j] = image_token;
  }
  return ids;
}

}  // namespace smolvid::bench
