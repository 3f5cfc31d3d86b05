// model/text_unicode.cpp: UTF-8 helpers and the PCRE2 wrapper (see text_unicode.h).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "model/text_unicode.h"

#include <fmt/core.h>
#include <pcre2.h>

#include <vector>

namespace smolvid::model::text {

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {

// For a lead byte: the sequence length and the allowed range of the second byte (RFC 3629 table).
struct LeadInfo {
  int length;  // 0: not a valid lead byte
  uint8_t lo;
  uint8_t hi;
};

LeadInfo lead_info(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return {3, 0x80, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// Number of bytes at s[pos] that form a well-formed prefix of a sequence (>= 1 if the lead byte is
// valid), and whether the sequence is complete.
struct SeqScan {
  size_t valid;    // bytes that are a well-formed (possibly incomplete) prefix
  bool complete;   // valid == the full sequence length
  bool truncated;  // the prefix is well-formed but the input ended before its end
};

SeqScan scan_sequence(std::string_view s, size_t pos) {
  const auto b0 = static_cast<uint8_t>(s[pos]);
  const LeadInfo li = lead_info(b0);
  if (li.length == 0) return {0, false, false};
  if (li.length == 1) return {1, true, false};
  size_t n = 1;
  for (int k = 1; k < li.length; ++k) {
    if (pos + n >= s.size()) return {n, false, true};
    const auto b = static_cast<uint8_t>(s[pos + n]);
    const uint8_t lo = k == 1 ? li.lo : 0x80;
    const uint8_t hi = k == 1 ? li.hi : 0xBF;
    if (b < lo || b > hi) return {n, false, false};
    ++n;
  }
  return {n, true, false};
}

}  // namespace

size_t decode_utf8(std::string_view s, size_t pos, char32_t* cp) {
  if (pos >= s.size()) return 0;
  const SeqScan sc = scan_sequence(s, pos);
  if (!sc.complete) return 0;
  const auto* p = reinterpret_cast<const uint8_t*>(s.data() + pos);
  switch (sc.valid) {
    case 1: *cp = p[0]; break;
    case 2: *cp = (char32_t(p[0] & 0x1F) << 6) | (p[1] & 0x3F); break;
    case 3: *cp = (char32_t(p[0] & 0x0F) << 12) | (char32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F); break;
    default:
      *cp = (char32_t(p[0] & 0x07) << 18) | (char32_t(p[1] & 0x3F) << 12) | (char32_t(p[2] & 0x3F) << 6) |
            (p[3] & 0x3F);
  }
  return sc.valid;
}

size_t find_invalid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const SeqScan sc = scan_sequence(s, i);
    if (!sc.complete) return i;
    i += sc.valid;
  }
  return std::string_view::npos;
}

std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const auto b = static_cast<uint8_t>(bytes[i]);
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
      ++i;
      continue;
    }
    const SeqScan sc = scan_sequence(bytes, i);
    if (sc.complete) {
      out.append(bytes.substr(i, sc.valid));
      i += sc.valid;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD for the maximal ill-formed subpart
      i += sc.valid == 0 ? 1 : sc.valid;
    }
  }
  return out;
}

size_t utf8_stable_prefix(std::string_view bytes) {
  // Only the last (up to 3) bytes can belong to an unfinished sequence.
  const size_t start = bytes.size() > 3 ? bytes.size() - 3 : 0;
  for (size_t i = start; i < bytes.size(); ++i) {
    const auto b = static_cast<uint8_t>(bytes[i]);
    if (b < 0x80 || (b & 0xC0) == 0x80) continue;  // ASCII or continuation byte
    const SeqScan sc = scan_sequence(bytes, i);
    if (sc.truncated) return i;
  }
  return bytes.size();
}

bool is_unicode_whitespace(char32_t cp) {
  if (cp >= 0x09 && cp <= 0x0D) return true;
  switch (cp) {
    case 0x20: case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

const std::array<char32_t, 256>& byte_to_unicode() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[b] = printable ? static_cast<char32_t>(b) : next++;
    }
    return t;
  }();
  return table;
}

int unicode_to_byte(char32_t cp) {
  static const std::vector<int> inverse = [] {
    std::vector<int> inv(512, -1);
    const auto& t = byte_to_unicode();
    for (int b = 0; b < 256; ++b) inv[t[b]] = b;
    return inv;
  }();
  return cp < inverse.size() ? inverse[cp] : -1;
}

std::string translate_whitespace_classes(const std::string& pattern) {
  static const char* kSpaceBody = R"(\x{9}-\x{d}\x{85}\p{Z})";
  std::string out;
  out.reserve(pattern.size() + 32);
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      if (e == 's') {
        out += in_class ? std::string(kSpaceBody) : fmt::format("[{}]", kSpaceBody);
      } else if (e == 'S') {
        if (in_class) {
          throw TextRegexError(fmt::format("regex '{}': \\S inside a bracket expression (at byte {}) is not supported",
                                           pattern, i - 1));
        }
        out += fmt::format("[^{}]", kSpaceBody);
      } else {
        out.push_back(c);
        out.push_back(e);
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out.push_back(c);
      // A ']' right after '[' or '[^' is a literal.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out.push_back(pattern[++i]);
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out.push_back(pattern[++i]);
      continue;
    }
    if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {
      const size_t close = pattern.find(":]", i + 2);
      if (close != std::string::npos) {
        out.append(pattern, i, close + 2 - i);
        i = close + 1;
        continue;
      }
    }
    if (in_class && c == ']') in_class = false;
    out.push_back(c);
  }
  return out;
}

struct Regex::Impl {
  pcre2_code* code = nullptr;
  ~Impl() {
    if (code) pcre2_code_free(code);
  }
};

namespace {

// One match-data block per thread, big enough for any pattern's whole-match offsets.
pcre2_match_data* thread_match_data() {
  struct Holder {
    pcre2_match_data* md = pcre2_match_data_create(64, nullptr);
    ~Holder() { pcre2_match_data_free(md); }
  };
  thread_local Holder holder;
  return holder.md;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  pcre2_get_error_message(code, buf, sizeof(buf));
  return reinterpret_cast<const char*>(buf);
}

}  // namespace

Regex::Regex(const std::string& pattern, Syntax syntax) : pattern_(pattern), impl_(std::make_unique<Impl>()) {
  uint32_t options = PCRE2_UTF;
  std::string compiled = pattern;
  if (syntax == Syntax::kLiteral) {
    options |= PCRE2_LITERAL;
  } else {
    options |= PCRE2_UCP;
    compiled = translate_whitespace_classes(pattern);
  }
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(compiled.data()), compiled.size(), options, &err,
                              &err_offset, nullptr);
  if (!impl_->code) {
    throw TextRegexError(fmt::format("regex '{}' does not compile (as '{}'): {} at byte {}", pattern, compiled,
                                     pcre2_message(err), err_offset));
  }
  // JIT is an optimisation only: the interpreter gives the same matches when it is unavailable.
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

void Regex::for_each_match(std::string_view subject, const std::function<void(size_t, size_t)>& on_match) const {
  pcre2_match_data* md = thread_match_data();
  const auto* subj = reinterpret_cast<PCRE2_SPTR>(subject.data());
  size_t start = 0;
  while (start <= subject.size()) {
    const int rc = pcre2_match(impl_->code, subj, subject.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      throw TextRegexError(fmt::format("regex '{}' failed on a {}-byte subject at byte {}: {}", pattern_,
                                       subject.size(), start, pcre2_message(rc)));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t b = ov[0];
    const size_t e = ov[1];
    if (e == b) {
      // Empty match: step over one character.
      if (b >= subject.size()) break;
      size_t step = 1;
      while (b + step < subject.size() && (static_cast<uint8_t>(subject[b + step]) & 0xC0) == 0x80) ++step;
      start = b + step;
      continue;
    }
    on_match(b, e);
    start = e;
  }
}

bool Regex::full_match(std::string_view subject) const {
  pcre2_match_data* md = thread_match_data();
  const int rc = pcre2_match(impl_->code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0,
                             PCRE2_NO_UTF_CHECK | PCRE2_ANCHORED | PCRE2_ENDANCHORED, md, nullptr);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) {
    throw TextRegexError(fmt::format("regex '{}' failed: {}", pattern_, pcre2_message(rc)));
  }
  return true;
}

}  // namespace smolvid::model::text
