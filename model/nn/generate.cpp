// Generation: prefill + KV-cached decoding, greedy or sampled (transformers' logits processors
// in their order: repetition penalty, temperature, top-k, top-p), eos ids, stop strings, streaming.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <limits>

#include "model/nn/smolvlm.h"
#include "model/nn/smolvlm_impl.h"

namespace smolvid::model {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void validate(const GenerationOptions& o) {
  if (o.max_new_tokens < 0) throw ModelError(fmt::format("max_new_tokens must be >= 0, got {}", o.max_new_tokens));
  if (o.do_sample && !(o.temperature > 0)) {
    throw ModelError(fmt::format("temperature must be > 0 when sampling, got {}", o.temperature));
  }
  if (o.top_k < 0) throw ModelError(fmt::format("top_k must be >= 0 (0 = off), got {}", o.top_k));
  if (!(o.top_p > 0 && o.top_p <= 1)) throw ModelError(fmt::format("top_p must be in (0, 1], got {}", o.top_p));
  if (!(o.repetition_penalty > 0)) {
    throw ModelError(fmt::format("repetition_penalty must be > 0 (1 = off), got {}", o.repetition_penalty));
  }
}

// Picks the next token of each row from float32 logits [B, V] (CPU). history [B, T] int64 (CPU):
// every id so far, for the repetition penalty.
class TokenChooser {
 public:
  explicit TokenChooser(const GenerationOptions& o) : o_(o) {
    if (o.do_sample) gen_ = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  }

  at::Tensor choose(at::Tensor scores, const at::Tensor& history) {
    if (o_.repetition_penalty != 1.0) {
      const at::Tensor picked = scores.gather(1, history);
      scores.scatter_(1, history,
                      at::where(picked < 0, picked * o_.repetition_penalty, picked / o_.repetition_penalty));
    }
    if (!o_.do_sample) return scores.argmax(-1);
    const double neg_inf = -std::numeric_limits<double>::infinity();
    if (o_.temperature != 1.0) scores.div_(o_.temperature);
    if (o_.top_k > 0) {
      const int64_t k = std::min<int64_t>(o_.top_k, scores.size(-1));
      const at::Tensor kth = std::get<0>(scores.topk(k, -1)).narrow(-1, k - 1, 1);
      scores.masked_fill_(scores < kth, neg_inf);
    }
    if (o_.top_p < 1.0) {
      const auto sorted = scores.sort(-1, /*descending=*/false);
      const at::Tensor cumulative = std::get<0>(sorted).softmax(-1).cumsum(-1);
      at::Tensor remove = cumulative <= (1.0 - o_.top_p);
      remove.narrow(-1, remove.size(-1) - 1, 1).fill_(false);  // keep at least the most likely token
      scores.masked_fill_(remove.scatter(1, std::get<1>(sorted), remove), neg_inf);
    }
    return at::multinomial(scores.softmax(-1), 1, false, gen_).squeeze(1);
  }

 private:
  const GenerationOptions& o_;
  c10::optional<at::Generator> gen_;
};

// Drives prefill and decoding. `on_token(next)` gets the chosen tokens [B] (CPU int64), may rewrite
// them (finished rows -> pad) and returns whether to continue.
void decode_loop(SmolVLM::Impl& m, const at::Tensor& embeds, const at::Tensor& attention_mask,
                 const at::Tensor& prompt_ids, const GenerationOptions& o, GenerationTimings& t,
                 const std::function<bool(at::Tensor& next)>& on_token) {
  const int64_t b = embeds.size(0), l = embeds.size(1);
  t.prompt_tokens = l;
  if (o.max_new_tokens == 0) return;
  auto start = Clock::now();
  nn::KvCache& cache = m.cache_for(b, l + o.max_new_tokens);
  const at::Tensor mask = attention_mask.to(m.device).to(at::kLong);
  const bool padded = !mask.all().item<bool>();

  nn::AttentionLayout layout;
  layout.query_chunk = m.options.attention_chunk;
  at::Tensor key_valid;  // [B, capacity] bool: the attention mask extended by one 1 per step
  if (padded) {
    key_valid = at::ones({b, cache.capacity()}, mask.options().dtype(at::kBool));
    key_valid.narrow(1, 0, l).copy_(mask.ne(0));
    layout.key_valid = key_valid.narrow(1, 0, l);
  }
  at::Tensor positions = padded ? mask.cumsum(-1).sub_(1).masked_fill_(mask.eq(0), 1)
                                : at::arange(l, mask.options()).unsqueeze(0).expand({b, l});
  at::Tensor next_pos = mask.sum(1, /*keepdim=*/true);  // [B, 1]

  TokenChooser chooser(o);
  at::Tensor history;
  if (o.repetition_penalty != 1.0) history = prompt_ids.to(at::kCPU).to(at::kLong);

  at::Tensor hidden = m.text().forward(embeds, positions, *m.rotary, cache, layout, nullptr);
  at::Tensor logits = m.net->logits(hidden.narrow(1, l - 1, 1)).squeeze(1).to(at::kFloat).to(at::kCPU);
  // Decode steps run with their own thread count; the prompt's count comes back on every exit. One
  // sequence decodes on the kernels' own workers (TextModel's row path), so libtorch's few
  // remaining small ops run serially; a batch decodes with libtorch's products on the decode count.
  struct ThreadScope {
    const SmolVLM::Impl& m;
    bool active;
    ~ThreadScope() {
      if (active) m.use_threads(m.options.threads);
    }
  } scope{m, m.options.threads >= 0 && o.max_new_tokens > 1};
  if (scope.active) m.use_threads(b == 1 ? 1 : m.decode_thread_count());
  for (int64_t step = 0;; ++step) {
    at::Tensor next = chooser.choose(logits, history);  // [B]
    if (step == 0) {
      t.prefill_s = seconds_since(start);
    } else {
      t.decode_s.push_back(seconds_since(start));
    }
    const bool go_on = on_token(next);
    if (!go_on || step + 1 >= o.max_new_tokens) break;
    start = Clock::now();
    if (history.defined()) history = at::cat({history, next.view({b, 1})}, 1);
    const at::Tensor step_embeds = m.text().embed_tokens()->forward(next.view({b, 1}).to(m.device));
    layout.past = cache.length;
    if (padded) layout.key_valid = key_valid.narrow(1, 0, cache.length + 1);
    hidden = m.text().forward(step_embeds, next_pos, *m.rotary, cache, layout, nullptr);
    next_pos = next_pos + 1;
    logits = m.net->logits(hidden).squeeze(1).to(at::kFloat).to(at::kCPU);
  }
}

// Token ids at the end of `tokens` whose text can hold a stop string of `max_len` bytes
// (every token decodes to at least one byte).
std::vector<int64_t> tail(const std::vector<int64_t>& tokens, size_t max_len) {
  const size_t n = std::min(tokens.size(), max_len + 1);
  return std::vector<int64_t>(tokens.end() - static_cast<std::ptrdiff_t>(n), tokens.end());
}

}  // namespace

GenerateResult SmolVLM::generate(const Prompt& prompt, const GenerationOptions& options, const TokenCallback& on_token,
                                 const Detokenizer& detokenize) {
  c10::InferenceMode guard;
  validate(options);
  if (!options.stop_strings.empty() && !detokenize) {
    throw ModelError("generate: stop_strings need a Detokenizer to turn tokens into text");
  }
  if (prompt.input_ids.empty()) throw ModelError("generate: the prompt has no tokens");
  Impl& m = *impl_;
  GenerateResult result;
  const auto start = Clock::now();

  at::Tensor features = prompt.image_features;
  if (!features.defined() && prompt.pixel_values.defined()) {
    const auto vstart = Clock::now();
    features = m.encode_cached(prompt.pixel_values, prompt.pixel_attention_mask);
    result.timings.vision_s = seconds_since(vstart);
    result.timings.images_encoded = m.last_encoded;
    result.timings.images_from_cache = m.last_from_cache;
  }
  const at::Tensor ids = at::tensor(prompt.input_ids, at::kLong).view({1, -1});
  const at::Tensor embeds = m.embed_with_images(ids, features.defined() ? features.to(m.device) : features);

  const std::vector<int64_t>& eos = options.eos_token_ids ? *options.eos_token_ids : m.files.generation.eos_token_id;
  size_t max_stop = 0;
  for (const auto& s : options.stop_strings) max_stop = std::max(max_stop, s.size());

  decode_loop(m, embeds, at::ones_like(ids), ids, options, result.timings, [&](at::Tensor& next) {
    const int64_t tok = next[0].item<int64_t>();
    result.tokens.push_back(tok);
    const bool keep = on_token ? on_token(tok) : true;
    if (std::find(eos.begin(), eos.end(), tok) != eos.end()) {
      result.stop_reason = StopReason::kEos;
      return false;
    }
    if (max_stop > 0) {
      const std::string text = detokenize(tail(result.tokens, max_stop));
      for (const auto& s : options.stop_strings) {
        if (!s.empty() && text.find(s) != std::string::npos) {
          result.stop_reason = StopReason::kStopString;
          result.stop_string = s;
          return false;
        }
      }
    }
    if (!keep) {
      result.stop_reason = StopReason::kCallback;
      return false;
    }
    return true;
  });
  result.timings.total_s = seconds_since(start);
  return result;
}

at::Tensor SmolVLM::generate_batch(const BatchInputs& in, const GenerationOptions& options, GenerationTimings* timings) {
  c10::InferenceMode guard;
  validate(options);
  Impl& m = *impl_;
  GenerationTimings t;
  const auto start = Clock::now();
  const at::Tensor ids = in.input_ids.to(at::kLong);
  if (ids.dim() != 2) throw ModelError(fmt::format("generate_batch: input_ids must be [B, L], got {} dims", ids.dim()));
  const int64_t b = ids.size(0);
  at::Tensor features;
  if (in.pixel_values.defined()) {
    const auto vstart = Clock::now();
    const auto [pixels, pmask] = m.real_images(in);
    features = m.run_vision(pixels, pmask, false, nullptr).features;
    t.vision_s = seconds_since(vstart);
    t.images_encoded = pixels.size(0);
  }
  const at::Tensor embeds = m.embed_with_images(ids, features);
  const at::Tensor mask = in.attention_mask.defined() ? in.attention_mask : at::ones_like(ids);

  const std::vector<int64_t>& eos = options.eos_token_ids ? *options.eos_token_ids : m.files.generation.eos_token_id;
  int64_t pad = eos.empty() ? 0 : eos[0];
  if (m.files.generation.pad_token_id) {
    pad = *m.files.generation.pad_token_id;
  } else if (m.files.config.pad_token_id) {
    pad = *m.files.config.pad_token_id;
  }
  std::vector<at::Tensor> steps;
  at::Tensor unfinished = at::ones({b}, at::kBool);
  const at::Tensor eos_t = at::tensor(eos.empty() ? std::vector<int64_t>{-1} : eos, at::kLong);
  decode_loop(m, embeds, mask, ids, options, t, [&](at::Tensor& next) {
    next = at::where(unfinished, next, at::full_like(next, pad));
    steps.push_back(next.clone());
    if (!eos.empty()) unfinished.logical_and_(at::isin(next, eos_t).logical_not());
    return unfinished.any().item<bool>();
  });
  t.total_s = seconds_since(start);
  if (timings) *timings = t;
  if (steps.empty()) return at::empty({b, 0}, at::kLong);
  return at::stack(steps, 1);
}

}  // namespace smolvid::model
