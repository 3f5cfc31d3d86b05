// model/text_unicode.h: UTF-8 and regex helpers shared by the tokenizer and the chat template.
// Torch-free; the regex engine is PCRE2 in UTF + UCP mode (JIT-compiled where available).
//
//   std::string s = smolvid::model::text::utf8_lossy(bytes);     // invalid bytes -> U+FFFD
//   smolvid::model::text::Regex re(R"(\p{N})");                   // throws TextRegexError
//   re.for_each_match(s, [](size_t begin, size_t end) { ... });   // byte offsets into s
//
// All offsets are byte offsets into UTF-8 strings.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace smolvid::model::text {

class TextRegexError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Appends the UTF-8 encoding of code point cp (cp <= 0x10FFFF).
void append_utf8(std::string& out, char32_t cp);

// Decodes the well-formed UTF-8 sequence starting at s[pos]. Returns its length (1..4) and sets
// *cp, or returns 0 when the bytes there are not a well-formed sequence (RFC 3629: no overlongs,
// no surrogates, nothing above U+10FFFF).
size_t decode_utf8(std::string_view s, size_t pos, char32_t* cp);

// Byte offset of the first ill-formed UTF-8 byte, or std::string_view::npos if s is valid.
size_t find_invalid_utf8(std::string_view s);

// Converts bytes to valid UTF-8 the way Rust's String::from_utf8_lossy does (each maximal
// ill-formed subpart becomes one U+FFFD), which is what Hugging Face `tokenizers` decoders use.
std::string utf8_lossy(std::string_view bytes);

// Length of the longest prefix of `bytes` that can be converted now without changing the result
// of converting more bytes later: everything except a trailing, still-incomplete but so far
// well-formed sequence (at most 3 bytes). Used by streaming decoders.
size_t utf8_stable_prefix(std::string_view bytes);

// Unicode White_Space property (what Rust's char::is_whitespace tests).
bool is_unicode_whitespace(char32_t cp);

// GPT-2's reversible byte <-> printable-character table: printable Latin-1 bytes map to
// themselves, the others to U+0100 + n in byte order (space -> U+0120 'Ġ', '\n' -> U+010A 'Ċ').
const std::array<char32_t, 256>& byte_to_unicode();
// Inverse of byte_to_unicode(): the byte for cp, or -1 if cp is not in the table.
int unicode_to_byte(char32_t cp);

// A compiled PCRE2 pattern. Patterns are written in Oniguruma/Perl syntax as found in Hugging Face
// tokenizer files; `\s` / `\S` are rewritten to Oniguruma's Unicode whitespace set (tab..CR,
// U+0085 and the Z categories), which PCRE2 10.42's UCP `\s` lacks U+0085 from. Thread-safe: each
// call uses its own match data.
class Regex {
 public:
  enum class Syntax { kRegex, kLiteral };
  explicit Regex(const std::string& pattern, Syntax syntax = Syntax::kRegex);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  const std::string& pattern() const { return pattern_; }

  // Calls on_match(begin, end) for every non-empty, non-overlapping match in subject, left to
  // right. `subject` must be valid UTF-8 (not re-checked).
  void for_each_match(std::string_view subject, const std::function<void(size_t, size_t)>& on_match) const;

  // True if the whole of subject matches (anchored at both ends).
  bool full_match(std::string_view subject) const;

 private:
  struct Impl;
  std::string pattern_;
  std::unique_ptr<Impl> impl_;
};

// Rewrites `\s`/`\S` in an Oniguruma-style pattern to explicit classes (see Regex). Exposed for
// tests; throws TextRegexError when `\S` appears inside a bracket expression (no equivalent).
std::string translate_whitespace_classes(const std::string& pattern);

}  // namespace smolvid::model::text
