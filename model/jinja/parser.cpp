// Jinja parser (see parser.h).
#include "model/jinja/parser.h"

#include <fmt/core.h>

#include <algorithm>
#include <set>

namespace smolvid::model::jinja {
namespace {

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

}  // namespace

std::vector<Node> parse(std::vector<Token> tokens, const SourceRef& ref, size_t max_nesting) {
  return Parser(std::move(tokens), ref, max_nesting).parse_template();
}

}  // namespace smolvid::model::jinja
