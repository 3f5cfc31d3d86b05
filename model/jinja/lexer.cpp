// Jinja lexer (see lexer.h).
#include "model/jinja/lexer.h"

#include <fmt/core.h>

#include <cctype>
#include <cstdlib>
#include <string>

#include "model/text_unicode.h"

namespace smolvid::model::jinja {
namespace {

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

class Lexer {
 public:
  Lexer(const std::string& src, const Options& opt, SourceRef ref) : src_(src), opt_(opt), ref_(ref) {}

  std::vector<Token> run() {
    size_t i = 0;
    bool strip_next = false;  // the previous tag ended with '-'
    bool trim_next = false;   // the previous block/comment tag ends a line (trim_blocks)
    const size_t n = src_.size();
    while (i <= n) {
      size_t open = find_tag(i);
      std::string text = src_.substr(i, (open == std::string::npos ? n : open) - i);
      if (strip_next) {
        size_t k = 0;
        while (k < text.size() && is_ascii_space(text[k])) ++k;
        text.erase(0, k);
      } else if (trim_next && !text.empty() && text[0] == '\n') {
        text.erase(0, 1);
      }
      strip_next = trim_next = false;
      if (open == std::string::npos) {
        push_text(std::move(text), i);
        break;
      }
      const char kind = src_[open + 1];
      const char mod = open + 2 < n ? src_[open + 2] : '\0';
      if (mod == '-') {
        while (!text.empty() && is_ascii_space(text.back())) text.pop_back();
      } else if (opt_.lstrip_blocks && kind != '{' && mod != '+') {
        size_t j = open;
        while (j > 0 && (src_[j - 1] == ' ' || src_[j - 1] == '\t')) --j;
        if (j == 0 || src_[j - 1] == '\n') {
          while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.pop_back();
        }
      }
      push_text(std::move(text), i);
      size_t k = open + 2 + ((mod == '-' || mod == '+') ? 1 : 0);
      if (kind == '#') {
        const size_t close = src_.find("#}", k);
        if (close == std::string::npos) ref_.fail(open, "unclosed comment '{#'");
        strip_next = close > k && src_[close - 1] == '-';
        trim_next = opt_.trim_blocks && !(close > k && src_[close - 1] == '+');
        i = close + 2;
        continue;
      }
      const bool is_block = kind == '%';
      tokens_.push_back({is_block ? Token::Kind::kBlockBegin : Token::Kind::kVarBegin, "", 0, 0, open});
      const char close_ch = is_block ? '%' : '}';
      // Expression tokens up to the closing delimiter.
      while (true) {
        while (k < n && is_ascii_space(src_[k])) ++k;
        if (k >= n) ref_.fail(open, is_block ? "unclosed tag '{%'" : "unclosed expression '{{'");
        const char c = src_[k];
        if ((c == '-' || c == '+') && k + 2 < n && src_[k + 1] == close_ch && src_[k + 2] == '}') {
          strip_next = c == '-';  // '+' keeps the newline (no trim_blocks)
          tokens_.push_back({is_block ? Token::Kind::kBlockEnd : Token::Kind::kVarEnd, "", 0, 0, k});
          k += 3;
          break;
        }
        if (c == close_ch && k + 1 < n && src_[k + 1] == '}') {
          trim_next = is_block && opt_.trim_blocks;
          tokens_.push_back({is_block ? Token::Kind::kBlockEnd : Token::Kind::kVarEnd, "", 0, 0, k});
          k += 2;
          break;
        }
        k = lex_one(k);
      }
      i = k;
    }
    tokens_.push_back({Token::Kind::kEof, "", 0, 0, n});
    return std::move(tokens_);
  }

 private:
  size_t find_tag(size_t from) const {
    size_t p = from;
    while ((p = src_.find('{', p)) != std::string::npos) {
      if (p + 1 < src_.size() && (src_[p + 1] == '{' || src_[p + 1] == '%' || src_[p + 1] == '#')) return p;
      ++p;
    }
    return std::string::npos;
  }

  void push_text(std::string text, size_t pos) {
    if (!text.empty()) tokens_.push_back({Token::Kind::kText, std::move(text), 0, 0, pos});
  }

  size_t lex_one(size_t k) {
    const size_t n = src_.size();
    const char c = src_[k];
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t e = k;
      while (e < n && (std::isalnum(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
      tokens_.push_back({Token::Kind::kName, src_.substr(k, e - k), 0, 0, k});
      return e;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t e = k;
      bool is_float = false;
      while (e < n && (std::isdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
      if (e + 1 < n && src_[e] == '.' && std::isdigit(static_cast<unsigned char>(src_[e + 1]))) {
        is_float = true;
        ++e;
        while (e < n && (std::isdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
      }
      if (e < n && (src_[e] == 'e' || src_[e] == 'E')) {
        size_t f = e + 1;
        if (f < n && (src_[f] == '+' || src_[f] == '-')) ++f;
        if (f < n && std::isdigit(static_cast<unsigned char>(src_[f]))) {
          is_float = true;
          e = f;
          while (e < n && std::isdigit(static_cast<unsigned char>(src_[e]))) ++e;
        }
      }
      std::string digits;
      for (size_t q = k; q < e; ++q) {
        if (src_[q] != '_') digits.push_back(src_[q]);
      }
      Token t{is_float ? Token::Kind::kFloat : Token::Kind::kInt, digits, 0, 0, k};
      if (is_float) {
        // strtod, not std::stod (which throws out_of_range): 1e400 is inf and 1e-400 is 0, as in Python.
        t.float_value = std::strtod(digits.c_str(), nullptr);
      } else {
        try {
          t.int_value = std::stoll(digits);
        } catch (const std::exception&) {
          ref_.fail(k, fmt::format("integer literal '{}' is out of range", digits));
        }
      }
      tokens_.push_back(std::move(t));
      return e;
    }
    if (c == '\'' || c == '"') return lex_string(k);
    static const char* kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "|", ".",
                                 ",",  ":",  "(",  ")",  "[",  "]",  "{", "}", "<", ">", "="};
    for (const char* op : kOps) {
      const size_t len = std::char_traits<char>::length(op);
      if (src_.compare(k, len, op) == 0) {
        tokens_.push_back({Token::Kind::kOp, op, 0, 0, k});
        return k + len;
      }
    }
    ref_.fail(k, fmt::format("unexpected character '{}' in a tag", c));
  }

  size_t lex_string(size_t k) {
    const char quote = src_[k];
    std::string value;
    size_t e = k + 1;
    while (true) {
      if (e >= src_.size()) ref_.fail(k, "unterminated string literal");
      const char c = src_[e];
      if (c == quote) break;
      if (c == '\\' && e + 1 < src_.size()) {
        const char x = src_[++e];
        switch (x) {
          case 'n': value.push_back('\n'); break;
          case 't': value.push_back('\t'); break;
          case 'r': value.push_back('\r'); break;
          case '\\': value.push_back('\\'); break;
          case '\'': value.push_back('\''); break;
          case '"': value.push_back('"'); break;
          case '\n': break;  // line continuation
          case 'u':
          case 'x': {
            const size_t digits = x == 'u' ? 4 : 2;
            if (e + digits >= src_.size()) ref_.fail(e, "truncated escape in a string literal");
            // std::stoul threw (or skipped spaces and signs) on '\x-1', '\xzz': only hex digits form an escape.
            const std::string hex = src_.substr(e + 1, digits);
            if (hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
              ref_.fail(e, fmt::format("bad escape '\\{}{}' in a string literal: expected {} hex digits", x, hex, digits));
            }
            const char32_t cp = static_cast<char32_t>(std::strtoul(hex.c_str(), nullptr, 16));
            text::append_utf8(value, cp);
            e += digits;
            break;
          }
          default:
            // Python keeps unknown escapes verbatim.
            value.push_back('\\');
            value.push_back(x);
        }
        ++e;
        continue;
      }
      value.push_back(c);
      ++e;
    }
    tokens_.push_back({Token::Kind::kString, std::move(value), 0, 0, k});
    return e + 1;
  }

  const std::string& src_;
  const Options& opt_;
  SourceRef ref_;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> lex(const std::string& source, const Options& options, const SourceRef& ref) {
  return Lexer(source, options, ref).run();
}

}  // namespace smolvid::model::jinja
