// model/bpe.h (internal): the byte-level BPE engine behind model/tokenizer.h: vocabulary and merge
// tables, the added-token matcher, the pre-tokenizer chain, BPE merging, decoding. It reads no
// files: model/tokenizer.cpp parses tokenizer.json / vocab.json + merges.txt and the config files
// and fills a Tokenizer::Impl (add_vocab_entry, add_merge, add_added_token, pretok, finish());
// model/bpe.cpp runs it.
#pragma once

#include <fmt/core.h>

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/text_unicode.h"
#include "model/tokenizer.h"

namespace smolvid::model {
namespace bpe {

constexpr uint32_t kNoId = 0xFFFFFFFFu;
constexpr uint64_t kNoMerge = ~uint64_t{0};

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// One step of the pre-tokenizer chain. Every step splits pieces of the original text without
// changing them, except ByteLevel's optional prefix space.
struct PreTokStep {
  enum class Kind { kSplit, kByteLevel } kind = Kind::kSplit;
  std::unique_ptr<text::Regex> regex;  // null for ByteLevel with use_regex = false
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;  // ByteLevel only
};

// Leftmost-longest exact matching of added-token strings (a byte trie).
class AddedMatcher {
 public:
  void add(const std::string& content, size_t token_index);

  bool empty() const { return empty_; }

  // The longest token starting at text[pos]: {length, token index} or {0, -1}.
  std::pair<size_t, int> longest_at(std::string_view text, size_t pos) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int>> children;
    int token_index = -1;
  };
  int find_child(int node, unsigned char c) const;
  std::vector<Node> nodes_{Node{}};
  std::array<bool, 256> first_byte_{};
  bool empty_ = true;
};

// String -> id, open addressing with linear probing (the vocabulary: ~50k short keys, looked up
// ~150k times while loading merges; std::unordered_map's node chasing dominated load time).
class StringIdTable {
 public:
  void reserve(size_t n);
  void set(std::string_view key, uint32_t id);
  uint32_t find(std::string_view key) const;
  size_t size() const { return keys_.size(); }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t index = kNoId;
  };
  static size_t next_pow2(size_t n);
  void rehash(size_t capacity);
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  std::vector<std::string> keys_;
  std::vector<uint32_t> ids_;
};

// (left id << 32 | right id) -> (rank << 32 | merged id), open addressing.
class MergeTable {
 public:
  void reserve(size_t n);
  void set(uint64_t key, uint64_t value);
  uint64_t find(uint64_t key) const;

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are < 2^31, so no real key is all ones
  void rehash(size_t capacity);
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

}  // namespace bpe

struct Tokenizer::Impl {
  std::string source;
  bpe::StringIdTable vocab;  // model vocabulary, byte-level alphabet
  std::vector<std::string> id_token;                // id -> token string ("" for holes)
  std::vector<std::string> id_bytes;                // id -> bytes it decodes to
  std::vector<uint8_t> id_present;
  std::vector<uint8_t> id_special;
  // Slow-tokenizer decoding (transformers PreTrainedTokenizer._decode): added tokens that are not
  // in all_special_tokens form their own sub-texts, and sub-texts are joined with one space.
  bool slow_decode = false;
  std::vector<uint8_t> id_legacy_added;
  std::array<uint32_t, 256> byte_ids{};
  bpe::MergeTable merges;  // (left << 32 | right) -> (rank << 32 | merged id)
  bool ignore_merges = false;
  std::vector<bpe::PreTokStep> pretok;

  std::vector<AddedToken> added;
  std::unordered_map<std::string, size_t> added_by_content;
  bpe::AddedMatcher raw_matcher;         // normalized = false (or all tokens for slow files)
  bpe::AddedMatcher normalized_matcher;  // normalized = true
  std::unique_ptr<text::Regex> word_char;  // for single_word

  std::map<std::string, std::string> named_special;

  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<uint32_t>> cache;

  // --- loading ---

  void add_vocab_entry(const std::string& token, uint32_t id);

  void add_added_token(AddedToken t, bool match_raw);

  // where(): describes the merge's location, for the error message only.
  template <typename Where>
  void add_merge(const std::string& left, const std::string& right, size_t rank, Where where) {
    std::string joined;
    joined.reserve(left.size() + right.size());
    joined.append(left).append(right);
    const uint32_t l = vocab.find(left);
    const uint32_t r = vocab.find(right);
    const uint32_t m = vocab.find(joined);
    if (l == bpe::kNoId || r == bpe::kNoId || m == bpe::kNoId) {
      throw TokenizerError(fmt::format("tokenizer {}: {} '{} {}' uses a token missing from the vocabulary", source,
                                       where(), left, right));
    }
    // As in `tokenizers`, a repeated pair keeps its last rank.
    merges.set((uint64_t{l} << 32) | r, (uint64_t{static_cast<uint32_t>(rank)} << 32) | m);
  }

  // special_ids: the ids decode(skip_special_tokens) drops (the added tokens flagged special for
  // tokenizer.json; transformers' all_special_tokens for slow files).
  void finish(const std::vector<uint32_t>& special_ids);

  // ByteLevel decoder on one token: every character back to its byte; a token with a character
  // outside the byte alphabet is kept as its UTF-8 text (as `tokenizers` does).
  static std::string byte_level_decode(const std::string& token);

  // --- encoding ---

  bool is_word_char(char32_t cp) const;

  // AddedVocabulary::find_matches of `tokenizers` on text[begin, end).
  void find_added(std::string_view text, const bpe::AddedMatcher& matcher, std::vector<bpe::Segment>& out) const;

  void pretokenize(std::string_view segment, std::vector<std::string_view>& pieces, std::vector<std::string_view>& next,
                   std::deque<std::string>& storage) const;

  uint64_t merge_of(uint32_t left, uint32_t right) const;

  // Lowest rank first, leftmost among equal ranks (one rank = one pair), rescanning a rank array.
  void merge_small(std::vector<uint32_t>& syms) const;

  // Same order of merges with a priority queue over (rank, position), for long words.
  void merge_large(std::vector<uint32_t>& syms) const;

  void bpe_uncached(std::string_view piece, std::vector<uint32_t>& syms) const;

  void bpe(std::string_view piece, std::vector<TokenId>& out, std::vector<uint32_t>& scratch) const;

  void encode_plain(std::string_view segment, std::vector<TokenId>& out) const;

  void check_utf8(std::string_view text) const;

  // Splits text at added tokens (raw-text tokens first, then normalized ones inside the rest; with
  // no normalizer the normalized text is the segment itself) and calls on_token(index) or
  // on_text(segment) in order.
  template <typename OnToken, typename OnText>
  void split_added(std::string_view text, OnToken on_token, OnText on_text) const;

  std::vector<TokenId> encode(std::string_view text) const;

  std::vector<std::string> pre_tokenize(std::string_view text) const;

  void check_id(TokenId id) const;
};

}  // namespace smolvid::model
