// model/chat_template.cpp: a small Jinja interpreter for chat templates (see chat_template.h).
// Structure: a lexer (text / tags / expression tokens, whitespace control applied while lexing), a
// recursive-descent parser into an AST, and a tree-walking renderer over JSON values.
#include "model/chat_template.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "model/text_unicode.h"

namespace smolvid::model {

const char* const kSmolVLMVideoChatTemplate =
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}{% if message['content'][0]['type'] == "
    "'image' %}{{':'}}{% else %}{{': '}}{% endif %}{% for line in message['content'] %}{% if line['type'] == 'text' "
    "%}{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}{% elif line['type'] == 'video' %}{{ "
    "'<video>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ "
    "'Assistant:' }}{% endif %}";

// Python dicts keep insertion order; so do these values (a template may print a whole dict).
using json = nlohmann::ordered_json;

namespace {

// ---------------------------------------------------------------------------------------------
// Errors with positions.

struct SourceRef {
  const std::string* source;
  const std::string* name;

  [[noreturn]] void fail(size_t pos, const std::string& what) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < pos && i < source->size(); ++i) {
      if ((*source)[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw ChatTemplateError(fmt::format("{}: {} (line {}, column {})", *name, what, line, col));
  }
};

// ---------------------------------------------------------------------------------------------
// Lexer.

struct Token {
  enum class Kind { kText, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOp, kEof };
  Kind kind;
  std::string text;  // text data, name, string value or operator
  int64_t int_value = 0;
  double float_value = 0;
  size_t pos = 0;
};

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

class Lexer {
 public:
  Lexer(const std::string& src, const ChatTemplateOptions& opt, SourceRef ref) : src_(src), opt_(opt), ref_(ref) {}

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
  const ChatTemplateOptions& opt_;
  SourceRef ref_;
  std::vector<Token> tokens_;
};

// ---------------------------------------------------------------------------------------------
// AST.

struct Expr {
  enum class Kind {
    kLiteral, kName, kGetAttr, kGetItem, kSlice, kCall, kFilter, kTest, kNeg, kPos, kNot, kAnd, kOr, kBinary,
    kCompare, kCond, kList, kDict
  };
  Kind kind;
  size_t pos = 0;
  std::string name;  // variable / attribute / filter / test / operator
  json literal;
  bool negated = false;                              // `is not`
  std::vector<std::unique_ptr<Expr>> args;           // operands; for kSlice: obj, start, stop, step (may be null)
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> kwargs;
};
using ExprPtr = std::unique_ptr<Expr>;

struct Node {
  enum class Kind { kText, kOutput, kIf, kFor, kSet };
  explicit Node(Kind k) : kind(k) {}
  Kind kind;
  size_t pos = 0;
  std::string text;
  ExprPtr expr;  // output / for iterable / set value
  // if
  std::vector<std::pair<ExprPtr, std::vector<Node>>> branches;
  std::vector<Node> else_body;
  // for
  std::vector<std::string> targets;
  ExprPtr filter;
  std::vector<Node> body;
  // set
  std::string set_name;
  std::string set_attr;  // `set ns.attr = ...` when non-empty
};

// ---------------------------------------------------------------------------------------------
// Parser.

// The filters and tests the renderer implements; others are rejected while parsing.
const std::set<std::string> kFilters = {"capitalize", "trim",  "lower", "upper",   "title", "string", "length",
                                        "count",      "join",  "first", "last",    "default", "d",    "tojson",
                                        "reverse",    "list",  "int",   "float"};
const std::set<std::string> kTests = {"defined", "undefined", "none",     "string",   "number", "integer", "float",
                                      "boolean", "true",      "false",    "mapping",  "iterable", "sequence", "eq",
                                      "equalto", "ne",        "in"};

class Parser {
 public:
  Parser(std::vector<Token> tokens, SourceRef ref, size_t max_nesting)
      : t_(std::move(tokens)), ref_(ref), max_nesting_(max_nesting) {}

  std::vector<Node> parse_template() {
    std::string stop;
    std::vector<Node> body = parse_until({}, &stop);
    return body;
  }

 private:
  const Token& peek(size_t ahead = 0) const { return t_[std::min(k_ + ahead, t_.size() - 1)]; }
  const Token& next() { return t_[std::min(k_++, t_.size() - 1)]; }
  bool is_op(const char* op, size_t ahead = 0) const {
    return peek(ahead).kind == Token::Kind::kOp && peek(ahead).text == op;
  }
  bool is_name(const char* name, size_t ahead = 0) const {
    return peek(ahead).kind == Token::Kind::kName && peek(ahead).text == name;
  }
  std::string describe(const Token& t) const {
    switch (t.kind) {
      case Token::Kind::kText: return "template text";
      case Token::Kind::kVarBegin: return "'{{'";
      case Token::Kind::kVarEnd: return "'}}'";
      case Token::Kind::kBlockBegin: return "'{%'";
      case Token::Kind::kBlockEnd: return "'%}'";
      case Token::Kind::kEof: return "the end of the template";
      case Token::Kind::kString: return fmt::format("string '{}'", t.text);
      default: return fmt::format("'{}'", t.text);
    }
  }
  void expect_op(const char* op) {
    if (!is_op(op)) ref_.fail(peek().pos, fmt::format("expected '{}', got {}", op, describe(peek())));
    ++k_;
  }
  void expect(Token::Kind kind, const char* what) {
    if (peek().kind != kind) ref_.fail(peek().pos, fmt::format("expected {}, got {}", what, describe(peek())));
    ++k_;
  }
  std::string expect_name() {
    if (peek().kind != Token::Kind::kName) ref_.fail(peek().pos, fmt::format("expected a name, got {}", describe(peek())));
    return next().text;
  }

  // Parses nodes until a block tag whose keyword is in stops (consumed up to and including the
  // keyword; *stopped_by names it) or the end of the template (only when stops is empty).
  std::vector<Node> parse_until(const std::set<std::string>& stops, std::string* stopped_by) {
    const NestingGuard guard(*this);
    std::vector<Node> nodes;
    while (true) {
      const Token& tok = peek();
      if (tok.kind == Token::Kind::kEof) {
        if (!stops.empty()) {
          ref_.fail(tok.pos, fmt::format("missing '{{% {} %}}' before the end of the template", *stops.rbegin()));
        }
        return nodes;
      }
      if (tok.kind == Token::Kind::kText) {
        Node n{Node::Kind::kText};
        n.pos = tok.pos;
        n.text = tok.text;
        nodes.push_back(std::move(n));
        ++k_;
        continue;
      }
      if (tok.kind == Token::Kind::kVarBegin) {
        ++k_;
        Node n{Node::Kind::kOutput};
        n.pos = tok.pos;
        n.expr = parse_expr();
        expect(Token::Kind::kVarEnd, "'}}'");
        nodes.push_back(std::move(n));
        continue;
      }
      if (tok.kind != Token::Kind::kBlockBegin) ref_.fail(tok.pos, fmt::format("unexpected {}", describe(tok)));
      const size_t tag_pos = tok.pos;
      ++k_;
      if (peek().kind != Token::Kind::kName) ref_.fail(peek().pos, "expected a statement name after '{%'");
      const std::string kw = peek().text;
      if (stops.count(kw)) {
        ++k_;
        *stopped_by = kw;
        return nodes;
      }
      ++k_;
      if (kw == "if") {
        nodes.push_back(parse_if(tag_pos));
      } else if (kw == "for") {
        nodes.push_back(parse_for(tag_pos));
      } else if (kw == "set") {
        nodes.push_back(parse_set(tag_pos));
      } else if (kw == "elif" || kw == "else" || kw == "endif" || kw == "endfor") {
        ref_.fail(tag_pos, fmt::format("'{{% {} %}}' without a matching opening statement", kw));
      } else {
        ref_.fail(tag_pos, fmt::format("unsupported statement '{{% {} %}}' (supported: if, elif, else, for, set)", kw));
      }
    }
  }

  Node parse_if(size_t pos) {
    Node n{Node::Kind::kIf};
    n.pos = pos;
    ExprPtr cond = parse_expr();
    expect(Token::Kind::kBlockEnd, "'%}'");
    while (true) {
      std::string stop;
      std::vector<Node> body = parse_until({"elif", "else", "endif"}, &stop);
      n.branches.emplace_back(std::move(cond), std::move(body));
      if (stop == "elif") {
        cond = parse_expr();
        expect(Token::Kind::kBlockEnd, "'%}'");
        continue;
      }
      if (stop == "else") {
        expect(Token::Kind::kBlockEnd, "'%}'");
        n.else_body = parse_until({"endif"}, &stop);
      }
      expect(Token::Kind::kBlockEnd, "'%}'");
      return n;
    }
  }

  Node parse_for(size_t pos) {
    Node n{Node::Kind::kFor};
    n.pos = pos;
    n.targets.push_back(expect_name());
    while (is_op(",")) {
      ++k_;
      n.targets.push_back(expect_name());
    }
    if (!is_name("in")) ref_.fail(peek().pos, fmt::format("expected 'in' in a for loop, got {}", describe(peek())));
    ++k_;
    n.expr = parse_or();
    if (is_name("if")) {
      ++k_;
      n.filter = parse_or();
    }
    if (is_name("recursive")) ref_.fail(peek().pos, "unsupported construct 'recursive' for loop");
    expect(Token::Kind::kBlockEnd, "'%}'");
    std::string stop;
    n.body = parse_until({"else", "endfor"}, &stop);
    if (stop == "else") {
      expect(Token::Kind::kBlockEnd, "'%}'");
      n.else_body = parse_until({"endfor"}, &stop);
    }
    expect(Token::Kind::kBlockEnd, "'%}'");
    return n;
  }

  Node parse_set(size_t pos) {
    Node n{Node::Kind::kSet};
    n.pos = pos;
    n.set_name = expect_name();
    if (is_op(".")) {
      ++k_;
      n.set_attr = expect_name();
    }
    if (peek().kind == Token::Kind::kBlockEnd) ref_.fail(pos, "unsupported construct: block '{% set %}...{% endset %}'");
    expect_op("=");
    n.expr = parse_expr();
    expect(Token::Kind::kBlockEnd, "'%}'");
    return n;
  }

  // Counts the recursion of the descent parser: deeply nested input fails with an error instead of
  // overflowing the stack (here, in the renderer, or in the AST's destructors).
  struct NestingGuard {
    explicit NestingGuard(Parser& p) : p_(p) {
      if (++p_.depth_ > p_.max_nesting_) {
        p_.ref_.fail(p_.peek().pos, fmt::format("nesting deeper than {} levels", p_.max_nesting_));
      }
    }
    ~NestingGuard() { --p_.depth_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;
    Parser& p_;
  };

  ExprPtr make(Expr::Kind kind, size_t pos, std::string name = {}) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    e->name = std::move(name);
    return e;
  }

  ExprPtr parse_expr() {
    const NestingGuard guard(*this);
    ExprPtr value = parse_or();
    if (is_name("if")) {
      const size_t pos = next().pos;
      ExprPtr cond = parse_or();
      ExprPtr otherwise;
      if (is_name("else")) {
        ++k_;
        otherwise = parse_expr();
      }
      auto e = make(Expr::Kind::kCond, pos);
      e->args.push_back(std::move(cond));
      e->args.push_back(std::move(value));
      e->args.push_back(std::move(otherwise));  // may be null: undefined
      return e;
    }
    return value;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (is_name("or")) {
      auto e = make(Expr::Kind::kOr, next().pos);
      e->args.push_back(std::move(left));
      e->args.push_back(parse_and());
      left = std::move(e);
    }
    return left;
  }

  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (is_name("and")) {
      auto e = make(Expr::Kind::kAnd, next().pos);
      e->args.push_back(std::move(left));
      e->args.push_back(parse_not());
      left = std::move(e);
    }
    return left;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      auto e = make(Expr::Kind::kNot, next().pos);
      e->args.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    ExprPtr left = parse_concat();
    while (true) {
      std::string op;
      const size_t pos = peek().pos;
      if (is_op("==") || is_op("!=") || is_op("<") || is_op(">") || is_op("<=") || is_op(">=")) {
        op = next().text;
      } else if (is_name("in")) {
        ++k_;
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        k_ += 2;
        op = "not in";
      } else {
        return left;
      }
      auto e = make(Expr::Kind::kCompare, pos, op);
      e->args.push_back(std::move(left));
      e->args.push_back(parse_concat());
      left = std::move(e);
    }
  }

  ExprPtr parse_binary_level(int level) {
    static const std::vector<std::vector<std::string>> kLevels = {{"~"}, {"+", "-"}, {"*", "/", "//", "%"}, {"**"}};
    if (level == static_cast<int>(kLevels.size())) return parse_unary();
    ExprPtr left = parse_binary_level(level + 1);
    while (peek().kind == Token::Kind::kOp) {
      const auto& ops = kLevels[static_cast<size_t>(level)];
      if (std::find(ops.begin(), ops.end(), peek().text) == ops.end()) break;
      auto e = make(Expr::Kind::kBinary, peek().pos, next().text);
      e->args.push_back(std::move(left));
      e->args.push_back(parse_binary_level(level + 1));
      left = std::move(e);
    }
    return left;
  }
  ExprPtr parse_concat() { return parse_binary_level(0); }

  ExprPtr parse_unary() {
    const NestingGuard guard(*this);
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      auto e = make(t.text == "-" ? Expr::Kind::kNeg : Expr::Kind::kPos, t.pos);
      e->args.push_back(parse_unary());
      return e;
    }
    ExprPtr value = parse_postfix(parse_primary());
    // Filters and tests bind tighter than binary operators.
    while (true) {
      if (is_op("|")) {
        const size_t pos = next().pos;
        auto e = make(Expr::Kind::kFilter, pos, expect_name());
        if (!kFilters.count(e->name)) ref_.fail(pos, fmt::format("unsupported filter '{}'", e->name));
        e->args.push_back(std::move(value));
        if (is_op("(")) parse_call_args(*e);
        value = std::move(e);
      } else if (is_name("is")) {
        const size_t pos = next().pos;
        bool negated = false;
        if (is_name("not")) {
          ++k_;
          negated = true;
        }
        std::string test = peek().kind == Token::Kind::kName ? next().text : "";
        if (test.empty()) {
          // `is none` / `is true` arrive as names too; anything else is malformed.
          ref_.fail(peek().pos, fmt::format("expected a test name after 'is', got {}", describe(peek())));
        }
        if (!kTests.count(test)) ref_.fail(pos, fmt::format("unsupported test '{}'", test));
        auto e = make(Expr::Kind::kTest, pos, test);
        e->negated = negated;
        e->args.push_back(std::move(value));
        if (is_op("(")) {
          parse_call_args(*e);
        } else if (peek().kind == Token::Kind::kString || peek().kind == Token::Kind::kInt ||
                   peek().kind == Token::Kind::kFloat ||
                   (peek().kind == Token::Kind::kName && !is_name("and") && !is_name("or") && !is_name("if") &&
                    !is_name("else") && !is_name("in") && !is_name("not"))) {
          e->args.push_back(parse_postfix(parse_primary()));  // `x is divisibleby 3` style argument
        }
        value = std::move(e);
      } else {
        return value;
      }
    }
  }

  void parse_call_args(Expr& call) {
    expect_op("(");
    while (!is_op(")")) {
      if (peek().kind == Token::Kind::kName && is_op("=", 1)) {
        std::string key = next().text;
        ++k_;
        call.kwargs.emplace_back(std::move(key), parse_expr());
      } else {
        if (!call.kwargs.empty()) ref_.fail(peek().pos, "positional argument after a keyword argument");
        call.args.push_back(parse_expr());
      }
      if (!is_op(",")) break;
      ++k_;
    }
    expect_op(")");
  }

  ExprPtr parse_primary() {
    const Token& t = peek();
    switch (t.kind) {
      case Token::Kind::kString: {
        ++k_;
        std::string s = t.text;
        // Adjacent string literals concatenate, as in Python.
        while (peek().kind == Token::Kind::kString) s += next().text;
        auto e = make(Expr::Kind::kLiteral, t.pos);
        e->literal = s;
        return e;
      }
      case Token::Kind::kInt: {
        ++k_;
        auto e = make(Expr::Kind::kLiteral, t.pos);
        e->literal = t.int_value;
        return e;
      }
      case Token::Kind::kFloat: {
        ++k_;
        auto e = make(Expr::Kind::kLiteral, t.pos);
        e->literal = t.float_value;
        return e;
      }
      case Token::Kind::kName: {
        ++k_;
        auto e = make(Expr::Kind::kLiteral, t.pos);
        if (t.text == "true" || t.text == "True") {
          e->literal = true;
        } else if (t.text == "false" || t.text == "False") {
          e->literal = false;
        } else if (t.text == "none" || t.text == "None") {
          e->literal = nullptr;
        } else {
          return make(Expr::Kind::kName, t.pos, t.text);
        }
        return e;
      }
      case Token::Kind::kOp:
        if (t.text == "(") {
          ++k_;
          ExprPtr inner = parse_expr();
          if (is_op(",")) ref_.fail(peek().pos, "unsupported construct: tuple literal");
          expect_op(")");
          return inner;
        }
        if (t.text == "[") {
          ++k_;
          auto e = make(Expr::Kind::kList, t.pos);
          while (!is_op("]")) {
            e->args.push_back(parse_expr());
            if (!is_op(",")) break;
            ++k_;
          }
          expect_op("]");
          return e;
        }
        if (t.text == "{") {
          ++k_;
          auto e = make(Expr::Kind::kDict, t.pos);
          while (!is_op("}")) {
            e->args.push_back(parse_expr());
            expect_op(":");
            e->args.push_back(parse_expr());
            if (!is_op(",")) break;
            ++k_;
          }
          expect_op("}");
          return e;
        }
        break;
      default:
        break;
    }
    ref_.fail(t.pos, fmt::format("expected an expression, got {}", describe(t)));
  }

  ExprPtr parse_postfix(ExprPtr value) {
    while (true) {
      if (is_op(".")) {
        const size_t pos = next().pos;
        std::string attr;
        if (peek().kind == Token::Kind::kInt) {
          attr = std::to_string(next().int_value);
        } else {
          attr = expect_name();
        }
        auto e = make(Expr::Kind::kGetAttr, pos, attr);
        e->args.push_back(std::move(value));
        value = std::move(e);
      } else if (is_op("[")) {
        const size_t pos = next().pos;
        ExprPtr parts[3];
        bool is_slice = false;
        for (int p = 0; p < 3; ++p) {
          if (!is_op(":") && !is_op("]")) parts[p] = parse_expr();
          if (p < 2 && is_op(":")) {
            ++k_;
            is_slice = true;
            continue;
          }
          break;
        }
        expect_op("]");
        auto e = make(is_slice ? Expr::Kind::kSlice : Expr::Kind::kGetItem, pos);
        e->args.push_back(std::move(value));
        if (!is_slice && !parts[0]) ref_.fail(pos, "empty subscript '[]'");
        for (int p = 0; p < (is_slice ? 3 : 1); ++p) e->args.push_back(std::move(parts[p]));
        value = std::move(e);
      } else if (is_op("(")) {
        auto e = make(Expr::Kind::kCall, peek().pos);
        e->args.push_back(std::move(value));
        parse_call_args(*e);
        value = std::move(e);
      } else {
        return value;
      }
    }
  }

  std::vector<Token> t_;
  size_t k_ = 0;
  SourceRef ref_;
  size_t max_nesting_;
  size_t depth_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Values and rendering.

struct Value {
  bool undefined = false;
  json j;
  static Value undef() {
    Value v;
    v.undefined = true;
    return v;
  }
  Value() = default;
  Value(json x) : j(std::move(x)) {}  // NOLINT: implicit from JSON is the common case
};

std::string python_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", d);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string python_repr_string(const std::string& s) {
  const bool use_double = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = use_double ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == q || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out.push_back(c);
    }
  }
  out.push_back(q);
  return out;
}

std::string python_repr(const json& j);

std::string python_str(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  return python_repr(j);
}

std::string python_repr(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "None";
    case json::value_t::boolean: return j.get<bool>() ? "True" : "False";
    case json::value_t::number_integer: return std::to_string(j.get<int64_t>());
    case json::value_t::number_unsigned: return std::to_string(j.get<uint64_t>());
    case json::value_t::number_float: return python_float(j.get<double>());
    case json::value_t::string: return python_repr_string(j.get<std::string>());
    case json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < j.size(); ++i) out += (i ? ", " : "") + python_repr(j[i]);
      return out + "]";
    }
    case json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : j.items()) {
        out += (first ? "" : ", ") + python_repr_string(k) + ": " + python_repr(v);
        first = false;
      }
      return out + "}";
    }
    default: return "";
  }
}

// json.dumps(x, ensure_ascii=False) with Python's default separators (transformers' tojson).
std::string python_json_dumps(const json& j, int indent, int depth = 0) {
  const std::string nl = indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent * (depth + 1)), ' ') : "";
  const std::string nl_end = indent >= 0 ? "\n" + std::string(static_cast<size_t>(indent * depth), ' ') : "";
  const std::string item_sep = indent >= 0 ? "," : ", ";
  switch (j.type()) {
    case json::value_t::array: {
      if (j.empty()) return "[]";
      std::string out = "[";
      for (size_t i = 0; i < j.size(); ++i) out += (i ? item_sep : "") + nl + python_json_dumps(j[i], indent, depth + 1);
      return out + nl_end + "]";
    }
    case json::value_t::object: {
      if (j.empty()) return "{}";
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : j.items()) {
        out += (first ? "" : item_sep) + nl + json(k).dump(-1, ' ', false) + ": " + python_json_dumps(v, indent, depth + 1);
        first = false;
      }
      return out + nl_end + "}";
    }
    case json::value_t::number_float: return python_float(j.get<double>());
    default: return j.dump(-1, ' ', false, json::error_handler_t::replace);
  }
}

bool truthy(const Value& v) {
  if (v.undefined) return false;
  const json& j = v.j;
  switch (j.type()) {
    case json::value_t::null: return false;
    case json::value_t::boolean: return j.get<bool>();
    case json::value_t::number_integer: return j.get<int64_t>() != 0;
    case json::value_t::number_unsigned: return j.get<uint64_t>() != 0;
    case json::value_t::number_float: return j.get<double>() != 0.0;
    case json::value_t::string: return !j.get_ref<const std::string&>().empty();  // json::empty() is false for strings
    case json::value_t::array:
    case json::value_t::object: return !j.empty();
    default: return false;
  }
}

std::string to_str(const Value& v) { return v.undefined ? std::string() : python_str(v.j); }

const char* type_name(const Value& v) {
  if (v.undefined) return "undefined";
  switch (v.j.type()) {
    case json::value_t::null: return "none";
    case json::value_t::boolean: return "bool";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "int";
    case json::value_t::number_float: return "float";
    case json::value_t::string: return "str";
    case json::value_t::array: return "list";
    case json::value_t::object: return "dict";
    default: return "value";
  }
}

// UTF-8 string <-> code points (Python strings index by code point).
std::vector<std::string> code_points(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t n = 1;
    while (i + n < s.size() && (static_cast<uint8_t>(s[i + n]) & 0xC0) == 0x80) ++n;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

bool py_isspace(char32_t cp) { return text::is_unicode_whitespace(cp) || (cp >= 0x1C && cp <= 0x1F); }

std::string strip_chars(const std::string& s, const Value* chars, bool left, bool right) {
  const std::vector<std::string> cps = code_points(s);
  std::set<std::string> set;
  if (chars && !chars->undefined && !chars->j.is_null()) {
    for (const std::string& c : code_points(chars->j.get<std::string>())) set.insert(c);
  }
  auto strip_this = [&](const std::string& c) {
    if (!set.empty() || (chars && !chars->undefined && !chars->j.is_null())) return set.count(c) != 0;
    char32_t cp = 0;
    return text::decode_utf8(c, 0, &cp) > 0 && py_isspace(cp);
  };
  size_t b = 0, e = cps.size();
  if (left) {
    while (b < e && strip_this(cps[b])) ++b;
  }
  if (right) {
    while (e > b && strip_this(cps[e - 1])) --e;
  }
  std::string out;
  for (size_t i = b; i < e; ++i) out += cps[i];
  return out;
}

std::string ascii_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string ascii_upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string py_capitalize(const std::string& s) {
  std::string out = ascii_lower(s);
  if (!out.empty()) out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}
std::string py_title(const std::string& s) {
  std::string out = s;
  bool prev_cased = false;
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalpha(u)) {
      c = static_cast<char>(prev_cased ? std::tolower(u) : std::toupper(u));
      prev_cased = true;
    } else {
      prev_cased = false;
    }
  }
  return out;
}

class Renderer {
 public:
  Renderer(SourceRef ref, const json& context, const ChatTemplateOptions& limits) : ref_(ref), limits_(limits) {
    scopes_.emplace_back();
    if (!context.is_object()) throw ChatTemplateError(fmt::format("{}: the render context must be a JSON object", *ref.name));
    for (const auto& [k, v] : context.items()) scopes_.back()[k] = Value(v);
  }

  void render(const std::vector<Node>& nodes, std::string& out) {
    for (const Node& n : nodes) {
      render_node(n, out);
      if (out.size() > limits_.max_output_bytes) {
        fail(n.pos, fmt::format("output exceeds the budget of {} bytes (ChatTemplateOptions::max_output_bytes)",
                                limits_.max_output_bytes));
      }
    }
  }

 private:
  // Charges `cost` steps; throws once the render has used more than max_steps.
  void spend(size_t pos, size_t cost = 1) {
    steps_ += cost;
    if (steps_ > limits_.max_steps) {
      fail(pos, fmt::format("render exceeds the budget of {} steps (ChatTemplateOptions::max_steps): a runaway loop?",
                            limits_.max_steps));
    }
  }
  // What a newly built value costs: one step per JSON node (so doubling a list in a loop runs out of
  // budget long before memory), and strings are capped at max_output_bytes.
  void charge_value(const Value& v, size_t pos) {
    if (v.undefined) return;
    if (v.j.is_string()) {
      if (v.j.get_ref<const std::string&>().size() > limits_.max_output_bytes) {
        fail(pos, fmt::format("a string value exceeds the budget of {} bytes (ChatTemplateOptions::max_output_bytes)",
                              limits_.max_output_bytes));
      }
      return;
    }
    if (!v.j.is_structured()) return;
    std::vector<const json*> stack{&v.j};
    while (!stack.empty()) {
      const json* j = stack.back();
      stack.pop_back();
      spend(pos);
      if (j->is_structured()) {
        for (const json& x : *j) stack.push_back(&x);
      }
    }
  }
  // a op b on int64 with Python's result or an error where Python would need a big integer.
  int64_t checked(bool overflow, int64_t value, size_t pos) const {
    if (overflow) fail(pos, "integer overflow (values beyond 64 bits are not supported)");
    return value;
  }

  using Scope = std::unordered_map<std::string, Value>;

  [[noreturn]] void fail(size_t pos, const std::string& what) const { ref_.fail(pos, what); }

  void render_node(const Node& n, std::string& out) {
    spend(n.pos);
    switch (n.kind) {
      case Node::Kind::kText: out += n.text; return;
      case Node::Kind::kOutput: out += to_str(eval(*n.expr)); return;
      case Node::Kind::kIf:
        for (const auto& [cond, body] : n.branches) {
          if (truthy(eval(*cond))) {
            render(body, out);
            return;
          }
        }
        render(n.else_body, out);
        return;
      case Node::Kind::kFor: render_for(n, out); return;
      case Node::Kind::kSet: {
        Value v = eval(*n.expr);
        if (n.set_attr.empty()) {
          scopes_.back()[n.set_name] = std::move(v);
          return;
        }
        Value* target = lookup_ref(n.set_name);
        if (!target || target->undefined || !target->j.is_object()) {
          fail(n.pos, fmt::format("cannot assign attribute '{}' of '{}' (not a namespace)", n.set_attr, n.set_name));
        }
        target->j[n.set_attr] = v.undefined ? json() : v.j;
        return;
      }
    }
  }

  void render_for(const Node& n, std::string& out) {
    const Value seq = eval(*n.expr);
    std::vector<json> items;
    if (seq.undefined) {
      // jinja2's Undefined iterates as empty.
    } else if (seq.j.is_array()) {
      items.assign(seq.j.begin(), seq.j.end());
    } else if (seq.j.is_object()) {
      for (const auto& [k, v] : seq.j.items()) items.emplace_back(k);
    } else if (seq.j.is_string()) {
      for (std::string& c : code_points(seq.j.get<std::string>())) items.emplace_back(std::move(c));
    } else {
      fail(n.expr->pos, fmt::format("cannot iterate over a value of type {}", type_name(seq)));
    }
    scopes_.emplace_back();
    auto bind = [&](const json& item) {
      if (n.targets.size() == 1) {
        scopes_.back()[n.targets[0]] = Value(item);
        return;
      }
      if (!item.is_array() || item.size() != n.targets.size()) {
        fail(n.pos, fmt::format("cannot unpack {} into {} loop variables", python_repr(item), n.targets.size()));
      }
      for (size_t t = 0; t < n.targets.size(); ++t) scopes_.back()[n.targets[t]] = Value(item[t]);
    };
    if (n.filter) {
      std::vector<json> kept;
      for (const json& item : items) {
        bind(item);
        if (truthy(eval(*n.filter))) kept.push_back(item);
      }
      items.swap(kept);
    }
    const size_t len = items.size();
    for (size_t i = 0; i < len; ++i) {
      spend(n.pos);
      scopes_.back().clear();
      bind(items[i]);
      json loop = {{"index", i + 1},
                   {"index0", i},
                   {"revindex", len - i},
                   {"revindex0", len - i - 1},
                   {"first", i == 0},
                   {"last", i + 1 == len},
                   {"length", len}};
      if (i > 0) loop["previtem"] = items[i - 1];
      if (i + 1 < len) loop["nextitem"] = items[i + 1];
      scopes_.back()["loop"] = Value(std::move(loop));
      render(n.body, out);
    }
    scopes_.pop_back();
    if (len == 0) render(n.else_body, out);
  }

  Value* lookup_ref(const std::string& name) {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      const auto f = it->find(name);
      if (f != it->end()) return &f->second;
    }
    return nullptr;
  }

  static int64_t py_index(int64_t i, size_t size) { return i < 0 ? i + static_cast<int64_t>(size) : i; }

  Value get_item(const Value& obj, const Value& key, size_t pos) {
    if (obj.undefined) fail(pos, "cannot index an undefined value");
    if (key.undefined) return Value::undef();
    if (obj.j.is_object()) {
      if (!key.j.is_string()) return Value::undef();
      const auto it = obj.j.find(key.j.get<std::string>());
      return it == obj.j.end() ? Value::undef() : Value(*it);
    }
    if ((obj.j.is_array() || obj.j.is_string()) && key.j.is_number_integer()) {
      if (obj.j.is_array()) {
        const int64_t i = py_index(key.j.get<int64_t>(), obj.j.size());
        if (i < 0 || i >= static_cast<int64_t>(obj.j.size())) return Value::undef();
        return Value(obj.j[static_cast<size_t>(i)]);
      }
      const std::vector<std::string> cps = code_points(obj.j.get<std::string>());
      const int64_t i = py_index(key.j.get<int64_t>(), cps.size());
      if (i < 0 || i >= static_cast<int64_t>(cps.size())) return Value::undef();
      return Value(json(cps[static_cast<size_t>(i)]));
    }
    return Value::undef();  // e.g. "text"['type']: jinja2 returns undefined
  }

  Value slice(const Value& obj, const Expr& e) {
    if (obj.undefined) fail(e.pos, "cannot slice an undefined value");
    auto bound = [&](const ExprPtr& p) -> std::optional<int64_t> {
      if (!p) return std::nullopt;
      const Value v = eval(*p);
      if (v.undefined || v.j.is_null()) return std::nullopt;
      if (!v.j.is_number_integer()) fail(p->pos, "slice bounds must be integers");
      return v.j.get<int64_t>();
    };
    const auto start = bound(e.args[1]), stop = bound(e.args[2]), step_opt = bound(e.args[3]);
    const int64_t step = step_opt.value_or(1);
    if (step == 0) fail(e.pos, "slice step cannot be zero");
    std::vector<json> elems;
    const bool is_string = obj.j.is_string();
    if (is_string) {
      for (std::string& c : code_points(obj.j.get<std::string>())) elems.emplace_back(std::move(c));
    } else if (obj.j.is_array()) {
      elems.assign(obj.j.begin(), obj.j.end());
    } else {
      fail(e.pos, fmt::format("cannot slice a value of type {}", type_name(obj)));
    }
    const auto n = static_cast<int64_t>(elems.size());
    auto clamp = [&](std::optional<int64_t> v, int64_t def) {
      if (!v) return def;
      int64_t x = *v < 0 ? *v + n : *v;
      if (step > 0) return std::clamp<int64_t>(x, 0, n);
      return std::clamp<int64_t>(x, -1, n - 1);
    };
    const int64_t b = clamp(start, step > 0 ? 0 : n - 1);
    const int64_t s = clamp(stop, step > 0 ? n : -1);
    json out_list = json::array();
    std::string out_str;
    for (int64_t i = b; step > 0 ? i < s : i > s;) {
      spend(e.pos);
      if (is_string) {
        out_str += elems[static_cast<size_t>(i)].get<std::string>();
      } else {
        out_list.push_back(elems[static_cast<size_t>(i)]);
      }
      if (__builtin_add_overflow(i, step, &i)) break;  // a huge step leaves the range at once
    }
    return is_string ? Value(json(out_str)) : Value(out_list);
  }

  static bool values_equal(const Value& a, const Value& b) {
    if (a.undefined || b.undefined) return a.undefined && b.undefined;
    return a.j == b.j;
  }

  Value compare(const std::string& op, const Value& a, const Value& b, size_t pos) {
    if (op == "==") return Value(values_equal(a, b));
    if (op == "!=") return Value(!values_equal(a, b));
    if (op == "in" || op == "not in") {
      bool found = false;
      if (b.undefined) {
        found = false;
      } else if (b.j.is_string()) {
        if (a.undefined || !a.j.is_string()) fail(pos, fmt::format("'in <string>' requires a string, got {}", type_name(a)));
        found = b.j.get<std::string>().find(a.j.get<std::string>()) != std::string::npos;
      } else if (b.j.is_array()) {
        for (const json& x : b.j) found = found || (!a.undefined && x == a.j);
      } else if (b.j.is_object()) {
        found = !a.undefined && a.j.is_string() && b.j.contains(a.j.get<std::string>());
      } else {
        fail(pos, fmt::format("'in' needs a string, list or dict on the right, got {}", type_name(b)));
      }
      return Value(op == "in" ? found : !found);
    }
    const bool numbers = !a.undefined && !b.undefined && a.j.is_number() && b.j.is_number();
    const bool strings = !a.undefined && !b.undefined && a.j.is_string() && b.j.is_string();
    if (!numbers && !strings) {
      fail(pos, fmt::format("'{}' not supported between {} and {}", op, type_name(a), type_name(b)));
    }
    int c = 0;
    if (numbers) {
      const double x = a.j.get<double>(), y = b.j.get<double>();
      c = x < y ? -1 : (x > y ? 1 : 0);
    } else {
      c = a.j.get<std::string>().compare(b.j.get<std::string>());
    }
    if (op == "<") return Value(c < 0);
    if (op == ">") return Value(c > 0);
    if (op == "<=") return Value(c <= 0);
    return Value(c >= 0);
  }

  Value arithmetic(const std::string& op, const Value& a, const Value& b, size_t pos) {
    if (op == "~") return Value(json(to_str(a) + to_str(b)));
    if (!a.undefined && !b.undefined) {
      if (op == "+" && a.j.is_string() && b.j.is_string()) return Value(json(a.j.get<std::string>() + b.j.get<std::string>()));
      if (op == "+" && a.j.is_array() && b.j.is_array()) {
        json out = a.j;
        for (const json& x : b.j) out.push_back(x);
        return Value(out);
      }
      if (op == "*" && a.j.is_string() && b.j.is_number_integer()) {
        const std::string& unit = a.j.get_ref<const std::string&>();
        const int64_t times = b.j.get<int64_t>();
        if (times > 0 && !unit.empty() && static_cast<uint64_t>(times) > limits_.max_output_bytes / unit.size()) {
          fail(pos, fmt::format("string repetition exceeds the budget of {} bytes (ChatTemplateOptions::max_output_bytes)",
                                limits_.max_output_bytes));
        }
        std::string out;
        for (int64_t i = 0; i < times; ++i) out += unit;
        return Value(json(out));
      }
      const bool ints = a.j.is_number_integer() && b.j.is_number_integer();
      if (a.j.is_number() && b.j.is_number() && !a.j.is_boolean() && !b.j.is_boolean()) {
        if (ints && op != "/" && op != "**") {
          const int64_t x = a.j.get<int64_t>(), y = b.j.get<int64_t>();
          if ((op == "//" || op == "%") && y == 0) fail(pos, "division by zero");
          int64_t r = 0;
          bool overflow = false;  // computed before checked() reads r (argument order is unspecified)
          if (op == "+" || op == "-" || op == "*") {
            overflow = op == "+"   ? __builtin_add_overflow(x, y, &r)
                       : op == "-" ? __builtin_sub_overflow(x, y, &r)
                                   : __builtin_mul_overflow(x, y, &r);
            return Value(json(checked(overflow, r, pos)));
          }
          checked(x == INT64_MIN && y == -1, 0, pos);
          const int64_t q = x / y - ((x % y != 0 && ((x < 0) != (y < 0))) ? 1 : 0);  // Python floor division
          if (op == "//") return Value(json(q));
          return Value(json(x - q * y));
        }
        const double x = a.j.get<double>(), y = b.j.get<double>();
        if ((op == "/" || op == "//" || op == "%") && y == 0) fail(pos, "division by zero");
        if (op == "+") return Value(json(x + y));
        if (op == "-") return Value(json(x - y));
        if (op == "*") return Value(json(x * y));
        if (op == "/") return Value(json(x / y));
        if (op == "//") return Value(json(std::floor(x / y)));
        if (op == "%") return Value(json(x - std::floor(x / y) * y));
        if (ints && y >= 0) {
          const double p = std::pow(x, y);
          checked(!(std::fabs(p) < 9.2e18), 0, pos);
          return Value(json(static_cast<int64_t>(std::llround(p))));
        }
        return Value(json(std::pow(x, y)));
      }
    }
    fail(pos, fmt::format("unsupported operand types for '{}': {} and {}", op, type_name(a), type_name(b)));
  }

  Value apply_filter(const Expr& e) {
    const std::string& f = e.name;
    const Value v = eval(*e.args[0]);
    std::vector<Value> args;
    for (size_t i = 1; i < e.args.size(); ++i) args.push_back(eval(*e.args[i]));
    auto kwarg = [&](const char* key) -> const ExprPtr* {
      for (const auto& [k, x] : e.kwargs) {
        if (k == key) return &x;
      }
      return nullptr;
    };
    if (f == "capitalize") return Value(json(py_capitalize(to_str(v))));
    if (f == "trim") return Value(json(strip_chars(to_str(v), args.empty() ? nullptr : &args[0], true, true)));
    if (f == "lower") return Value(json(ascii_lower(to_str(v))));
    if (f == "upper") return Value(json(ascii_upper(to_str(v))));
    if (f == "title") return Value(json(py_title(to_str(v))));
    if (f == "string") return Value(json(to_str(v)));
    if (f == "length" || f == "count") {
      if (v.undefined) return Value(json(0));
      if (v.j.is_string()) return Value(json(code_points(v.j.get<std::string>()).size()));
      if (v.j.is_array() || v.j.is_object()) return Value(json(v.j.size()));
      fail(e.pos, fmt::format("filter '{}' needs a string, list or dict, got {}", f, type_name(v)));
    }
    if (f == "join") {
      const std::string sep = args.empty() ? "" : to_str(args[0]);
      if (v.undefined) return Value(json(""));
      if (!v.j.is_array()) fail(e.pos, fmt::format("filter 'join' needs a list, got {}", type_name(v)));
      std::string out;
      for (size_t i = 0; i < v.j.size(); ++i) out += (i ? sep : "") + python_str(v.j[i]);
      return Value(json(out));
    }
    if (f == "first" || f == "last") {
      if (!v.undefined && v.j.is_array()) {
        if (v.j.empty()) return Value::undef();
        return Value(f == "first" ? v.j.front() : v.j.back());
      }
      if (!v.undefined && v.j.is_string()) {
        const auto cps = code_points(v.j.get<std::string>());
        if (cps.empty()) return Value::undef();
        return Value(json(f == "first" ? cps.front() : cps.back()));
      }
      fail(e.pos, fmt::format("filter '{}' needs a list or string, got {}", f, type_name(v)));
    }
    if (f == "default" || f == "d") {
      const bool boolean = args.size() > 1 ? truthy(args[1]) : (kwarg("boolean") && truthy(eval(**kwarg("boolean"))));
      const Value fallback = args.empty() ? Value(json("")) : args[0];
      if (v.undefined || (boolean && !truthy(v))) return fallback;
      return v;
    }
    if (f == "tojson") {
      if (v.undefined) fail(e.pos, "filter 'tojson' on an undefined value");
      int indent = -1;
      if (!args.empty() && args[0].j.is_number_integer()) indent = args[0].j.get<int>();
      if (const ExprPtr* k = kwarg("indent")) {
        const Value iv = eval(**k);
        if (!iv.undefined && iv.j.is_number_integer()) indent = iv.j.get<int>();
      }
      return Value(json(python_json_dumps(v.j, indent)));
    }
    if (f == "reverse") {
      if (!v.undefined && v.j.is_array()) return Value(json(std::vector<json>(v.j.rbegin(), v.j.rend())));
      if (!v.undefined && v.j.is_string()) {
        auto cps = code_points(v.j.get<std::string>());
        std::string out;
        for (auto it = cps.rbegin(); it != cps.rend(); ++it) out += *it;
        return Value(json(out));
      }
      fail(e.pos, fmt::format("filter 'reverse' needs a list or string, got {}", type_name(v)));
    }
    if (f == "list") {
      if (!v.undefined && v.j.is_array()) return v;
      if (!v.undefined && v.j.is_string()) {
        json out = json::array();
        for (std::string& c : code_points(v.j.get<std::string>())) out.push_back(std::move(c));
        return Value(out);
      }
      fail(e.pos, fmt::format("filter 'list' needs a list or string, got {}", type_name(v)));
    }
    if (f == "int" || f == "float") {
      double d = 0;
      if (!v.undefined && v.j.is_number()) {
        d = v.j.get<double>();
      } else if (!v.undefined && v.j.is_string()) {
        try {
          d = std::stod(v.j.get<std::string>());
        } catch (const std::exception&) {
          d = 0;
        }
      }
      if (f == "int") {
        if (!(std::fabs(d) < 9.2e18)) fail(e.pos, fmt::format("filter 'int': {} is not a 64-bit integer", d));
        return Value(json(static_cast<int64_t>(d)));
      }
      return Value(json(d));
    }
    fail(e.pos, fmt::format("unsupported filter '{}'", f));
  }

  Value apply_test(const Expr& e) {
    const std::string& t = e.name;
    const Value v = eval(*e.args[0]);
    bool r = false;
    const bool def = !v.undefined;
    if (t == "defined") {
      r = def;
    } else if (t == "undefined") {
      r = !def;
    } else if (t == "none") {
      r = def && v.j.is_null();
    } else if (t == "string") {
      r = def && v.j.is_string();
    } else if (t == "number") {
      r = def && v.j.is_number();
    } else if (t == "integer") {
      r = def && v.j.is_number_integer();
    } else if (t == "float") {
      r = def && v.j.is_number_float();
    } else if (t == "boolean") {
      r = def && v.j.is_boolean();
    } else if (t == "true") {
      r = def && v.j.is_boolean() && v.j.get<bool>();
    } else if (t == "false") {
      r = def && v.j.is_boolean() && !v.j.get<bool>();
    } else if (t == "mapping") {
      r = def && v.j.is_object();
    } else if (t == "iterable") {
      r = !def || v.j.is_array() || v.j.is_object() || v.j.is_string();
    } else if (t == "sequence") {
      r = def && (v.j.is_array() || v.j.is_object() || v.j.is_string());
    } else if (t == "eq" || t == "equalto" || t == "==" || t == "ne" || t == "!=") {
      if (e.args.size() != 2) fail(e.pos, fmt::format("test '{}' needs one argument", t));
      r = values_equal(v, eval(*e.args[1]));
      if (t == "ne" || t == "!=") r = !r;
    } else if (t == "in") {
      if (e.args.size() != 2) fail(e.pos, "test 'in' needs one argument");
      r = truthy(compare("in", v, eval(*e.args[1]), e.pos));
    } else {
      fail(e.pos, fmt::format("unsupported test '{}'", t));
    }
    return Value(json(e.negated ? !r : r));
  }

  Value call(const Expr& e) {
    const Expr& callee = *e.args[0];
    std::vector<Value> args;
    for (size_t i = 1; i < e.args.size(); ++i) args.push_back(eval(*e.args[i]));
    if (callee.kind == Expr::Kind::kName && !lookup_ref(callee.name)) {
      const std::string& fn = callee.name;
      if (fn == "range") {
        if (args.empty() || args.size() > 3) fail(e.pos, "range() takes 1 to 3 arguments");
        for (const Value& a : args) {
          if (a.undefined || !a.j.is_number_integer()) fail(e.pos, "range() arguments must be integers");
        }
        int64_t start = 0, stop = 0, step = 1;
        if (args.size() == 1) {
          stop = args[0].j.get<int64_t>();
        } else {
          start = args[0].j.get<int64_t>();
          stop = args[1].j.get<int64_t>();
          if (args.size() == 3) step = args[2].j.get<int64_t>();
        }
        if (step == 0) fail(e.pos, "range() step must not be zero");
        // Element count computed without overflow, charged before anything is built.
        const long double span = step > 0 ? static_cast<long double>(stop) - start : static_cast<long double>(start) - stop;
        const long double count = span <= 0 ? 0 : std::ceil(span / std::fabs(static_cast<long double>(step)));
        if (count > static_cast<long double>(limits_.max_steps)) spend(e.pos, limits_.max_steps + 1);
        spend(e.pos, static_cast<size_t>(count));
        json out = json::array();
        for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) out.push_back(start + i * step);
        return Value(out);
      }
      if (fn == "namespace") {
        json ns = json::object();
        for (const auto& [k, x] : e.kwargs) {
          const Value v = eval(*x);
          ns[k] = v.undefined ? json() : v.j;
        }
        return Value(ns);
      }
      if (fn == "raise_exception") {
        fail(e.pos, fmt::format("template raised an exception: {}", args.empty() ? "" : to_str(args[0])));
      }
      fail(e.pos, fmt::format("unsupported function '{}'", fn));
    }
    if (callee.kind != Expr::Kind::kGetAttr) fail(e.pos, "unsupported construct: calling a value that is not a method");
    const Value obj = eval(*callee.args[0]);
    const std::string& m = callee.name;
    if (obj.undefined) fail(e.pos, fmt::format("cannot call method '{}' of an undefined value", m));
    if (obj.j.is_string()) {
      const std::string s = obj.j.get<std::string>();
      if (m == "strip" || m == "lstrip" || m == "rstrip") {
        return Value(json(strip_chars(s, args.empty() ? nullptr : &args[0], m != "rstrip", m != "lstrip")));
      }
      if (m == "lower") return Value(json(ascii_lower(s)));
      if (m == "upper") return Value(json(ascii_upper(s)));
      if (m == "capitalize") return Value(json(py_capitalize(s)));
      if (m == "title") return Value(json(py_title(s)));
      if (m == "startswith" || m == "endswith") {
        if (args.size() != 1 || args[0].undefined) fail(e.pos, fmt::format("{}() takes one argument", m));
        std::vector<std::string> options;
        if (args[0].j.is_array()) {
          for (const json& x : args[0].j) options.push_back(python_str(x));
        } else {
          options.push_back(to_str(args[0]));
        }
        for (const std::string& o : options) {
          const bool hit = o.size() <= s.size() &&
                           (m == "startswith" ? s.compare(0, o.size(), o) == 0 : s.compare(s.size() - o.size(), o.size(), o) == 0);
          if (hit) return Value(json(true));
        }
        return Value(json(false));
      }
      if (m == "split") {
        json out = json::array();
        if (args.empty() || args[0].undefined || args[0].j.is_null()) {
          std::string cur;
          std::istringstream in(s);
          while (in >> cur) out.push_back(cur);
          return Value(out);
        }
        const std::string sep = to_str(args[0]);
        if (sep.empty()) fail(e.pos, "split() separator must not be empty");
        size_t b = 0, p;
        while ((p = s.find(sep, b)) != std::string::npos) {
          out.push_back(s.substr(b, p - b));
          b = p + sep.size();
        }
        out.push_back(s.substr(b));
        return Value(out);
      }
      if (m == "replace") {
        if (args.size() < 2) fail(e.pos, "replace() takes two arguments");
        const std::string from = to_str(args[0]), to = to_str(args[1]);
        int64_t count = args.size() > 2 && args[2].j.is_number_integer() ? args[2].j.get<int64_t>() : -1;
        if (from.empty()) fail(e.pos, "replace() with an empty pattern is not supported");
        std::string out;
        size_t b = 0, p;
        while (count != 0 && (p = s.find(from, b)) != std::string::npos) {
          out += s.substr(b, p - b) + to;
          b = p + from.size();
          --count;
        }
        return Value(json(out + s.substr(b)));
      }
    }
    if (obj.j.is_object()) {
      if (m == "items") {
        json out = json::array();
        for (const auto& [k, v] : obj.j.items()) out.push_back(json::array({k, v}));
        return Value(out);
      }
      if (m == "keys") {
        json out = json::array();
        for (const auto& [k, v] : obj.j.items()) out.push_back(k);
        return Value(out);
      }
      if (m == "values") {
        json out = json::array();
        for (const auto& [k, v] : obj.j.items()) out.push_back(v);
        return Value(out);
      }
      if (m == "get") {
        if (args.empty()) fail(e.pos, "get() takes a key");
        const Value found = get_item(obj, args[0], e.pos);
        if (!found.undefined) return found;
        return args.size() > 1 ? args[1] : Value(json());
      }
    }
    fail(e.pos, fmt::format("unsupported method '{}' on a value of type {}", m, type_name(obj)));
  }

  // Every expression costs a step; values built by it (not the ones looked up) cost their size.
  Value eval(const Expr& e) {
    spend(e.pos);
    Value v = eval_uncharged(e);
    if (e.kind != Expr::Kind::kName && e.kind != Expr::Kind::kGetAttr && e.kind != Expr::Kind::kGetItem) {
      charge_value(v, e.pos);
    }
    return v;
  }

  Value eval_uncharged(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: return Value(e.literal);
      case Expr::Kind::kName: {
        Value* v = lookup_ref(e.name);
        return v ? *v : Value::undef();
      }
      case Expr::Kind::kGetAttr: {
        const Value obj = eval(*e.args[0]);
        if (obj.undefined) fail(e.pos, fmt::format("cannot read attribute '{}' of an undefined value", e.name));
        if (obj.j.is_object()) {
          const auto it = obj.j.find(e.name);
          return it == obj.j.end() ? Value::undef() : Value(*it);
        }
        return Value::undef();
      }
      case Expr::Kind::kGetItem: return get_item(eval(*e.args[0]), eval(*e.args[1]), e.pos);
      case Expr::Kind::kSlice: return slice(eval(*e.args[0]), e);
      case Expr::Kind::kCall: return call(e);
      case Expr::Kind::kFilter: return apply_filter(e);
      case Expr::Kind::kTest: return apply_test(e);
      case Expr::Kind::kNeg:
      case Expr::Kind::kPos: {
        const Value v = eval(*e.args[0]);
        if (v.undefined || !v.j.is_number()) fail(e.pos, fmt::format("bad operand type for unary minus/plus: {}", type_name(v)));
        if (e.kind == Expr::Kind::kPos) return v;
        if (v.j.is_number_float()) return Value(json(-v.j.get<double>()));
        const int64_t x = checked(v.j.get<int64_t>() == INT64_MIN, v.j.get<int64_t>(), e.pos);
        return Value(json(-x));
      }
      case Expr::Kind::kNot: return Value(json(!truthy(eval(*e.args[0]))));
      case Expr::Kind::kAnd: {
        Value a = eval(*e.args[0]);
        return truthy(a) ? eval(*e.args[1]) : a;
      }
      case Expr::Kind::kOr: {
        Value a = eval(*e.args[0]);
        return truthy(a) ? a : eval(*e.args[1]);
      }
      case Expr::Kind::kBinary: return arithmetic(e.name, eval(*e.args[0]), eval(*e.args[1]), e.pos);
      case Expr::Kind::kCompare: return compare(e.name, eval(*e.args[0]), eval(*e.args[1]), e.pos);
      case Expr::Kind::kCond:
        if (truthy(eval(*e.args[0]))) return eval(*e.args[1]);
        return e.args[2] ? eval(*e.args[2]) : Value::undef();
      case Expr::Kind::kList: {
        json out = json::array();
        for (const ExprPtr& x : e.args) {
          const Value v = eval(*x);
          out.push_back(v.undefined ? json() : v.j);
        }
        return Value(out);
      }
      case Expr::Kind::kDict: {
        json out = json::object();
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          const Value k = eval(*e.args[i]);
          if (k.undefined || !k.j.is_string()) fail(e.args[i]->pos, "dict literal keys must be strings");
          const Value v = eval(*e.args[i + 1]);
          out[k.j.get<std::string>()] = v.undefined ? json() : v.j;
        }
        return Value(out);
      }
    }
    fail(e.pos, "internal error: unknown expression");
  }

  SourceRef ref_;
  ChatTemplateOptions limits_;
  size_t steps_ = 0;
  std::vector<Scope> scopes_;
};

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ChatTemplateError(fmt::format("chat template: cannot open '{}'", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

struct ChatTemplate::Program {
  std::vector<Node> nodes;
  ChatTemplateOptions options;  // the budgets every render gets
};

ChatTemplate::ChatTemplate(std::string source, std::string name, ChatTemplateOptions options)
    : source_(std::move(source)), name_(std::move(name)), program_(std::make_unique<Program>()) {
  // jinja2 normalizes newlines to "\n" and drops one trailing newline unless keep_trailing_newline.
  std::string src;
  src.reserve(source_.size());
  for (size_t i = 0; i < source_.size(); ++i) {
    if (source_[i] == '\r') {
      src.push_back('\n');
      if (i + 1 < source_.size() && source_[i + 1] == '\n') ++i;
    } else {
      src.push_back(source_[i]);
    }
  }
  if (!options.keep_trailing_newline && !src.empty() && src.back() == '\n') src.pop_back();
  source_ = src;
  const SourceRef ref{&source_, &name_};
  Lexer lexer(source_, options, ref);
  Parser parser(lexer.run(), ref, options.max_nesting);
  program_->nodes = parser.parse_template();
  program_->options = options;
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

ChatTemplate ChatTemplate::from_dir(const std::string& model_dir) {
  namespace fs = std::filesystem;
  const fs::path dir(model_dir);
  const fs::path json_path = dir / "chat_template.json";
  const auto from_json_file = [](const fs::path& p) -> std::optional<ChatTemplate> {
    json j;
    try {
      j = json::parse(read_text_file(p.string()));
    } catch (const json::exception& e) {
      throw ChatTemplateError(fmt::format("chat template: '{}' is not valid JSON: {}", p.string(), e.what()));
    }
    if (!j.is_object() || !j.contains("chat_template")) return std::nullopt;
    const json& t = j["chat_template"];
    if (!t.is_string()) {
      throw ChatTemplateError(fmt::format("chat template: '{}' key chat_template is not a string (named template lists "
                                          "are not supported)",
                                          p.string()));
    }
    return ChatTemplate(t.get<std::string>(), p.string());
  };
  if (fs::exists(json_path)) {
    if (auto t = from_json_file(json_path)) return std::move(*t);
  }
  const fs::path jinja_path = dir / "chat_template.jinja";
  if (fs::exists(jinja_path)) return ChatTemplate(read_text_file(jinja_path.string()), jinja_path.string());
  const fs::path config_path = dir / "tokenizer_config.json";
  if (fs::exists(config_path)) {
    if (auto t = from_json_file(config_path)) return std::move(*t);
  }
  throw ChatTemplateError(fmt::format(
      "chat template: '{}' has no chat_template.json, chat_template.jinja or tokenizer_config.json chat_template",
      model_dir));
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                 const nlohmann::ordered_json& extra_context) const {
  if (!messages.is_array()) {
    throw ChatTemplateError(fmt::format("{}: messages must be a JSON array, got {}", name_, messages.type_name()));
  }
  json context = extra_context.is_object() ? extra_context : json::object();
  context["messages"] = messages;
  context["add_generation_prompt"] = add_generation_prompt;
  return render_context(context);
}

std::string ChatTemplate::render(const nlohmann::json& messages, bool add_generation_prompt,
                                 const nlohmann::json& extra_context) const {
  return render(nlohmann::ordered_json(messages), add_generation_prompt, nlohmann::ordered_json(extra_context));
}

std::string ChatTemplate::render_context(const nlohmann::ordered_json& context) const {
  Renderer r(SourceRef{&source_, &name_}, context, program_->options);
  std::string out;
  r.render(program_->nodes, out);
  return out;
}

std::string ChatTemplate::render_context(const nlohmann::json& context) const {
  return render_context(nlohmann::ordered_json(context));
}

}  // namespace smolvid::model
