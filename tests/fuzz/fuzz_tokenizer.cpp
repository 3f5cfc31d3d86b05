// Fuzzes the tokenizer (model/tokenizer.h).
// Input starting with '{': a tokenizer.json to load (loads, then encodes a fixed text, or throws
// TokenizerError). Anything else: text encoded by SmolVLM-256M-Instruct's real tokenizer.json
// (../shared/reference/configs); valid UTF-8 made of encodable bytes must encode and decode back to
// itself, anything else must be rejected with TokenizerError.
#include <array>
#include <cstdlib>
#include <string>

#include "model/text_unicode.h"
#include "model/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

using smolvid::model::Tokenizer;
using smolvid::model::TokenizerError;

namespace {

const Tokenizer& real_tokenizer() {
  static const Tokenizer tok = [] {
    const char* shared = std::getenv("SMOLVID_SHARED");
    const std::string dir = std::string(shared ? shared : SMOLVID_SHARED_DIR) + "/reference/configs/SmolVLM-256M-Instruct";
    return Tokenizer::from_tokenizer_json(dir + "/tokenizer.json", dir);
  }();
  return tok;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  real_tokenizer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (size > 0 && data[0] == '{') {
    smolvid::fuzz::MemFile file(data, size);
    try {
      const Tokenizer tok = Tokenizer::from_tokenizer_json(file.path());
      const auto ids = tok.encode("Hello world 123 <image> héllo");
      for (auto id : ids) FUZZ_CHECK(id >= 0, "negative token id");
      tok.decode(ids);
    } catch (const TokenizerError&) {
    }
    return 0;
  }
  const Tokenizer& tok = real_tokenizer();
  if (smolvid::model::text::find_invalid_utf8(text) != std::string::npos) {
    try {
      tok.encode(text);
    } catch (const TokenizerError&) {
    }
    return 0;
  }
  // The real vocabulary has no token for 21 byte values (0x04, 0x06, ..., 0xC0, 0xC1, 0xF1-0xFF);
  // like Hugging Face's BPE without unk_token, encoding drops them. Everything else comes back.
  static const std::array<bool, 256> droppable = [] {
    std::array<bool, 256> d{};
    for (int b = 0; b < 256; ++b) {
      std::string ch;
      smolvid::model::text::append_utf8(ch, smolvid::model::text::byte_to_unicode()[b]);
      d[b] = !real_tokenizer().token_to_id(ch).has_value();
    }
    return d;
  }();
  bool encodable = true;
  for (char c : text) encodable = encodable && !droppable[static_cast<unsigned char>(c)];
  const auto ids = tok.encode(text);
  const std::string back = tok.decode(ids);
  // With a byte dropped, the rest of its character decodes as U+FFFD: only the round trip of fully
  // encodable text is exact.
  if (encodable) {
    FUZZ_CHECK(back == text, "decode(encode(x)) != x: %zu bytes in, %zu out, %zu tokens", text.size(), back.size(),
               ids.size());
  }
  return 0;
}
