// bench_model: SmolVLM speed and memory on a full-size checkpoint (random weights are fine: the
// work does not depend on the values). Measures, per dtype, in a fresh child process each (so peak
// RSS is per configuration): load time, vision encoder per 512x512 tile, prefill tokens/s for a
// 1-tile+global image prompt and a 64-frame video prompt (~4,300 tokens), decode tokens/s at
// context 1k and 4k, peak resident memory. Prints ratios against llama.cpp's figures measured on
// the same kind of 2-core machine (issue 3).
//
//   smolvid debug random-checkpoint --config .../SmolVLM2-256M-Video-Instruct/reconstructed/config.json
//       --tensors .../tensors.json --out /tmp/m256-f32 --dtype f32
//   smolvid debug random-checkpoint --config .../SmolVLM-256M-Instruct/config.json
//       --tensors .../tensors.json --out /tmp/m256-bf16 --dtype bf16
//   bench_model --f32 /tmp/m256-f32 --bf16 /tmp/m256-bf16 [--threads 2] [--decode-threads N] [--quick]
//   (--decode-threads: ModelOptions::decode_threads, default the library's default)
//   bench_model --only decode|prefill|tile --dtype DTYPE --dir DIR [--ctx N] [--new-tokens N] [--threads N]
//       [--decode-threads N]: one measurement in this process, printed as one JSON line (what
//       bench/peer/llamacpp.sh runs, one fresh process per step): decode: --new-tokens tokens (default
//       32) after a --ctx-token prompt; prefill: a --ctx-token text prompt (after one warm-up); tile: one
//       512x512 tile (after one warm-up). DTYPE is passed to ModelOptions::dtype as given.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/core.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/prompt_ids.h"
#include "model/nn/smolvlm.h"
#include "model/nn/threads.h"

namespace {

using Clock = std::chrono::steady_clock;
using smolvid::model::GenerationOptions;
using smolvid::model::Prompt;
using smolvid::model::SmolVLM;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// CPU seconds of this process (all threads): on a shared machine, wall time depends on the
// neighbours, CPU time much less.
double cpu_s() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

using smolvid::bench::make_ids;

nlohmann::json run_child(const std::string& dir, const std::string& dtype, int threads, int decode_threads, bool quick) {
  c10::InferenceMode guard;
  nlohmann::json r;
  r["dtype"] = dtype;
  smolvid::model::ModelOptions mo;
  mo.dtype = dtype;
  mo.threads = threads;
  if (decode_threads >= 0) mo.decode_threads = decode_threads;
  mo.vision_cache_images = 0;
  auto t0 = Clock::now();
  auto vlm = SmolVLM::load(dir, mo);
  r["load_s"] = since(t0);
  r["rss_after_load_mb"] = peak_rss_mb();
  const auto& cfg = vlm->config();
  const int64_t side = cfg.vision_config.image_size, seq = vlm->image_seq_len();
  const int64_t vocab = cfg.text_config.vocab_size, img = vlm->image_token_id();

  // Vision: one 512x512 tile per call (the first call pays one-time allocations).
  const at::Tensor pixels = at::rand({2, 3, side, side}) * 2 - 1;
  vlm->encode_images(pixels.narrow(0, 0, 1));
  const int reps = quick ? 1 : 3;
  t0 = Clock::now();
  double c0 = cpu_s();
  for (int i = 0; i < reps; ++i) vlm->encode_images(pixels.narrow(0, 1, 1));
  r["vision_s_per_tile"] = since(t0) / reps;
  r["vision_cpu_s_per_tile"] = (cpu_s() - c0) / reps;
  const at::Tensor feats2 = vlm->encode_images(pixels);  // tile + global image
  r["peak_rss_after_vision_mb"] = peak_rss_mb();

  GenerationOptions one;
  one.max_new_tokens = 1;
  auto prefill = [&](int64_t length, int64_t images, const at::Tensor& feats) {
    Prompt p;
    p.input_ids = make_ids(length, images, seq, img, vocab);
    p.image_features = feats;
    const auto res = vlm->generate(p, one);
    return res.timings.prefill_tokens_per_s();
  };
  // 1 tile + global image: 2 x 64 image tokens plus row/global markers and a question (~170 ids).
  prefill(170, 2, feats2);  // warm-up
  r["prefill_image_tok_s"] = prefill(170, 2, feats2);
  r["prefill_image_tokens"] = 170;
  r["peak_rss_after_image_prefill_mb"] = peak_rss_mb();
  // 64-frame video: 64 x (64 image tokens + "\nFrame from MM:SS:" ~ 3 + markers) + intro ~ 4,300 ids.
  const at::Tensor frame_feats = feats2.narrow(0, 0, 1).expand({64, seq, feats2.size(2)}).contiguous();
  r["prefill_video_tok_s"] = prefill(4300, 64, frame_feats);
  r["prefill_video_tokens"] = 4300;
  r["peak_rss_after_video_prefill_mb"] = peak_rss_mb();

  for (int64_t ctx : {1000, 4000}) {
    GenerationOptions g;
    g.max_new_tokens = quick ? 8 : 32;
    g.eos_token_ids = std::vector<int64_t>{};
    Prompt p;
    p.input_ids = make_ids(ctx, 0, seq, img, vocab);
    const auto res = vlm->generate(p, g);
    r[fmt::format("decode_tok_s_ctx{}", ctx)] = res.timings.decode_tokens_per_s();
  }
  r["peak_rss_mb"] = peak_rss_mb();
  return r;
}

// One measurement (see --only in the header).
nlohmann::json run_only(const std::string& work, const std::string& dir, const std::string& dtype, int threads,
                        int decode_threads, int64_t ctx, int64_t new_tokens) {
  c10::InferenceMode guard;
  smolvid::model::ModelOptions mo;
  mo.dtype = dtype;
  mo.threads = threads;
  if (decode_threads >= 0) mo.decode_threads = decode_threads;
  mo.vision_cache_images = 0;
  auto vlm = SmolVLM::load(dir, mo);
  const auto& cfg = vlm->config();
  const int64_t seq = vlm->image_seq_len(), vocab = cfg.text_config.vocab_size, img = vlm->image_token_id();
  nlohmann::json r;
  r["work"] = work;
  r["dtype"] = dtype;
  r["threads"] = threads;
  if (work == "tile") {
    const int64_t side = cfg.vision_config.image_size;
    const at::Tensor pixels = at::rand({2, 3, side, side}) * 2 - 1;
    vlm->encode_images(pixels.narrow(0, 0, 1));
    const auto t0 = Clock::now();
    vlm->encode_images(pixels.narrow(0, 1, 1));
    r["tile_s"] = since(t0);
  } else if (work == "prefill") {
    GenerationOptions one;
    one.max_new_tokens = 1;
    Prompt p;
    p.input_ids = make_ids(ctx, 0, seq, img, vocab);
    vlm->generate(p, one);  // warm-up
    const auto res = vlm->generate(p, one);
    r["tokens"] = ctx;
    r["tok_s"] = res.timings.prefill_tokens_per_s();
  } else if (work == "decode") {
    GenerationOptions g;
    g.max_new_tokens = new_tokens + 1;  // the first token comes from the prefill
    g.eos_token_ids = std::vector<int64_t>{};
    Prompt p;
    p.input_ids = make_ids(ctx, 0, seq, img, vocab);
    const auto res = vlm->generate(p, g);
    r["ctx"] = ctx;
    r["tokens"] = static_cast<int64_t>(res.timings.decode_s.size());
    r["tok_s"] = res.timings.decode_tokens_per_s();
  } else {
    throw std::runtime_error("bench_model: --only takes decode, prefill or tile, not \"" + work + "\"");
  }
  r["peak_rss_mb"] = peak_rss_mb();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> dirs;
  int threads = 2;
  int decode_threads = -1;  // -1: ModelOptions' default
  bool quick = false;
  std::string child_dtype, child_dir;
  std::string only, only_dtype, only_dir;
  int64_t ctx = 1024, new_tokens = 32;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "bench_model: {} needs a value\n", a);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--f32") dirs["float32"] = next();
    else if (a == "--bf16") dirs["bfloat16"] = next();
    else if (a == "--threads") threads = std::atoi(next().c_str());
    else if (a == "--decode-threads") decode_threads = std::atoi(next().c_str());
    else if (a == "--quick") quick = true;
    else if (a == "--only") only = next();
    else if (a == "--dtype") only_dtype = next();
    else if (a == "--dir") only_dir = next();
    else if (a == "--ctx") ctx = std::atoll(next().c_str());
    else if (a == "--new-tokens") new_tokens = std::atoll(next().c_str());
    else if (a == "--child") {
      child_dtype = next();
      child_dir = next();
    } else {
      fmt::print(stderr, "usage: bench_model --f32 DIR [--bf16 DIR] [--threads N] [--decode-threads N] [--quick]\n");
      return 2;
    }
  }
  if (!only.empty()) {
    if (only_dtype.empty() || only_dir.empty() || ctx < 1 || new_tokens < 1) {
      fmt::print(stderr, "bench_model: --only needs --dtype DTYPE --dir DIR (and --ctx, --new-tokens >= 1)\n");
      return 2;
    }
    try {
      fmt::print("{}\n", run_only(only, only_dir, only_dtype, threads, decode_threads, ctx, new_tokens).dump());
    } catch (const std::exception& e) {
      fmt::print(stderr, "bench_model: {}\n", e.what());
      return 1;
    }
    return 0;
  }
  if (!child_dtype.empty()) {
    fmt::print("{}\n", run_child(child_dir, child_dtype, threads, decode_threads, quick).dump());
    return 0;
  }
  if (dirs.empty()) {
    fmt::print(stderr, "usage: bench_model --f32 DIR [--bf16 DIR] [--threads N] [--decode-threads N] [--quick]\n"
                       "(make DIR with `smolvid debug random-checkpoint`, see the header of bench/bench_model.cpp)\n");
    return 2;
  }
  // llama.cpp on the same kind of machine, 2 threads (issue 3).
  const std::map<std::string, std::map<std::string, double>> peer = {
      {"float32", {{"vision_s_per_tile", 1.25}, {"prefill", 650}, {"decode", 50}, {"peak_mb", 1210}}},
      {"bfloat16", {{"vision_s_per_tile", 0.92}, {"prefill", 900}, {"decode", 83}, {"peak_mb", 710}}},
  };
  for (const auto& [dtype, dir] : dirs) {
    const std::string cmd = fmt::format("'/proc/{}/exe' --child {} '{}' --threads {} --decode-threads {}{}", getpid(),
                                        dtype, dir, threads, decode_threads, quick ? " --quick" : "");
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    while (p && fgets(buf, sizeof buf, p)) out += buf;
    if (!p || pclose(p) != 0) {
      fmt::print(stderr, "bench_model: child for {} failed:\n{}\n", dtype, out);
      return 1;
    }
    const auto r = nlohmann::json::parse(out);
    const auto& ref = peer.at(dtype);
    fmt::print("== {} ({}), {} threads\n", dtype, dir, threads);
    fmt::print("  load                        {:8.3f} s\n", r["load_s"].get<double>());
    fmt::print("  vision per 512x512 tile     {:8.3f} s    llama.cpp {:.2f} s  -> {:.2f}x faster\n",
               r["vision_s_per_tile"].get<double>(), ref.at("vision_s_per_tile"),
               ref.at("vision_s_per_tile") / r["vision_s_per_tile"].get<double>());
    fmt::print("  vision CPU time per tile    {:8.3f} s (all threads)\n", r["vision_cpu_s_per_tile"].get<double>());
    fmt::print("  prefill 1 tile + global     {:8.1f} tok/s ({} tokens)  llama.cpp ~{:.0f} -> {:.2f}x\n",
               r["prefill_image_tok_s"].get<double>(), r["prefill_image_tokens"].get<int>(), ref.at("prefill"),
               r["prefill_image_tok_s"].get<double>() / ref.at("prefill"));
    fmt::print("  prefill 64-frame video      {:8.1f} tok/s ({} tokens)  llama.cpp ~{:.0f} -> {:.2f}x\n",
               r["prefill_video_tok_s"].get<double>(), r["prefill_video_tokens"].get<int>(), ref.at("prefill"),
               r["prefill_video_tok_s"].get<double>() / ref.at("prefill"));
    for (const char* k : {"decode_tok_s_ctx1000", "decode_tok_s_ctx4000"}) {
      fmt::print("  {:<27} {:8.1f} tok/s   llama.cpp ~{:.0f} -> {:.2f}x\n", k, r[k].get<double>(), ref.at("decode"),
                 r[k].get<double>() / ref.at("decode"));
    }
    fmt::print("  peak RSS after load         {:8.0f} MB\n", r["rss_after_load_mb"].get<double>());
    fmt::print("  peak RSS after vision       {:8.0f} MB\n", r["peak_rss_after_vision_mb"].get<double>());
    fmt::print("  peak RSS after image prefill{:8.0f} MB\n", r["peak_rss_after_image_prefill_mb"].get<double>());
    fmt::print("  peak RSS (video prefill)    {:8.0f} MB   llama.cpp {:.0f} MB -> {:.2f}x\n",
               r["peak_rss_after_video_prefill_mb"].get<double>(), ref.at("peak_mb"),
               r["peak_rss_after_video_prefill_mb"].get<double>() / ref.at("peak_mb"));
    fmt::print("  peak RSS (all)              {:8.0f} MB\n", r["peak_rss_mb"].get<double>());
  }
  return 0;
}
