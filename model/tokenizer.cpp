// model/tokenizer.cpp: byte-level BPE exact to Hugging Face `tokenizers` (see tokenizer.h).
#include "model/tokenizer.h"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <queue>
#include <sstream>
#include <unordered_map>

#include "model/text_unicode.h"
#include "util/file.h"

namespace smolvid::model {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr uint32_t kNoId = 0xFFFFFFFFu;
constexpr uint64_t kNoMerge = ~uint64_t{0};
constexpr size_t kMaxCachedPieceBytes = 256;
constexpr size_t kMaxCacheEntries = 200000;
constexpr size_t kLargeWordSymbols = 128;  // above this, BPE uses a heap instead of rescanning

const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

json read_json(const std::string& path) {
  const std::string text = util::read_file(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw TokenizerError(fmt::format("tokenizer: '{}' is not valid JSON: {}", path, e.what()));
  }
}

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

SplitBehavior parse_behavior(const std::string& s, const std::string& where) {
  if (s == "Removed") return SplitBehavior::kRemoved;
  if (s == "Isolated") return SplitBehavior::kIsolated;
  if (s == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (s == "Contiguous") return SplitBehavior::kContiguous;
  throw TokenizerError(fmt::format("tokenizer: {}: unknown split behavior '{}' (expected Removed, Isolated, "
                                   "MergedWithPrevious, MergedWithNext or Contiguous)",
                                   where, s));
}

// One step of the pre-tokenizer chain. Every step splits pieces of the original text without
// changing them, except ByteLevel's optional prefix space.
struct PreTokStep {
  enum class Kind { kSplit, kByteLevel } kind = Kind::kSplit;
  std::unique_ptr<text::Regex> regex;  // null for ByteLevel with use_regex = false
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;  // ByteLevel only
};

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

// Leftmost-longest exact matching of added-token strings (a byte trie).
class AddedMatcher {
 public:
  void add(const std::string& content, size_t token_index) {
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

  bool empty() const { return empty_; }

  // The longest token starting at text[pos]: {length, token index} or {0, -1}.
  std::pair<size_t, int> longest_at(std::string_view text, size_t pos) const {
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

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int>> children;
    int token_index = -1;
  };
  int find_child(int node, unsigned char c) const {
    for (const auto& [byte, child] : nodes_[node].children) {
      if (byte == c) return child;
    }
    return -1;
  }
  std::vector<Node> nodes_{Node{}};
  std::array<bool, 256> first_byte_{};
  bool empty_ = true;
};

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

// String -> id, open addressing with linear probing (the vocabulary: ~50k short keys, looked up
// ~150k times while loading merges; std::unordered_map's node chasing dominated load time).
class StringIdTable {
 public:
  void reserve(size_t n) {
    if (n * 2 > slots_.size()) rehash(std::max<size_t>(64, next_pow2(n * 2)));
  }
  void set(std::string_view key, uint32_t id) {
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
  uint32_t find(std::string_view key) const {
    if (slots_.empty()) return kNoId;
    const uint64_t h = hash_bytes(key);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.index == kNoId) return kNoId;
      if (slot.hash == h && keys_[slot.index] == key) return ids_[slot.index];
    }
  }
  size_t size() const { return keys_.size(); }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t index = kNoId;
  };
  static size_t next_pow2(size_t n) {
    size_t p = 1;
    while (p < n) p <<= 1;
    return p;
  }
  void rehash(size_t capacity) {
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
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  std::vector<std::string> keys_;
  std::vector<uint32_t> ids_;
};

// (left id << 32 | right id) -> (rank << 32 | merged id), open addressing.
class MergeTable {
 public:
  void reserve(size_t n) {
    size_t capacity = 64;
    while (capacity < n * 2) capacity <<= 1;
    if (capacity > keys_.size()) rehash(capacity);
  }
  void set(uint64_t key, uint64_t value) {
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
  uint64_t find(uint64_t key) const {
    if (keys_.empty()) return kNoMerge;
    for (size_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
      if (keys_[i] == key) return values_[i];
      if (keys_[i] == kEmpty) return kNoMerge;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are < 2^31, so no real key is all ones
  void rehash(size_t capacity) {
    std::vector<uint64_t> old_keys = std::move(keys_), old_values = std::move(values_);
    keys_.assign(capacity, kEmpty);
    values_.assign(capacity, 0);
    mask_ = capacity - 1;
    count_ = 0;
    for (size_t i = 0; i < old_keys.size(); ++i) {
      if (old_keys[i] != kEmpty) set(old_keys[i], old_values[i]);
    }
  }
  std::vector<uint64_t> keys_, values_;
  size_t mask_ = 0;
  size_t count_ = 0;
};

// A piece of the input: either an added token (token >= 0) or text to pre-tokenize.
struct Segment {
  size_t begin;
  size_t end;
  int token;  // index into added tokens, or -1
};

char32_t last_char(std::string_view s) {
  size_t i = s.size();
  while (i > 0 && (static_cast<uint8_t>(s[i - 1]) & 0xC0) == 0x80) --i;
  if (i == 0) return 0;
  char32_t cp = 0;
  text::decode_utf8(s, i - 1, &cp);
  return cp;
}

}  // namespace

struct Tokenizer::Impl {
  std::string source;
  StringIdTable vocab;  // model vocabulary, byte-level alphabet
  std::vector<std::string> id_token;                // id -> token string ("" for holes)
  std::vector<std::string> id_bytes;                // id -> bytes it decodes to
  std::vector<uint8_t> id_present;
  std::vector<uint8_t> id_special;
  // Slow-tokenizer decoding (transformers PreTrainedTokenizer._decode): added tokens that are not
  // in all_special_tokens form their own sub-texts, and sub-texts are joined with one space.
  bool slow_decode = false;
  std::vector<uint8_t> id_legacy_added;
  std::array<uint32_t, 256> byte_ids{};
  MergeTable merges;  // (left << 32 | right) -> (rank << 32 | merged id)
  bool ignore_merges = false;
  std::vector<PreTokStep> pretok;

  std::vector<AddedToken> added;
  std::unordered_map<std::string, size_t> added_by_content;
  AddedMatcher raw_matcher;         // normalized = false (or all tokens for slow files)
  AddedMatcher normalized_matcher;  // normalized = true
  std::unique_ptr<text::Regex> word_char;  // for single_word

  std::map<std::string, std::string> named_special;

  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<uint32_t>> cache;

  // --- loading ---

  void add_vocab_entry(const std::string& token, uint32_t id) {
    vocab.set(token, id);
    if (id >= id_token.size()) {
      id_token.resize(id + 1);
      id_present.resize(id + 1, 0);
    }
    id_token[id] = token;
    id_present[id] = 1;
  }

  void add_added_token(AddedToken t, bool match_raw) {
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

  // where(): describes the merge's location, for the error message only.
  template <typename Where>
  void add_merge(const std::string& left, const std::string& right, size_t rank, Where where) {
    std::string joined;
    joined.reserve(left.size() + right.size());
    joined.append(left).append(right);
    const uint32_t l = vocab.find(left);
    const uint32_t r = vocab.find(right);
    const uint32_t m = vocab.find(joined);
    if (l == kNoId || r == kNoId || m == kNoId) {
      throw TokenizerError(fmt::format("tokenizer {}: {} '{} {}' uses a token missing from the vocabulary", source,
                                       where(), left, right));
    }
    // As in `tokenizers`, a repeated pair keeps its last rank.
    merges.set((uint64_t{l} << 32) | r, (uint64_t{static_cast<uint32_t>(rank)} << 32) | m);
  }

  // special_ids: the ids decode(skip_special_tokens) drops (the added tokens flagged special for
  // tokenizer.json; transformers' all_special_tokens for slow files).
  void finish(const std::vector<uint32_t>& special_ids) {
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

  // ByteLevel decoder on one token: every character back to its byte; a token with a character
  // outside the byte alphabet is kept as its UTF-8 text (as `tokenizers` does).
  static std::string byte_level_decode(const std::string& token) {
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

  // --- encoding ---

  bool is_word_char(char32_t cp) const {
    if (cp == 0) return false;
    std::string s;
    text::append_utf8(s, cp);
    return word_char->full_match(s);
  }

  // AddedVocabulary::find_matches of `tokenizers` on text[begin, end).
  void find_added(std::string_view text, const AddedMatcher& matcher, std::vector<Segment>& out) const {
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

  void pretokenize(std::string_view segment, std::vector<std::string_view>& pieces, std::vector<std::string_view>& next,
                   std::deque<std::string>& storage) const {
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

  uint64_t merge_of(uint32_t left, uint32_t right) const {
    return merges.find((uint64_t{left} << 32) | right);
  }

  // Lowest rank first, leftmost among equal ranks (one rank = one pair), rescanning a rank array.
  void merge_small(std::vector<uint32_t>& syms) const {
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

  // Same order of merges with a priority queue over (rank, position), for long words.
  void merge_large(std::vector<uint32_t>& syms) const {
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

  void bpe_uncached(std::string_view piece, std::vector<uint32_t>& syms) const {
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

  void bpe(std::string_view piece, std::vector<TokenId>& out, std::vector<uint32_t>& scratch) const {
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

  void encode_plain(std::string_view segment, std::vector<TokenId>& out) const {
    if (segment.empty()) return;
    std::vector<std::string_view> pieces, next;
    std::deque<std::string> storage;
    std::vector<uint32_t> scratch;
    pretokenize(segment, pieces, next, storage);
    for (std::string_view p : pieces) bpe(p, out, scratch);
  }

  void check_utf8(std::string_view text) const {
    const size_t bad = text::find_invalid_utf8(text);
    if (bad != std::string_view::npos) {
      throw TokenizerError(fmt::format("tokenizer {}: input is not valid UTF-8 (byte 0x{:02X} at offset {})", source,
                                       static_cast<uint8_t>(text[bad]), bad));
    }
  }

  // Splits text at added tokens (raw-text tokens first, then normalized ones inside the rest; with
  // no normalizer the normalized text is the segment itself) and calls on_token(index) or
  // on_text(segment) in order.
  template <typename OnToken, typename OnText>
  void split_added(std::string_view text, OnToken on_token, OnText on_text) const {
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

  std::vector<TokenId> encode(std::string_view text) const {
    check_utf8(text);
    std::vector<TokenId> out;
    out.reserve(text.size() / 3 + 4);
    split_added(
        text, [&](size_t index) { out.push_back(added[index].id); },
        [&](std::string_view seg) { encode_plain(seg, out); });
    return out;
  }

  std::vector<std::string> pre_tokenize(std::string_view text) const {
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

  void check_id(TokenId id) const {
    if (id < 0 || static_cast<size_t>(id) >= id_token.size() || !id_present[static_cast<size_t>(id)]) {
      throw TokenizerError(fmt::format("tokenizer {}: token id {} is not in the vocabulary (size {})", source, id,
                                       id_token.size()));
    }
  }
};

namespace {

// A special-token value in tokenizer_config.json / special_tokens_map.json: "text" or {content: ...}.
std::optional<std::string> token_string(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

AddedToken added_token_from_json(const json& j, TokenId id, const std::string& where) {
  if (!j.is_object() || !j.contains("content") || !j["content"].is_string()) {
    throw TokenizerError(fmt::format("tokenizer: {}: added token {} has no string 'content'", where, id));
  }
  AddedToken t;
  t.id = id;
  t.content = j["content"].get<std::string>();
  t.special = j.value("special", false);
  t.normalized = j.value("normalized", !t.special);
  t.lstrip = j.value("lstrip", false);
  t.rstrip = j.value("rstrip", false);
  t.single_word = j.value("single_word", false);
  return t;
}

const std::vector<std::string> kNamedSpecialKeys = {"bos_token", "eos_token", "unk_token", "sep_token",
                                                     "pad_token", "cls_token", "mask_token"};

// tokenizer_config.json, special_tokens_map.json and added_tokens.json of a checkpoint directory.
struct ConfigFiles {
  json tokenizer_config = json::object();
  json special_tokens_map = json::object();
  json added_tokens = json::object();
  std::string dir;
};

ConfigFiles read_config_files(const std::string& dir) {
  ConfigFiles c;
  c.dir = dir;
  if (dir.empty()) return c;
  const auto load = [&](const char* name, json& into) {
    const fs::path p = fs::path(dir) / name;
    if (fs::exists(p)) into = read_json(p.string());
  };
  load("tokenizer_config.json", c.tokenizer_config);
  load("special_tokens_map.json", c.special_tokens_map);
  load("added_tokens.json", c.added_tokens);
  return c;
}

// bos/eos/... plus the string-valued *_token keys SmolVLM2 adds (image_token, ...): tokenizer_config
// first, special_tokens_map second.
void collect_named_special(const ConfigFiles& c, std::map<std::string, std::string>& named) {
  for (const json* src : {&c.tokenizer_config, &c.special_tokens_map}) {
    if (!src->is_object()) continue;
    for (const auto& [key, value] : src->items()) {
      if (key.size() < 6 || key.compare(key.size() - 6, 6, "_token") != 0) continue;
      if (named.count(key)) continue;
      if (auto s = token_string(value)) named[key] = *s;
    }
  }
}

// Special token strings transformers treats as special (bos, eos, ..., additional_special_tokens).
std::vector<std::string> all_special_strings(const ConfigFiles& c, const std::map<std::string, std::string>& named) {
  std::vector<std::string> out;
  for (const std::string& key : kNamedSpecialKeys) {
    const auto it = named.find(key);
    if (it != named.end()) out.push_back(it->second);
  }
  for (const json* src : {&c.tokenizer_config, &c.special_tokens_map}) {
    if (src->is_object() && src->contains("additional_special_tokens") && (*src)["additional_special_tokens"].is_array()) {
      for (const json& v : (*src)["additional_special_tokens"]) {
        if (auto s = token_string(v)) out.push_back(*s);
      }
      break;  // tokenizer_config wins
    }
  }
  return out;
}

void parse_pretokenizer(const json& j, std::vector<PreTokStep>& steps, const std::string& where) {
  if (j.is_null()) return;
  const std::string type = j.value("type", "");
  if (type == "Sequence") {
    for (const json& sub : j.at("pretokenizers")) parse_pretokenizer(sub, steps, where);
    return;
  }
  if (!steps.empty() && steps.back().kind == PreTokStep::Kind::kByteLevel) {
    throw TokenizerError(fmt::format("tokenizer {}: pre_tokenizer '{}' after ByteLevel is not supported", where, type));
  }
  PreTokStep step;
  if (type == "Digits") {
    const bool individual = j.value("individual_digits", false);
    step.regex = std::make_unique<text::Regex>(individual ? R"(\p{N})" : R"(\p{N}+)");
    step.behavior = individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous;
  } else if (type == "ByteLevel") {
    step.kind = PreTokStep::Kind::kByteLevel;
    step.add_prefix_space = j.value("add_prefix_space", true);
    if (j.value("use_regex", true)) step.regex = std::make_unique<text::Regex>(kGpt2Pattern);
  } else if (type == "Split") {
    const json& pat = j.at("pattern");
    if (pat.contains("Regex")) {
      step.regex = std::make_unique<text::Regex>(pat["Regex"].get<std::string>());
    } else if (pat.contains("String")) {
      step.regex = std::make_unique<text::Regex>(pat["String"].get<std::string>(), text::Regex::Syntax::kLiteral);
    } else {
      throw TokenizerError(fmt::format("tokenizer {}: Split pattern must be {{\"Regex\": ...}} or {{\"String\": ...}}, got {}",
                                       where, pat.dump()));
    }
    step.behavior = parse_behavior(j.value("behavior", "Isolated"), where);
    step.invert = j.value("invert", false);
  } else {
    throw TokenizerError(fmt::format(
        "tokenizer {}: pre_tokenizer type '{}' is not supported (supported: Sequence, Digits, ByteLevel, Split)", where,
        type));
  }
  steps.push_back(std::move(step));
}

}  // namespace

namespace {

// Reads tokenizer.json with nlohmann's SAX interface: model.vocab and model.merges (99% of the
// file) go straight into the tokenizer instead of a DOM; everything else becomes a normal DOM.
class TokenizerJsonReader : public nlohmann::json_sax<json> {
 public:
  explicit TokenizerJsonReader(Tokenizer::Impl& impl) : impl_(impl) {}

  json parse(const std::string& text, const std::string& path) {
    impl_.vocab.reserve(65536);
    if (!json::sax_parse(text, this) || frames_.size() != 0) {
      throw TokenizerError(fmt::format("tokenizer: '{}' is not valid JSON: {}", path, error_));
    }
    return std::move(root_);
  }
  bool saw_vocab() const { return saw_vocab_; }
  bool saw_merges() const { return saw_merges_; }
  const std::vector<std::pair<std::string, std::string>>& merges() const { return merges_; }

  bool null() override { return value(json()); }
  bool boolean(bool v) override { return value(json(v)); }
  bool number_integer(number_integer_t v) override {
    if (in(Special::kVocab)) return vocab_entry(v);
    return value(json(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (in(Special::kVocab)) return vocab_entry(static_cast<int64_t>(v));
    return value(json(v));
  }
  bool number_float(number_float_t v, const string_t&) override { return value(json(v)); }
  bool string(string_t& v) override {
    if (in(Special::kMerges)) {
      const size_t sp = v.find(' ');
      if (sp == std::string::npos || v.find(' ', sp + 1) != std::string::npos) {
        return fail(fmt::format("merge {} '{}' is not two tokens separated by one space", merges_.size(), v));
      }
      merges_.emplace_back(v.substr(0, sp), v.substr(sp + 1));
      return true;
    }
    if (in(Special::kMergePair)) {
      pair_.push_back(std::move(v));
      return true;
    }
    return value(json(std::move(v)));
  }
  bool binary(binary_t&) override { return fail("binary values are not JSON"); }
  bool start_object(std::size_t) override { return open(true); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    error_ = fmt::format("{} (byte {})", e.what(), position);
    return false;
  }

 private:
  enum class Special { kNone, kVocab, kMerges, kMergePair };
  struct Frame {
    json* node;  // null for special frames
    Special special;
    std::string name;  // key under the parent object ("" in arrays)
  };

  bool in(Special s) const { return !frames_.empty() && frames_.back().special == s; }

  bool fail(const std::string& what) {
    error_ = what;
    return false;
  }

  bool vocab_entry(int64_t id) {
    if (id < 0 || id > 0x7FFFFFFF) return fail(fmt::format("vocab entry '{}' has invalid id {}", key_, id));
    impl_.add_vocab_entry(key_, static_cast<uint32_t>(id));
    return true;
  }

  // Inserts a scalar or container into the current DOM container; returns false in special frames
  // where the value has no place.
  json* insert(json v) {
    if (frames_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    Frame& top = frames_.back();
    if (top.special != Special::kNone) return nullptr;
    if (top.node->is_object()) {
      json& slot = (*top.node)[key_];
      slot = std::move(v);
      return &slot;
    }
    top.node->push_back(std::move(v));
    return &top.node->back();
  }

  bool value(json v) {
    if (!insert(std::move(v))) return fail("unexpected value inside model.vocab / model.merges");
    return true;
  }

  bool open(bool is_object) {
    const bool parent_is_model = frames_.size() == 2 && frames_[1].name == "model" && frames_[0].node &&
                                 frames_[0].node == &root_ && frames_[1].node && frames_[1].node->is_object();
    if (parent_is_model && is_object && key_ == "vocab") {
      saw_vocab_ = true;
      frames_.push_back({nullptr, Special::kVocab, key_});
      return true;
    }
    if (parent_is_model && !is_object && key_ == "merges") {
      saw_merges_ = true;
      frames_.push_back({nullptr, Special::kMerges, key_});
      return true;
    }
    if (in(Special::kMerges) && !is_object) {
      pair_.clear();
      frames_.push_back({nullptr, Special::kMergePair, ""});
      return true;
    }
    const bool parent_is_object = !frames_.empty() && frames_.back().node && frames_.back().node->is_object();
    std::string name = parent_is_object ? key_ : std::string();
    json* node = insert(is_object ? json::object() : json::array());
    if (!node) return fail("unexpected container inside model.vocab / model.merges");
    frames_.push_back({node, Special::kNone, std::move(name)});
    return true;
  }

  bool close() {
    if (frames_.empty()) return fail("unbalanced brackets");
    if (frames_.back().special == Special::kMergePair) {
      if (pair_.size() != 2) return fail(fmt::format("merge {} is not a pair of strings", merges_.size()));
      merges_.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
    }
    frames_.pop_back();
    return true;
  }

  Tokenizer::Impl& impl_;
  json root_;
  std::vector<Frame> frames_;
  std::string key_;
  std::vector<std::string> pair_;
  std::vector<std::pair<std::string, std::string>> merges_;
  bool saw_vocab_ = false;
  bool saw_merges_ = false;
  std::string error_;
};

}  // namespace

Tokenizer::Tokenizer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Tokenizer Tokenizer::from_dir(const std::string& dir) {
  const fs::path d(dir);
  if (!fs::is_directory(d)) throw TokenizerError(fmt::format("tokenizer: '{}' is not a directory", dir));
  if (fs::exists(d / "tokenizer.json")) return from_tokenizer_json((d / "tokenizer.json").string(), dir);
  if (fs::exists(d / "vocab.json") && fs::exists(d / "merges.txt")) {
    return from_vocab_merges((d / "vocab.json").string(), (d / "merges.txt").string(), dir);
  }
  throw TokenizerError(
      fmt::format("tokenizer: '{}' has neither tokenizer.json nor vocab.json + merges.txt", dir));
}

Tokenizer Tokenizer::from_tokenizer_json(const std::string& path, const std::string& config_dir) {
  auto impl = std::make_shared<Impl>();
  impl->source = path;
  TokenizerJsonReader reader(*impl);
  const json j = reader.parse(util::read_file(path), path);
  try {
    if (j.contains("normalizer") && !j["normalizer"].is_null()) {
      throw TokenizerError(fmt::format("tokenizer {}: normalizer '{}' is not supported (only null)", path,
                                       j["normalizer"].value("type", "?")));
    }
    const json& model = j.at("model");
    if (model.value("type", "BPE") != "BPE") {
      throw TokenizerError(fmt::format("tokenizer {}: model type '{}' is not supported (only BPE)", path,
                                       model.value("type", "")));
    }
    if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"].get<double>() != 0.0) {
      throw TokenizerError(fmt::format("tokenizer {}: BPE dropout is not supported", path));
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (model.contains(key) && !model[key].is_null() && !model[key].get<std::string>().empty()) {
        throw TokenizerError(fmt::format("tokenizer {}: BPE {} is not supported", path, key));
      }
    }
    if (model.value("byte_fallback", false)) {
      throw TokenizerError(fmt::format("tokenizer {}: BPE byte_fallback is not supported", path));
    }
    if (!reader.saw_vocab() || !reader.saw_merges()) {
      throw TokenizerError(fmt::format("tokenizer {}: model lacks 'vocab' or 'merges'", path));
    }
    impl->ignore_merges = model.value("ignore_merges", false);
    const auto& merges = reader.merges();
    impl->merges.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      impl->add_merge(merges[rank].first, merges[rank].second, rank, [&] { return fmt::format("merge {}", rank); });
    }
    parse_pretokenizer(j.value("pre_tokenizer", json()), impl->pretok, path);
    if (impl->pretok.empty() || impl->pretok.back().kind != PreTokStep::Kind::kByteLevel) {
      throw TokenizerError(fmt::format("tokenizer {}: expected a ByteLevel pre_tokenizer (byte-level BPE)", path));
    }
    if (j.contains("decoder") && !j["decoder"].is_null() && j["decoder"].value("type", "") != "ByteLevel") {
      throw TokenizerError(fmt::format("tokenizer {}: decoder '{}' is not supported (only ByteLevel)", path,
                                       j["decoder"].value("type", "")));
    }
    if (j.contains("post_processor") && !j["post_processor"].is_null() &&
        j["post_processor"].value("type", "") != "ByteLevel") {
      throw TokenizerError(fmt::format("tokenizer {}: post_processor '{}' is not supported (only null or ByteLevel)",
                                       path, j["post_processor"].value("type", "")));
    }
    if (j.contains("added_tokens")) {
      for (const json& t : j["added_tokens"]) {
        impl->add_added_token(added_token_from_json(t, t.at("id").get<TokenId>(), path), /*match_raw=*/false);
      }
    }
  } catch (const json::exception& e) {
    throw TokenizerError(fmt::format("tokenizer {}: unexpected structure: {}", path, e.what()));
  }

  // transformers adds tokenizer_config's added_tokens_decoder entries missing from tokenizer.json.
  const ConfigFiles cfg = read_config_files(config_dir);
  if (cfg.tokenizer_config.contains("added_tokens_decoder")) {
    for (const auto& [id, t] : cfg.tokenizer_config["added_tokens_decoder"].items()) {
      impl->add_added_token(added_token_from_json(t, std::stoll(id), config_dir + "/tokenizer_config.json"), false);
    }
  }
  collect_named_special(cfg, impl->named_special);
  std::vector<uint32_t> special_ids;
  for (const AddedToken& t : impl->added) {
    if (t.special) special_ids.push_back(static_cast<uint32_t>(t.id));
  }
  impl->finish(special_ids);
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_vocab_merges(const std::string& vocab_path, const std::string& merges_path,
                                       const std::string& config_dir) {
  auto impl = std::make_shared<Impl>();
  impl->source = vocab_path + " + " + merges_path;
  const json vocab = read_json(vocab_path);
  if (!vocab.is_object()) throw TokenizerError(fmt::format("tokenizer: '{}' is not a JSON object", vocab_path));
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0) {
      throw TokenizerError(fmt::format("tokenizer: '{}': token '{}' has a non-integer id", vocab_path, token));
    }
    impl->add_vocab_entry(token, id.get<uint32_t>());
  }
  std::istringstream merges(util::read_file(merges_path));
  std::string line;
  size_t rank = 0;
  size_t line_no = 0;
  while (std::getline(merges, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos) {
      throw TokenizerError(fmt::format("tokenizer: '{}' line {}: expected two tokens separated by one space, got '{}'",
                                       merges_path, line_no, line));
    }
    impl->add_merge(line.substr(0, sp), line.substr(sp + 1), rank++,
                    [&] { return fmt::format("{} line {}: merge", merges_path, line_no); });
  }

  // Slow GPT2Tokenizer: the ByteLevel split regex only (no Digits), prefix space per config.
  const ConfigFiles cfg = read_config_files(config_dir);
  PreTokStep step;
  step.kind = PreTokStep::Kind::kByteLevel;
  step.add_prefix_space = cfg.tokenizer_config.value("add_prefix_space", false);
  step.regex = std::make_unique<text::Regex>(kGpt2Pattern);
  impl->pretok.push_back(std::move(step));

  collect_named_special(cfg, impl->named_special);
  std::vector<std::string> specials = all_special_strings(cfg, impl->named_special);
  const auto is_listed_special = [&](const std::string& s) {
    return std::find(specials.begin(), specials.end(), s) != specials.end();
  };
  // The slow tokenizer splits on every added/special token in one leftmost-longest pass.
  if (cfg.tokenizer_config.contains("added_tokens_decoder")) {
    for (const auto& [id, t] : cfg.tokenizer_config["added_tokens_decoder"].items()) {
      AddedToken tok = added_token_from_json(t, std::stoll(id), config_dir + "/tokenizer_config.json");
      tok.special = tok.special || is_listed_special(tok.content);
      impl->add_added_token(std::move(tok), /*match_raw=*/true);
    }
  }
  if (cfg.added_tokens.is_object()) {
    for (const auto& [content, id] : cfg.added_tokens.items()) {
      AddedToken tok;
      tok.id = id.get<TokenId>();
      tok.content = content;
      tok.special = is_listed_special(content);
      impl->add_added_token(std::move(tok), true);
    }
  }
  for (const std::string& s : specials) {
    if (impl->added_by_content.count(s)) continue;
    const uint32_t vocab_id = impl->vocab.find(s);
    if (vocab_id == kNoId) {
      throw TokenizerError(fmt::format("tokenizer: special token '{}' (from {}) is neither in '{}' nor an added token", s,
                                       config_dir, vocab_path));
    }
    AddedToken tok;
    tok.id = vocab_id;
    tok.content = s;
    tok.special = true;
    impl->add_added_token(std::move(tok), true);
  }
  std::vector<uint32_t> special_ids;
  for (const std::string& s : specials) special_ids.push_back(static_cast<uint32_t>(impl->added[impl->added_by_content.at(s)].id));
  impl->finish(special_ids);
  // legacy_added_tokens of transformers: added tokens outside all_special_tokens, plus listed
  // additional special tokens whose id is beyond the vocab.json size.
  impl->slow_decode = true;
  for (const AddedToken& t : impl->added) {
    const bool listed = is_listed_special(t.content);
    if (!listed || static_cast<size_t>(t.id) >= vocab.size()) impl->id_legacy_added[static_cast<size_t>(t.id)] = 1;
  }
  return Tokenizer(std::move(impl));
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
