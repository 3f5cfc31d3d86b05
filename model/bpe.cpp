// model/bpe.cpp: the byte-level BPE engine (see bpe.h), exact to Hugging Face `tokenizers`, and
// Tokenizer's encode/decode on it (see tokenizer.h).
#include "model/bpe.h"

#include <algorithm>
#include <queue>

namespace smolvid::model {
namespace bpe {
namespace {

struct Part {
  size_t begin;
  size_t end;
  bool is_match;
};

// NormalizedString::split of `tokenizers`: the parts between and at matches, combined per behavior.
void split_piece(const text::Regex& re, std::string_view piece, SplitBehavior behavior, bool invert,
                 std::vector<std::string_view>& out) {
  if (behavior == SplitBehavior::kIsolated && !invert) {
    size_t prev = 0;
    re.for_each_match(piece, [&](size_t b, size_t e) {
      if (prev != b) out.push_back(piece.substr(prev, b - prev));
      out.push_back(piece.substr(b, e - b));
      prev = e;
    });
    if (prev != piece.size()) out.push_back(piece.substr(prev));
    return;
  }
  std::vector<Part> parts;
  size_t prev = 0;
  re.for_each_match(piece, [&](size_t b, size_t e) {
    if (prev != b) parts.push_back({prev, b, invert});
    parts.push_back({b, e, !invert});
    prev = e;
  });
  if (prev != piece.size()) parts.push_back({prev, piece.size(), invert});

  std::vector<Part> kept;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Part& p : parts) {
        if (!p.is_match) kept.push_back(p);
      }
      break;
    case SplitBehavior::kIsolated:
      kept = parts;
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Part& p : parts) {
        if (p.is_match && !previous_match && !kept.empty()) {
          kept.back().end = p.end;
        } else {
          kept.push_back(p);
        }
        previous_match = p.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->is_match && !previous_match && !kept.empty()) {
          kept.back().begin = it->begin;
        } else {
          kept.push_back(*it);
        }
        previous_match = it->is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    case SplitBehavior::kContiguous:
      for (const Part& p : parts) {
        if (!kept.empty() && p.is_match == previous_match) {
          kept.back().end = p.end;
        } else {
          kept.push_back(p);
        }
        previous_match = p.is_match;
      }
      break;
  }
  for (const Part& p : kept) {
    if (p.end > p.begin) out.push_back(piece.substr(p.begin, p.end - p.begin));
  }
}

uint64_t mix64(uint64_t x) {  // splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t hash_bytes(std::string_view s) {  // FNV-1a, then mixed
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return mix64(h);
}

}  // namespace

void AddedMatcher::add(const std::string& content, size_t token_index) {
  if (content.empty()) return;
  int node = 0;
  for (unsigned char c : content) {
    int child = find_child(node, c);
    if (child < 0) {
      child = static_cast<int>(nodes_.size());
      nodes_.push_back({});
      nodes_[node].children.emplace_back(c, child);
    }
    node = child;
  }
  nodes_[node].token_index = static_cast<int>(token_index);
  first_byte_[static_cast<unsigned char>(content[0])] = true;
  empty_ = false;
}

std::pair<size_t, int> AddedMatcher::longest_at(std::string_view text, size_t pos) const {
  if (!first_byte_[static_cast<unsigned char>(text[pos])]) return {0, -1};
  int node = 0;
  std::pair<size_t, int> best{0, -1};
  for (size_t i = pos; i < text.size(); ++i) {
    node = find_child(node, static_cast<unsigned char>(text[i]));
    if (node < 0) break;
    if (nodes_[node].token_index >= 0) best = {i + 1 - pos, nodes_[node].token_index};
  }
  return best;
}

int AddedMatcher::find_child(int node, unsigned char c) const {
  for (const auto& [byte, child] : nodes_[node].children) {
    if (byte == c) return child;
  }
  return -1;
}

void StringIdTable::reserve(size_t n) {
  if (n * 2 > slots_.size()) rehash(std::max<size_t>(64, next_pow2(n * 2)));
}

void StringIdTable::set(std::string_view key, uint32_t id) {
  if ((keys_.size() + 1) * 2 > slots_.size()) rehash(std::max<size_t>(64, slots_.size() * 2));
  const uint64_t h = hash_bytes(key);
  for (size_t i = h & mask_;; i = (i + 1) & mask_) {
    Slot& slot = slots_[i];
    if (slot.index == kNoId) {
      slot = {h, static_cast<uint32_t>(keys_.size())};
      keys_.emplace_back(key);
      ids_.push_back(id);
      return;
    }
    if (slot.hash == h && keys_[slot.index] == key) {
      ids_[slot.index] = id;
      return;
    }
  }
}

uint32_t StringIdTable::find(std::string_view key) const {
  if (slots_.empty()) return kNoId;
  const uint64_t h = hash_bytes(key);
  for (size_t i = h & mask_;; i = (i + 1) & mask_) {
    const Slot& slot = slots_[i];
    if (slot.index == kNoId) return kNoId;
    if (slot.hash == h && keys_[slot.index] == key) return ids_[slot.index];
  }
}

size_t StringIdTable::next_pow2(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

void StringIdTable::rehash(size_t capacity) {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  for (const Slot& s : old) {
    if (s.index == kNoId) continue;
    size_t i = s.hash & mask_;
    while (slots_[i].index != kNoId) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

void MergeTable::reserve(size_t n) {
  size_t capacity = 64;
  while (capacity < n * 2) capacity <<= 1;
  if (capacity > keys_.size()) rehash(capacity);
}

void MergeTable::set(uint64_t key, uint64_t value) {
  if ((count_ + 1) * 2 > keys_.size()) rehash(std::max<size_t>(64, keys_.size() * 2));
  for (size_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
    if (keys_[i] == kEmpty) {
      keys_[i] = key;
      values_[i] = value;
      ++count_;
      return;
    }
    if (keys_[i] == key) {
      values_[i] = value;
      return;
    }
  }
}

uint64_t MergeTable::find(uint64_t key) const {
  if (keys_.empty()) return kNoMerge;
  for (size_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
    if (keys_[i] == key) return values_[i];
    if (keys_[i] == kEmpty) return kNoMerge;
  }
}

void MergeTable::rehash(size_t capacity) {
  std::vector<uint64_t> old_keys = std::move(keys_), old_values = std::move(values_);
  keys_.assign(capacity, kEmpty);
  values_.assign(capacity, 0);
  mask_ = capacity - 1;
  count_ = 0;
  for (size_t i = 0; i < old_keys.size(); ++i) {
    if (old_keys[i] != kEmpty) set(old_keys[i], old_values[i]);
  }
}

}  // namespace bpe

namespace {

using namespace bpe;  // NOLINT: the engine's own types

constexpr size_t kMaxCachedPieceBytes = 256;
constexpr size_t kMaxCacheEntries = 200000;
constexpr size_t kLargeWordSymbols = 128;  // above this, BPE uses a heap instead of rescanning

char32_t last_char(std::string_view s) {
  size_t i = s.size();
  while (i > 0 && (static_cast<uint8_t>(s[i - 1]) & 0xC0) == 0x80) --i;
  if (i == 0) return 0;
  char32_t cp = 0;
  text::decode_utf8(s, i - 1, &cp);
  return cp;
}

}  // namespace

void Tokenizer::Impl::add_vocab_entry(const std::string& token, uint32_t id) {
  vocab.set(token, id);
  if (id >= id_token.size()) {
    id_token.resize(id + 1);
    id_present.resize(id + 1, 0);
  }
  id_token[id] = token;
  id_present[id] = 1;
}

void Tokenizer::Impl::add_added_token(AddedToken t, bool match_raw) {
  if (t.id < 0 || t.id > 0x7FFFFFFF) {
    throw TokenizerError(fmt::format("tokenizer {}: added token '{}' has invalid id {}", source, t.content, t.id));
  }
  if (added_by_content.count(t.content)) return;
  const auto id = static_cast<uint32_t>(t.id);
  if (id >= id_token.size()) {
    id_token.resize(id + 1);
    id_present.resize(id + 1, 0);
  }
  if (id_present[id] && id_token[id] != t.content) {
    throw TokenizerError(fmt::format("tokenizer {}: added token '{}' claims id {}, which the vocabulary gives to '{}'",
                                     source, t.content, id, id_token[id]));
  }
  id_token[id] = t.content;
  id_present[id] = 1;
  added_by_content[t.content] = added.size();
  (match_raw || !t.normalized ? raw_matcher : normalized_matcher).add(t.content, added.size());
  added.push_back(std::move(t));
}

void Tokenizer::Impl::finish(const std::vector<uint32_t>& special_ids) {
  const auto& b2u = text::byte_to_unicode();
  for (int b = 0; b < 256; ++b) {
    std::string s;
    text::append_utf8(s, b2u[b]);
    // `tokenizers` drops a byte whose symbol is missing (the SmolVLM vocabulary lacks 21 of them:
    // a few control characters and bytes that never occur in UTF-8 text, plus F1/F2).
    byte_ids[b] = vocab.find(s);
  }
  id_bytes.assign(id_token.size(), std::string());
  id_special.assign(id_token.size(), 0);
  id_legacy_added.assign(id_token.size(), 0);
  for (size_t id = 0; id < id_token.size(); ++id) {
    if (id_present[id]) id_bytes[id] = byte_level_decode(id_token[id]);
  }
  for (uint32_t id : special_ids) id_special[id] = 1;
  word_char = std::make_unique<text::Regex>(R"(\w)");
}

std::string Tokenizer::Impl::byte_level_decode(const std::string& token) {
  std::string out;
  size_t i = 0;
  while (i < token.size()) {
    char32_t cp = 0;
    const size_t n = text::decode_utf8(token, i, &cp);
    const int b = n ? text::unicode_to_byte(cp) : -1;
    if (b < 0) return token;
    out.push_back(static_cast<char>(b));
    i += n;
  }
  return out;
}

bool Tokenizer::Impl::is_word_char(char32_t cp) const {
  if (cp == 0) return false;
  std::string s;
  text::append_utf8(s, cp);
  return word_char->full_match(s);
}

void Tokenizer::Impl::find_added(std::string_view text, const AddedMatcher& matcher, std::vector<Segment>& out) const {
  if (matcher.empty()) {
    out.push_back({0, text.size(), -1});
    return;
  }
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const auto [len, index] = matcher.longest_at(text, pos);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& tok = added[static_cast<size_t>(index)];
    size_t start = pos;
    size_t stop = pos + len;
    pos = stop;
    if (tok.single_word) {
      const bool start_space = start == 0 || !is_word_char(last_char(text.substr(0, start)));
      char32_t next = 0;
      const bool stop_space = stop == text.size() || !text::decode_utf8(text, stop, &next) || !is_word_char(next);
      if (!start_space || !stop_space) continue;
    }
    if (tok.lstrip) {
      size_t s = start;
      while (s > start_offset) {
        size_t b = s - 1;
        while (b > 0 && (static_cast<uint8_t>(text[b]) & 0xC0) == 0x80) --b;
        char32_t cp = 0;
        if (!text::decode_utf8(text, b, &cp) || !text::is_unicode_whitespace(cp)) break;
        s = b;
      }
      start = s;
    }
    if (tok.rstrip) {
      char32_t cp = 0;
      size_t n = 0;
      while (stop < text.size() && (n = text::decode_utf8(text, stop, &cp)) && text::is_unicode_whitespace(cp)) stop += n;
      pos = stop;
    }
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, index});
    start_offset = stop;
  }
  if (start_offset < text.size()) out.push_back({start_offset, text.size(), -1});
}

void Tokenizer::Impl::pretokenize(std::string_view segment, std::vector<std::string_view>& pieces,
                                  std::vector<std::string_view>& next, std::deque<std::string>& storage) const {
  pieces.clear();
  pieces.push_back(segment);
  for (const PreTokStep& step : pretok) {
    next.clear();
    for (std::string_view p : pieces) {
      if (step.kind == PreTokStep::Kind::kByteLevel) {
        if (step.add_prefix_space && p[0] != ' ') {
          storage.push_back(" " + std::string(p));
          p = storage.back();
        }
        if (!step.regex) {
          next.push_back(p);
          continue;
        }
      }
      split_piece(*step.regex, p, step.behavior, step.invert, next);
    }
    pieces.swap(next);
  }
}

uint64_t Tokenizer::Impl::merge_of(uint32_t left, uint32_t right) const {
  return merges.find((uint64_t{left} << 32) | right);
}

void Tokenizer::Impl::merge_small(std::vector<uint32_t>& syms) const {
  if (syms.size() < 2) return;
  std::vector<uint64_t> pair(syms.size() - 1);
  for (size_t i = 0; i + 1 < syms.size(); ++i) pair[i] = merge_of(syms[i], syms[i + 1]);
  while (true) {
    size_t best = pair.size();
    uint64_t best_value = kNoMerge;
    for (size_t i = 0; i < pair.size(); ++i) {
      if (pair[i] < best_value) {
        best_value = pair[i];
        best = i;
      }
    }
    if (best == pair.size()) break;
    syms[best] = static_cast<uint32_t>(best_value);
    syms.erase(syms.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    pair.erase(pair.begin() + static_cast<std::ptrdiff_t>(best));
    if (best > 0) pair[best - 1] = merge_of(syms[best - 1], syms[best]);
    if (best < pair.size()) pair[best] = merge_of(syms[best], syms[best + 1]);
  }
}

void Tokenizer::Impl::merge_large(std::vector<uint32_t>& syms) const {
  const size_t n = syms.size();
  std::vector<int64_t> prev(n), next(n);
  std::vector<uint8_t> alive(n, 1);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int64_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int64_t>(i) + 1 : -1;
  }
  using Cand = std::pair<uint64_t, uint64_t>;  // (rank << 32 | position, merged id)
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](int64_t i) {
    if (i < 0 || next[i] < 0) return;
    const uint64_t m = merge_of(syms[i], syms[next[i]]);
    if (m != kNoMerge) heap.push({(m & 0xFFFFFFFF00000000ull) | static_cast<uint64_t>(i), m & 0xFFFFFFFFull});
  };
  for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int64_t>(i));
  while (!heap.empty()) {
    const Cand c = heap.top();
    heap.pop();
    const auto i = static_cast<int64_t>(c.first & 0xFFFFFFFFull);
    if (!alive[i] || next[i] < 0) continue;
    const uint64_t m = merge_of(syms[i], syms[next[i]]);
    if (m == kNoMerge || (m >> 32) != (c.first >> 32)) continue;  // stale entry
    const int64_t j = next[i];
    syms[i] = static_cast<uint32_t>(m);
    alive[j] = 0;
    next[i] = next[j];
    if (next[j] >= 0) prev[next[j]] = i;
    push(prev[i]);
    push(i);
  }
  std::vector<uint32_t> out;
  for (size_t i = 0; i < n; ++i) {
    if (alive[i]) out.push_back(syms[i]);
  }
  syms.swap(out);
}

void Tokenizer::Impl::bpe_uncached(std::string_view piece, std::vector<uint32_t>& syms) const {
  syms.clear();
  if (ignore_merges) {
    std::string mapped;
    for (unsigned char b : piece) text::append_utf8(mapped, text::byte_to_unicode()[b]);
    const uint32_t id = vocab.find(mapped);
    if (id != kNoId) {
      syms.push_back(id);
      return;
    }
  }
  syms.reserve(piece.size());
  for (unsigned char b : piece) {
    if (byte_ids[b] != kNoId) syms.push_back(byte_ids[b]);
  }
  if (syms.size() > kLargeWordSymbols) {
    merge_large(syms);
  } else {
    merge_small(syms);
  }
}

void Tokenizer::Impl::bpe(std::string_view piece, std::vector<TokenId>& out, std::vector<uint32_t>& scratch) const {
  if (piece.size() == 1) {
    const uint32_t id = byte_ids[static_cast<unsigned char>(piece[0])];
    if (id != kNoId) out.push_back(id);
    return;
  }
  const bool cacheable = piece.size() <= kMaxCachedPieceBytes;
  std::string key;
  if (cacheable) {
    key.assign(piece);
    std::lock_guard<std::mutex> lock(cache_mutex);
    const auto it = cache.find(key);
    if (it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  bpe_uncached(piece, scratch);
  out.insert(out.end(), scratch.begin(), scratch.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex);
    if (cache.size() >= kMaxCacheEntries) cache.clear();
    cache.emplace(std::move(key), scratch);
  }
}

void Tokenizer::Impl::encode_plain(std::string_view segment, std::vector<TokenId>& out) const {
  if (segment.empty()) return;
  std::vector<std::string_view> pieces, next;
  std::deque<std::string> storage;
  std::vector<uint32_t> scratch;
  pretokenize(segment, pieces, next, storage);
  for (std::string_view p : pieces) bpe(p, out, scratch);
}

void Tokenizer::Impl::check_utf8(std::string_view text) const {
  const size_t bad = text::find_invalid_utf8(text);
  if (bad != std::string_view::npos) {
    throw TokenizerError(fmt::format("tokenizer {}: input is not valid UTF-8 (byte 0x{:02X} at offset {})", source,
                                     static_cast<uint8_t>(text[bad]), bad));
  }
}

template <typename OnToken, typename OnText>
void Tokenizer::Impl::split_added(std::string_view text, OnToken on_token, OnText on_text) const {
  std::vector<Segment> first, second;
  find_added(text, raw_matcher, first);
  for (const Segment& s : first) {
    if (s.token >= 0) {
      on_token(static_cast<size_t>(s.token));
      continue;
    }
    const std::string_view seg = text.substr(s.begin, s.end - s.begin);
    second.clear();
    find_added(seg, normalized_matcher, second);
    for (const Segment& t : second) {
      if (t.token >= 0) {
        on_token(static_cast<size_t>(t.token));
      } else if (t.end > t.begin) {
        on_text(seg.substr(t.begin, t.end - t.begin));
      }
    }
  }
}

std::vector<TokenId> Tokenizer::Impl::encode(std::string_view text) const {
  check_utf8(text);
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 4);
  split_added(
      text, [&](size_t index) { out.push_back(added[index].id); },
      [&](std::string_view seg) { encode_plain(seg, out); });
  return out;
}

std::vector<std::string> Tokenizer::Impl::pre_tokenize(std::string_view text) const {
  check_utf8(text);
  std::vector<std::string> out;
  split_added(
      text, [&](size_t index) { out.push_back(added[index].content); },
      [&](std::string_view seg) {
        std::vector<std::string_view> pieces, next;
        std::deque<std::string> storage;
        pretokenize(seg, pieces, next, storage);
        for (std::string_view p : pieces) out.emplace_back(p);
      });
  return out;
}

void Tokenizer::Impl::check_id(TokenId id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_token.size() || !id_present[static_cast<size_t>(id)]) {
    throw TokenizerError(fmt::format("tokenizer {}: token id {} is not in the vocabulary (size {})", source, id,
                                     id_token.size()));
  }
}

std::vector<TokenId> Tokenizer::encode(std::string_view text) const { return impl_->encode(text); }

std::vector<std::vector<TokenId>> Tokenizer::encode_batch(const std::vector<std::string>& texts) const {
  std::vector<std::vector<TokenId>> out;
  out.reserve(texts.size());
  for (const std::string& t : texts) out.push_back(impl_->encode(t));
  return out;
}

std::vector<std::string> Tokenizer::pre_tokenize(std::string_view text) const { return impl_->pre_tokenize(text); }

std::string Tokenizer::decode(const std::vector<TokenId>& ids, bool skip_special_tokens) const {
  StreamingDecoder stream(*this, skip_special_tokens);
  std::string out;
  for (TokenId id : ids) out += stream.push(id);
  out += stream.finish();
  return out;
}

const std::string& Tokenizer::token_bytes(TokenId id) const {
  impl_->check_id(id);
  return impl_->id_bytes[static_cast<size_t>(id)];
}

const std::string& Tokenizer::id_to_token(TokenId id) const {
  impl_->check_id(id);
  return impl_->id_token[static_cast<size_t>(id)];
}

std::optional<TokenId> Tokenizer::token_to_id(std::string_view token) const {
  const std::string key(token);
  const auto a = impl_->added_by_content.find(key);
  if (a != impl_->added_by_content.end()) return impl_->added[a->second].id;
  const uint32_t v = impl_->vocab.find(key);
  if (v != kNoId) return v;
  return std::nullopt;
}

TokenId Tokenizer::require_token_id(std::string_view token) const {
  if (auto id = token_to_id(token)) return *id;
  throw TokenizerError(fmt::format("tokenizer {}: '{}' is not a token of the vocabulary", impl_->source, token));
}

size_t Tokenizer::vocab_size() const { return impl_->id_token.size(); }

bool Tokenizer::is_special(TokenId id) const {
  impl_->check_id(id);
  return impl_->id_special[static_cast<size_t>(id)] != 0;
}

const std::vector<AddedToken>& Tokenizer::added_tokens() const { return impl_->added; }

std::optional<std::string> Tokenizer::special_token(const std::string& name) const {
  const auto it = impl_->named_special.find(name);
  if (it == impl_->named_special.end()) return std::nullopt;
  return it->second;
}

std::optional<TokenId> Tokenizer::special_token_id(const std::string& name) const {
  const auto s = special_token(name);
  if (!s) return std::nullopt;
  return token_to_id(*s);
}

const std::string& Tokenizer::source() const { return impl_->source; }

StreamingDecoder::StreamingDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string StreamingDecoder::push(TokenId id) {
  const Tokenizer::Impl& impl = *tokenizer_.impl_;
  impl.check_id(id);
  const auto index = static_cast<size_t>(id);
  if (skip_special_tokens_ && impl.id_special[index]) return {};
  std::string out;
  if (impl.slow_decode && impl.id_legacy_added[index]) {
    out = text::utf8_lossy(pending_);
    pending_.clear();
    if (emitted_any_) out += ' ';
    out += impl.id_token[index];
    in_text_ = false;
    emitted_any_ = true;
    return out;
  }
  if (impl.slow_decode && !in_text_) {
    if (emitted_any_) out += ' ';
    in_text_ = true;
    emitted_any_ = true;
  }
  pending_ += impl.id_bytes[index];
  const size_t n = text::utf8_stable_prefix(pending_);
  out += text::utf8_lossy(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string StreamingDecoder::finish() {
  std::string out = text::utf8_lossy(pending_);
  pending_.clear();
  in_text_ = false;
  emitted_any_ = false;
  return out;
}

}  // namespace smolvid::model
