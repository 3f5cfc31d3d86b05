// model/tokenizer.h: the byte-level BPE tokenizer of SmolVLM checkpoints, exact to Hugging Face
// `tokenizers` (ids and decodes) for the files SmolVLM ships.
//
//   auto tok = smolvid::model::Tokenizer::from_dir("SmolVLM-256M-Instruct");
//   std::vector<smolvid::model::TokenId> ids = tok.encode("<|im_start|>User:<image>Hi");
//   // {1, 11126, 42, 49190, 26843}: added tokens such as <image> become single ids
//   std::string text = tok.decode(ids);                        // keeps special tokens
//   std::string bare = tok.decode(ids, /*skip_special_tokens=*/true);
//   smolvid::model::StreamingDecoder stream(tok);               // for generation
//   for (TokenId id : generated) std::cout << stream.push(id);  // never half a UTF-8 character
//   std::cout << stream.finish();
//
// Sources, in the order Tokenizer::from_dir looks for them:
//   tokenizer.json (Hugging Face tokenizers format: normalizer null, pre_tokenizer Sequence /
//   Digits / ByteLevel / Split, model BPE with merges as "a b" strings or ["a","b"] pairs,
//   added_tokens with special/normalized/lstrip/rstrip/single_word, decoder ByteLevel), else
//   vocab.json + merges.txt (slow GPT2Tokenizer files: ByteLevel pre-tokenizer without Digits);
//   both completed by tokenizer_config.json (added_tokens_decoder, bos/eos/pad/unk names),
//   special_tokens_map.json and added_tokens.json when present.
// Anything else in a tokenizer.json (another model type, a normalizer, an unknown pre-tokenizer,
// BPE dropout, ...) is rejected with a TokenizerError naming the field.
//
// Encoding: added tokens are found first (leftmost-longest, non-normalized ones then normalized
// ones, with lstrip/rstrip/single_word as in `tokenizers`); each remaining segment goes through the
// pre-tokenizer chain, byte-to-unicode mapping and BPE (lowest merge rank first). Nothing is
// prepended or appended (these files have no post-processor). Input must be valid UTF-8.
//
// Thread-safety: a Tokenizer is immutable after loading except for an internal word cache that is
// guarded by a mutex; encode/decode may be called from several threads. Copies share the loaded
// data (cheap).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace smolvid::model {

using TokenId = int64_t;

class TokenizerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An entry of tokenizer.json "added_tokens" / tokenizer_config.json "added_tokens_decoder".
struct AddedToken {
  TokenId id = 0;
  std::string content;
  bool special = false;     // dropped by decode(..., skip_special_tokens = true)
  bool normalized = false;  // matched on the normalized text (second pass) instead of the raw text
  bool lstrip = false;      // the match also swallows whitespace on its left
  bool rstrip = false;      // ... and on its right
  bool single_word = false; // only matches when not inside a word
};

class Tokenizer {
 public:
  // A checkpoint directory (see the file comment for which files are read).
  static Tokenizer from_dir(const std::string& dir);
  // A tokenizer.json; config_dir (may be empty) supplies tokenizer_config.json and friends.
  static Tokenizer from_tokenizer_json(const std::string& path, const std::string& config_dir = "");
  // vocab.json + merges.txt (slow GPT-2 files); config_dir as above (required in practice: the
  // added tokens live in tokenizer_config.json / added_tokens.json / special_tokens_map.json).
  static Tokenizer from_vocab_merges(const std::string& vocab_path, const std::string& merges_path,
                                     const std::string& config_dir = "");

  // Text -> ids. Throws TokenizerError if text is not valid UTF-8 (names the byte offset).
  std::vector<TokenId> encode(std::string_view text) const;
  std::vector<std::vector<TokenId>> encode_batch(const std::vector<std::string>& texts) const;
  // The pieces BPE sees, as raw bytes: added tokens whole, then the pre-tokenizer's splits (for
  // debugging and tests; encode() does not build these strings).
  std::vector<std::string> pre_tokenize(std::string_view text) const;

  // Ids -> text (ByteLevel decoder; ill-formed byte sequences become U+FFFD as in Hugging Face).
  // Throws TokenizerError on an id outside [0, vocab_size()).
  std::string decode(const std::vector<TokenId>& ids, bool skip_special_tokens = false) const;

  // The raw bytes one token stands for ("Ġworld" -> " world"; an added token -> its content).
  const std::string& token_bytes(TokenId id) const;
  // The token's string in the vocabulary's byte-level alphabet ("Ġworld"); throws when out of range.
  const std::string& id_to_token(TokenId id) const;
  // Vocabulary / added-token lookup of an exact token string (no tokenization).
  std::optional<TokenId> token_to_id(std::string_view token) const;
  TokenId require_token_id(std::string_view token) const;  // throws TokenizerError naming the token

  // 1 + the largest id (49280 for SmolVLM-256M; 300 for the tiny fixtures).
  size_t vocab_size() const;
  bool is_special(TokenId id) const;
  const std::vector<AddedToken>& added_tokens() const;

  // Named special tokens as transformers resolves them: tokenizer_config.json first, then
  // special_tokens_map.json. name is e.g. "bos_token", "eos_token", "pad_token", "unk_token",
  // "image_token" (SmolVLM2). nullopt when no file names it.
  std::optional<std::string> special_token(const std::string& name) const;
  std::optional<TokenId> special_token_id(const std::string& name) const;

  // What was loaded, for messages: "…/tokenizer.json" or "…/vocab.json + …/merges.txt".
  const std::string& source() const;

  struct Impl;

 private:
  friend class StreamingDecoder;
  explicit Tokenizer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// Incremental decoding for generation: push() returns the text that became final with this token;
// bytes of a UTF-8 character split across tokens are held back until the character is complete.
// The concatenation of all push() results and finish() equals tokenizer.decode(all ids, skip).
// (decode() itself runs through this class.) For slow vocab.json files it reproduces transformers'
// slow decode, which puts one space around added tokens that are not named special tokens.
class StreamingDecoder {
 public:
  explicit StreamingDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);
  std::string push(TokenId id);
  // Flushes held-back bytes (an incomplete character becomes U+FFFD) and resets the decoder.
  std::string finish();

 private:
  Tokenizer tokenizer_;
  bool skip_special_tokens_;
  std::string pending_;        // bytes not yet emitted (at most an unfinished UTF-8 sequence)
  bool in_text_ = false;       // slow decode: inside a sub-text of ordinary tokens
  bool emitted_any_ = false;   // slow decode: a sub-text was started (the next one needs a space)
};

}  // namespace smolvid::model
