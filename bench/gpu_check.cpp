// gpu_check: the model on a CUDA device (or any device libtorch has), without FFmpeg/OpenCV: the
// golden fixtures in float32 and bfloat16, then a 64-frame video prompt on a full-size random
// checkpoint (vision tower over every frame, prefill of the ~4,300-token prompt, first token),
// timed after a warm-up. Built in SMOLVID_MODEL_ONLY builds too; scripts/gpu-check.sh runs it and
// samples nvidia-smi for the GPU memory.
//
//   gpu_check --device cuda --golden ../shared/golden
//             --config .../SmolVLM-256M-Instruct/config.json --tensors .../tensors.json --work /tmp/gpu
//             [--frames 64] [--vision-batch 8] [--dtypes float32,bfloat16]
//
// Prints one line per golden fixture and dtype, per video run, and a last line of JSON. Exit
// status 1 when a golden check fails.
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <c10/core/InferenceMode.h>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#if __has_include(<c10/cuda/CUDACachingAllocator.h>) && !defined(SMOLVID_NO_CUDA_STATS)
#include <c10/cuda/CUDACachingAllocator.h>  // the allocator's own peak, without the CUDA context
#define SMOLVID_CUDA_STATS 1
#endif

#include "model/nn/golden.h"
#include "model/nn/random_checkpoint.h"
#include "bench/prompt_ids.h"
#include "model/nn/smolvlm.h"

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, ',');) out.push_back(part);
  return out;
}

using smolvid::bench::make_ids;

}  // namespace

int main(int argc, char** argv) {
  std::string device = "cuda", golden, config, tensors, work = "/tmp/smolvid-gpu-check";
  std::vector<std::string> dtypes = {"float32", "bfloat16"};
  int64_t frames = 64, vision_batch = 8;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "gpu_check: {} needs a value\n", a);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--device") device = next();
    else if (a == "--golden") golden = next();
    else if (a == "--config") config = next();
    else if (a == "--tensors") tensors = next();
    else if (a == "--work") work = next();
    else if (a == "--frames") frames = std::atoll(next().c_str());
    else if (a == "--vision-batch") vision_batch = std::atoll(next().c_str());
    else if (a == "--dtypes") dtypes = split(next());
    else {
      fmt::print(stderr,
                 "usage: gpu_check [--device cuda] [--golden DIR] [--config CONFIG --tensors TENSORS] [--work DIR]\n"
                 "                 [--frames 64] [--vision-batch 8] [--dtypes float32,bfloat16]\n");
      return 2;
    }
  }
  // float32 goldens hold to 1e-4: keep cuDNN's convolutions (the patch embedding) in true float32.
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  nlohmann::json summary;
  summary["device"] = device;
  int failures = 0;
  try {
    if (!golden.empty()) {
      for (const char* fixture : {"tiny-idefics3", "tiny-idefics3-sf4", "tiny-smolvlm", "tiny-smolvlm-sf4"}) {
        for (const std::string& dtype : dtypes) {
          smolvid::model::GoldenOptions o;
          o.device = device;
          o.dtype = dtype;
          if (dtype != "float32") {
            // As tests/model/test_golden.cpp: a bound against the float32 reference; greedy ids reported.
            o.atol = 0.25;
            o.require_generated_ids = false;
          }
          const auto r = smolvid::model::run_golden(golden + "/" + fixture, o);
          int64_t agree = 0, total = 0;
          for (const auto& row : r.rows) {
            for (int64_t n : row.leading_agreement) agree += n, total += 12;
            if (!row.pass) fmt::print("  FAIL {} {} {}: max abs diff {:.4g} ({})\n", fixture, row.case_name, row.tensor,
                                      row.max_abs_diff, row.detail);
          }
          fmt::print("golden {:<18} {:<9} on {}: {} of {} comparisons pass; greedy ids agreeing before the first "
                     "difference: {}/{}\n",
                     fixture, dtype, device, r.rows.size() - r.failures(), r.rows.size(), agree, total);
          summary["golden"][fixture][dtype] = {{"failures", r.failures()}, {"rows", r.rows.size()},
                                               {"greedy_agreement", fmt::format("{}/{}", agree, total)}};
          failures += static_cast<int>(r.failures());
        }
      }
    }
    if (!config.empty()) {
      const std::string ckpt = work + "/smolvlm-256m-random";
      if (!std::filesystem::exists(ckpt + "/model.safetensors")) {
        smolvid::model::RandomCheckpointOptions ro;
        ro.config_path = config;
        ro.tensors_path = tensors;
        ro.out_dir = ckpt;
        smolvid::model::write_random_checkpoint(ro);
      }
      for (const std::string& dtype : dtypes) {
        c10::InferenceMode guard;
        smolvid::model::ModelOptions mo;
        mo.device = device;
        mo.dtype = dtype;
        mo.vision_cache_images = 0;
        mo.vision_batch = vision_batch;
        auto t0 = Clock::now();
        auto vlm = smolvid::model::SmolVLM::load(ckpt, mo);
        const double load_s = since(t0);
        const auto& cfg = vlm->config();
        const int64_t side = cfg.vision_config.image_size, seq = vlm->image_seq_len();
        const at::Tensor pixels = at::rand({frames, 3, side, side}) * 2 - 1;
        smolvid::model::Prompt p;
        p.input_ids = make_ids(frames * (seq + 4) + 200, frames, seq, vlm->image_token_id(), cfg.text_config.vocab_size);
        p.pixel_values = pixels;
        smolvid::model::GenerationOptions g;
        g.max_new_tokens = 1;
        vlm->generate(p, g);  // warm-up: kernels, allocator
        t0 = Clock::now();
        const auto res = vlm->generate(p, g);
        const double latency = since(t0);
        smolvid::model::GenerationOptions d;
        d.max_new_tokens = 32;
        d.eos_token_ids = std::vector<int64_t>{};
        const auto dec = vlm->generate(p, d);
        double peak_allocated_gb = -1, peak_reserved_gb = -1;
#ifdef SMOLVID_CUDA_STATS
        if (device.rfind("cuda", 0) == 0) {
          const auto idx = static_cast<c10::DeviceIndex>(device.size() > 5 ? std::atoi(device.c_str() + 5) : 0);
          const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(idx);
          peak_allocated_gb = static_cast<double>(stats.allocated_bytes[0].peak) / 1e9;
          peak_reserved_gb = static_cast<double>(stats.reserved_bytes[0].peak) / 1e9;
          c10::cuda::CUDACachingAllocator::resetPeakStats(idx);
          fmt::print("video {} frames {:<9} on {}: allocator peak {:.3f} GB allocated, {:.3f} GB reserved (model, "
                     "activations, KV cache; the CUDA context is not counted)\n",
                     frames, dtype, device, peak_allocated_gb, peak_reserved_gb);
        }
#endif
        fmt::print("video {} frames {:<9} on {}: {} prompt tokens, latency {:.3f} s (vision {:.3f} s, prefill {:.3f} s "
                   "incl. first token), decode {:.1f} tok/s, load {:.2f} s\n",
                   frames, dtype, device, res.timings.prompt_tokens, latency, res.timings.vision_s,
                   res.timings.prefill_s, dec.timings.decode_tokens_per_s(), load_s);
        summary["video"][dtype] = {{"frames", frames},
                                   {"prompt_tokens", res.timings.prompt_tokens},
                                   {"latency_s", latency},
                                   {"vision_s", res.timings.vision_s},
                                   {"prefill_s", res.timings.prefill_s},
                                   {"decode_tok_s", dec.timings.decode_tokens_per_s()},
                                   {"peak_allocated_gb", peak_allocated_gb},
                                   {"peak_reserved_gb", peak_reserved_gb}};
      }
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "gpu_check: {}\n", e.what());
    return 1;
  }
  fmt::print("{}\n", summary.dump());
  return failures == 0 ? 0 : 1;
}
