// model/jinja/parser.h (internal): tokens -> the template's syntax tree (recursive descent).
// Filters and tests the renderer does not implement are rejected here, at parse time.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "model/jinja/lexer.h"
#include "model/jinja/source.h"

namespace smolvid::model::jinja {

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

struct Program {
  std::vector<Node> nodes;
  Options options;  // the budgets every render gets
};

// The whole template; throws TemplateError (via ref) naming the construct and its position, or
// the nesting budget when blocks and expressions nest deeper than max_nesting.
std::vector<Node> parse(std::vector<Token> tokens, const SourceRef& ref, size_t max_nesting);

}  // namespace smolvid::model::jinja
