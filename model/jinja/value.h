// model/jinja/value.h (internal): Jinja values with Python semantics: str() / repr() /
// json.dumps() of JSON values, truthiness, and the string helpers the filters and methods use
// (code points, strip, ASCII case mapping).
#pragma once

#include <string>
#include <vector>

#include "model/jinja/source.h"

namespace smolvid::model::jinja {

// A JSON value, or Jinja's Undefined (a missing key or variable: renders as "", is falsy).
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

// str(x): strings as they are (every byte kept), everything else as repr(x).
std::string python_str(const json& j);
// repr(x): None, True, 1.0, 'text' (quotes and escapes as Python chooses), [..], {..}.
std::string python_repr(const json& j);
// json.dumps(x, ensure_ascii=False, indent=indent) (indent < 0: none), as transformers' tojson.
std::string python_json_dumps(const json& j, int indent, int depth = 0);

bool truthy(const Value& v);
std::string to_str(const Value& v);      // str(v); "" for Undefined
const char* type_name(const Value& v);   // Python's name: "str", "int", "dict", ..., "undefined"

// A UTF-8 string split into its code points (Python strings index by code point).
std::vector<std::string> code_points(const std::string& s);
// str.strip / lstrip / rstrip: chars (a string) or, when null/absent, Python's whitespace.
std::string strip_chars(const std::string& s, const Value* chars, bool left, bool right);
// str.split() without a separator: runs of Python whitespace (str.isspace: \t-\r, \x1c-\x1f,
// space, \x85, \xa0, U+1680, U+2000-U+200A, U+2028/9, U+202F, U+205F, U+3000) separate words.
std::vector<std::string> split_whitespace(const std::string& s);
std::string ascii_lower(std::string s);
std::string ascii_upper(std::string s);
std::string py_capitalize(const std::string& s);
std::string py_title(const std::string& s);

}  // namespace smolvid::model::jinja
