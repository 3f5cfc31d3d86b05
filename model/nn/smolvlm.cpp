// SmolVLM: loading, vision encoding (with the feature cache), merging, full forward pass.
#include "model/nn/smolvlm.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <malloc.h>
#include <c10/core/InferenceMode.h>
#include <fmt/core.h>
#include <fmt/ranges.h>  // fmt::join (declared here in newer fmt, e.g. the copy bundled with libtorch 2.x)
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "model/nn/smolvlm_impl.h"
#include "model/nn/threads.h"
#include "model/nn/weights.h"

namespace smolvid::model {

namespace {

bool is_int8(const std::string& s) { return s == "int8" || s == "i8"; }

c10::ScalarType parse_dtype(const std::string& s) {
  if (s == "float32" || s == "f32" || s == "fp32") return c10::ScalarType::Float;
  if (s == "bfloat16" || s == "bf16" || is_int8(s)) return c10::ScalarType::BFloat16;
  throw ModelError(fmt::format("model dtype: expected float32, bfloat16 or int8, got \"{}\"", s));
}

c10::Device parse_device(const std::string& s) {
  try {
    return c10::Device(s);
  } catch (const std::exception& e) {
    throw ModelError(fmt::format("model device: expected cpu, cuda or cuda:N, got \"{}\"", s));
  }
}

void check_architecture(const ModelConfig& c) {
  if (c.vision_config.hidden_act != "gelu_pytorch_tanh") {
    throw ModelError(fmt::format("config.json: vision_config.hidden_act \"{}\" is not supported (expected gelu_pytorch_tanh)",
                                 c.vision_config.hidden_act));
  }
  if (c.text_config.hidden_act != "silu") {
    throw ModelError(fmt::format("config.json: text_config.hidden_act \"{}\" is not supported (expected silu)",
                                 c.text_config.hidden_act));
  }
  if (c.text_config.attention_bias || c.text_config.mlp_bias) {
    throw ModelError("config.json: text_config attention_bias / mlp_bias true is not supported (SmolVLM has none)");
  }
}

// Threads: libtorch's intra-op pool (OpenMP) and OpenBLAS's own pthread pool must not both be
// active, or the idle one spins while the other works and a 2-core machine runs 5-10x slower
// (measured). float32 matmuls run in OpenBLAS: give it the cores and keep ATen serial. bfloat16
// matmuls run in oneDNN on the OpenMP pool: give ATen the cores and keep OpenBLAS serial.
// Without OpenBLAS (another BLAS is the libblas.so.3 alternative) only ATen's count is set.
}  // namespace

void SmolVLM::Impl::use_threads(int threads) const {
  if (threads < 0) return;
  const int n = threads == 0 ? available_cores() : threads;
  using SetThreads = void (*)(int);
  const auto openblas = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (openblas && device.is_cpu() && dtype == c10::ScalarType::Float) {
    at::set_num_threads(1);
    openblas(n);
  } else {
    at::set_num_threads(n);
    if (openblas) openblas(1);
  }
}

int SmolVLM::Impl::decode_thread_count() const {
  if (options.decode_threads > 0) return options.decode_threads;
  return options.threads > 0 ? options.threads : available_cores();
}

namespace {

// Large temporaries (attention scores, MLP activations) are allocated and freed for every block.
// glibc serves blocks over 128 KiB-32 MiB with fresh mmap()s, so every one is page-faulted in again
// (~12 us per 4 KiB page): prefill of a 4,300-token prompt ran 2.4x slower (measured). Keep such
// blocks in the heap for reuse instead. Process-wide, set once, on the first load.
void keep_large_allocations_in_heap() {
  static const bool done = [] {
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)done;
}

// 64-bit hash of a byte range (multiply-xorshift over 8-byte words).
uint64_t hash_bytes(const void* data, size_t n, uint64_t h) {
  const auto* p = static_cast<const uint8_t*>(data);
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * kMul;
  h ^= n;
  h *= kMul;
  return h ^ (h >> 32);
}

uint64_t hash_tensor(const at::Tensor& t, uint64_t seed) {
  const at::Tensor c = t.to(at::kCPU).contiguous();
  uint64_t h = hash_bytes(c.sizes().data(), c.dim() * sizeof(int64_t), seed ^ static_cast<uint64_t>(c.scalar_type()));
  return hash_bytes(c.data_ptr(), c.nbytes(), h);
}

}  // namespace

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::kEos: return "eos";
    case StopReason::kStopString: return "stop_string";
    case StopReason::kMaxNewTokens: return "max_new_tokens";
    case StopReason::kCallback: return "callback";
  }
  return "?";
}

double GenerationTimings::decode_tokens_per_s() const {
  double total = 0;
  for (double s : decode_s) total += s;
  return total > 0 ? decode_s.size() / total : 0;
}

// ---------------------------------------------------------------------------------------------

SmolVLM::SmolVLM(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SmolVLM::~SmolVLM() = default;

std::unique_ptr<SmolVLM> SmolVLM::load(const std::string& dir, const ModelOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  c10::InferenceMode guard;
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->dtype = parse_dtype(options.dtype);
  impl->int8 = is_int8(options.dtype);
  impl->device = parse_device(options.device);
  if (impl->int8 && !impl->device.is_cpu()) {
    throw ModelError(fmt::format("model dtype int8 runs on the CPU only, not on device \"{}\"", options.device));
  }
  if (options.decode_threads < 0) {
    throw ModelError(fmt::format("decode_threads must be >= 0 (0 = as many as threads), got {}", options.decode_threads));
  }
  if (options.vision_batch < 1) throw ModelError(fmt::format("vision_batch must be >= 1, got {}", options.vision_batch));
  if (options.attention_chunk < 1) {
    throw ModelError(fmt::format("attention_chunk must be >= 1, got {}", options.attention_chunk));
  }
  impl->use_threads(options.threads);
  nn::kernels::set_threads(impl->decode_thread_count());
  keep_large_allocations_in_heap();
  impl->files = ModelFiles::load(dir);
  check_architecture(impl->files.config);

  WeightStore store(dir, WeightStoreOptions{impl->dtype, impl->device});
  nn::TakeWeight take = [&store](const std::string& name, const std::vector<int64_t>& shape) {
    return store.take(name, shape);
  };
  nn::TakeInt8 take_int8;
  if (impl->int8) {
    take_int8 = [&store](const std::string& name, const std::vector<int64_t>& shape) {
      return store.take_int8(name, shape);
    };
  }
  impl->net = std::make_shared<nn::SmolVLMNet>(nn::WeightScope(take, "", take_int8), impl->files.config);
  store.check_all_used();
  impl->rotary = std::make_unique<nn::Rotary>(impl->files.config.text_config, impl->dtype, impl->device);
  impl->load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return std::unique_ptr<SmolVLM>(new SmolVLM(std::move(impl)));
}

const ModelConfig& SmolVLM::config() const { return impl_->files.config; }
const std::vector<int64_t>& SmolVLM::eos_token_ids() const { return impl_->files.generation.eos_token_id; }
int64_t SmolVLM::image_token_id() const { return impl_->files.config.image_token_id; }
int64_t SmolVLM::image_seq_len() const { return impl_->files.config.image_seq_len(); }
c10::ScalarType SmolVLM::dtype() const { return impl_->dtype; }
c10::Device SmolVLM::device() const { return impl_->device; }
double SmolVLM::load_seconds() const { return impl_->load_s; }

std::vector<std::pair<std::string, at::Tensor>> SmolVLM::named_parameters() const {
  return impl_->net->named_parameters();
}

// ---------------------------------------------------------------------------------------------

SmolVLM::Impl::VisionOut SmolVLM::Impl::run_vision(const at::Tensor& pixels, const at::Tensor& pixel_mask,
                                                   bool keep_hidden, nn::ActivationDump* dump) const {
  const auto& vc = files.config.vision_config;
  const int64_t n = pixels.size(0);
  VisionOut out;
  out.patch_mask = nn::patch_attention_mask(pixel_mask, vc.patch_size);  // [n, H/p, W/p]
  // Activation dumps are per forward call: run everything in one chunk when dumping.
  const int64_t chunk = dump ? std::max<int64_t>(n, 1) : options.vision_batch;
  std::vector<at::Tensor> feats, hidden;
  for (int64_t i = 0; i < n; i += chunk) {
    const int64_t m = std::min(chunk, n - i);
    const at::Tensor h = net->model->vision_model->forward(pixels.narrow(0, i, m), out.patch_mask.narrow(0, i, m), dump);
    if (keep_hidden) hidden.push_back(h);
    feats.push_back(net->model->connector->forward(h));
  }
  if (n == 0) {
    out.features = at::empty({0, files.config.image_seq_len(), files.config.text_config.hidden_size},
                             pixels.options());
    return out;
  }
  out.features = feats.size() == 1 ? feats[0] : at::cat(feats, 0);
  if (keep_hidden) out.last_hidden = hidden.size() == 1 ? hidden[0] : at::cat(hidden, 0);
  return out;
}

at::Tensor SmolVLM::Impl::embed_with_images(const at::Tensor& input_ids, const at::Tensor& features) const {
  const at::Tensor ids = input_ids.to(device).to(at::kLong);
  at::Tensor embeds = text().embed_tokens()->forward(ids);  // [B, L, Dt]
  const at::Tensor slots = ids.eq(files.config.image_token_id);
  const int64_t n_slots = slots.sum().item<int64_t>();
  const int64_t seq = files.config.image_seq_len();
  const int64_t n_feat = features.defined() ? features.size(0) * features.size(1) : 0;
  if (n_slots != n_feat) {
    throw ModelError(fmt::format(
        "merging image features: the prompt has {} image tokens (id {}) but {} image(s) x {} features = {} were given",
        n_slots, files.config.image_token_id, features.defined() ? features.size(0) : 0, seq, n_feat));
  }
  if (n_slots == 0) return embeds;
  const at::Tensor per_row = slots.sum(1).to(at::kCPU);
  for (int64_t b = 0; b < per_row.size(0); ++b) {
    if (per_row[b].item<int64_t>() % seq != 0) {
      throw ModelError(fmt::format("merging image features: sample {} has {} image tokens, not a multiple of {}", b,
                                   per_row[b].item<int64_t>(), seq));
    }
  }
  embeds.index_put_({slots}, features.reshape({-1, features.size(-1)}).to(embeds.scalar_type()));
  return embeds;
}

std::pair<at::Tensor, at::Tensor> SmolVLM::Impl::real_images(const BatchInputs& in) const {
  // Cast first, then drop images whose every value is 0 (processor padding).
  const at::Tensor pv = in.pixel_values.to(device).to(dtype);
  const int64_t c = pv.size(-3), h = pv.size(-2), w = pv.size(-1);
  const at::Tensor flat = pv.reshape({-1, c, h, w});
  at::Tensor real = flat.ne(0).flatten(1).any(1);  // [B*N]
  if (files.config.family == ModelFamily::kSmolVLM && flat.size(0) > 0 && !real.any().item<bool>()) {
    real[0] = true;
  }
  at::Tensor mask;
  if (in.pixel_attention_mask.defined()) {
    mask = in.pixel_attention_mask.to(device).reshape({-1, h, w}).index({real});
  } else {
    mask = at::ones({flat.size(0), h, w}, pv.options().dtype(at::kBool)).index({real});
  }
  return {flat.index({real}), mask};
}

at::Tensor SmolVLM::Impl::encode_cached(const at::Tensor& pixel_values, const at::Tensor& pixel_attention_mask) {
  if (pixel_values.dim() != 4) {
    throw ModelError(fmt::format("encode_images: pixel_values must be [n, C, H, W], got {} dims", pixel_values.dim()));
  }
  const int64_t n = pixel_values.size(0);
  if (pixel_attention_mask.defined() &&
      (pixel_attention_mask.dim() != 3 || pixel_attention_mask.size(0) != n ||
       pixel_attention_mask.size(1) != pixel_values.size(2) || pixel_attention_mask.size(2) != pixel_values.size(3))) {
    throw ModelError(fmt::format("encode_images: pixel_attention_mask shape [{}] does not match pixel_values [{}]",
                                 fmt::join(pixel_attention_mask.sizes(), ", "), fmt::join(pixel_values.sizes(), ", ")));
  }
  const at::Tensor mask = pixel_attention_mask.defined()
                              ? pixel_attention_mask.to(at::kBool)
                              : at::ones({n, pixel_values.size(2), pixel_values.size(3)}, at::kBool);
  const bool use_cache = options.vision_cache_images > 0;
  std::vector<at::Tensor> out(n);
  std::vector<uint64_t> keys(n);
  std::vector<int64_t> missing;
  last_encoded = last_from_cache = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (use_cache) {
      keys[i] = hash_tensor(mask[i], hash_tensor(pixel_values[i].to(at::kFloat), 0x5EEDull));
      auto it = vision_cache.find(keys[i]);
      if (it != vision_cache.end()) {
        vision_lru.splice(vision_lru.begin(), vision_lru, it->second.lru);
        out[i] = it->second.features;
        ++last_from_cache;
        continue;
      }
    }
    missing.push_back(i);
  }
  if (!missing.empty()) {
    const at::Tensor idx = at::tensor(missing, at::kLong);
    const at::Tensor pixels = pixel_values.index_select(0, idx).to(device).to(dtype);
    const VisionOut v = run_vision(pixels, mask.index_select(0, idx).to(device), false, nullptr);
    last_encoded = static_cast<int64_t>(missing.size());
    for (size_t j = 0; j < missing.size(); ++j) {
      const int64_t i = missing[j];
      out[i] = v.features.narrow(0, static_cast<int64_t>(j), 1).clone();
      if (!use_cache) continue;
      if (vision_cache.count(keys[i])) continue;  // duplicate frame within this call
      vision_lru.push_front(keys[i]);
      vision_cache[keys[i]] = CacheEntry{out[i], vision_lru.begin()};
      while (static_cast<int64_t>(vision_cache.size()) > options.vision_cache_images) {
        vision_cache.erase(vision_lru.back());
        vision_lru.pop_back();
      }
    }
  }
  if (n == 0) {
    return at::empty({0, files.config.image_seq_len(), files.config.text_config.hidden_size},
                     at::TensorOptions().dtype(dtype).device(device));
  }
  return at::cat(out, 0);
}

at::Tensor SmolVLM::encode_images(const at::Tensor& pixel_values, const at::Tensor& pixel_attention_mask) {
  c10::InferenceMode guard;
  return impl_->encode_cached(pixel_values, pixel_attention_mask);
}

void SmolVLM::clear_vision_cache() {
  impl_->vision_cache.clear();
  impl_->vision_lru.clear();
}

int64_t SmolVLM::vision_cache_size() const { return static_cast<int64_t>(impl_->vision_cache.size()); }

nn::KvCache& SmolVLM::Impl::cache_for(int64_t batch, int64_t capacity) {
  if (cache.batch() != batch || cache.capacity() < capacity) {
    cache = nn::KvCache{};  // release the old buffers first
    const int64_t rounded = (capacity + 255) / 256 * 256;
    cache = text().make_cache(batch, rounded, dtype, device);
  }
  cache.length = 0;
  return cache;
}

// ---------------------------------------------------------------------------------------------

ForwardOutputs SmolVLM::forward(const BatchInputs& in, const ForwardOptions& options) {
  c10::InferenceMode guard;
  Impl& m = *impl_;
  ForwardOutputs out;
  nn::ActivationDump* dump = options.output_hidden_states ? &out.activations : nullptr;
  const at::Tensor ids = in.input_ids.to(m.device).to(at::kLong);
  if (ids.dim() != 2) throw ModelError(fmt::format("forward: input_ids must be [B, L], got {} dims", ids.dim()));
  const int64_t b = ids.size(0), l = ids.size(1);

  at::Tensor features;
  if (in.pixel_values.defined()) {
    const auto [pixels, pmask] = m.real_images(in);
    Impl::VisionOut v = m.run_vision(pixels, pmask, true, dump);
    out.patch_attention_mask = v.patch_mask;
    out.vision_last_hidden_state = v.last_hidden;
    out.image_hidden_states = v.features;
    features = v.features;
  }
  out.inputs_embeds = m.embed_with_images(ids, features);

  const at::Tensor mask = in.attention_mask.defined() ? in.attention_mask.to(m.device).to(at::kLong)
                                                      : at::ones({b, l}, ids.options());
  at::Tensor positions;
  if (options.position_ids_from_mask) {
    positions = mask.cumsum(-1).sub_(1).masked_fill_(mask.eq(0), 1);
  } else {
    positions = at::arange(l, ids.options()).unsqueeze(0).expand({b, l});
  }
  nn::AttentionLayout layout;
  layout.query_chunk = m.options.attention_chunk;
  if (!mask.all().item<bool>()) layout.key_valid = mask.ne(0);
  nn::KvCache cache = m.text().make_cache(b, l, m.dtype, m.device);
  const at::Tensor hidden = m.text().forward(out.inputs_embeds, positions, *m.rotary, cache, layout, dump);
  out.logits = m.net->logits(hidden);
  return out;
}

}  // namespace smolvid::model
