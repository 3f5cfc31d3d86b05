// model/jinja/lexer.h (internal): template source -> tokens. Text between tags becomes kText
// tokens with Jinja's whitespace control already applied ({%- -%}, trim_blocks, lstrip_blocks);
// inside {{ }} and {% %} come names, literals and operators.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/jinja/jinja.h"
#include "model/jinja/source.h"

namespace smolvid::model::jinja {

struct Token {
  enum class Kind { kText, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOp, kEof };
  Kind kind;
  std::string text;  // text data, name, string value or operator
  int64_t int_value = 0;
  double float_value = 0;
  size_t pos = 0;
};

// Tokens of `source` (already newline-normalised), ending with one kEof token. Throws
// TemplateError (via ref) on an unclosed tag, comment or string and on unknown characters.
std::vector<Token> lex(const std::string& source, const Options& options, const SourceRef& ref);

}  // namespace smolvid::model::jinja
