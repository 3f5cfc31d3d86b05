// Python value semantics for the Jinja renderer (see value.h).
#include "model/jinja/value.h"

#include <fmt/core.h>

#include <cctype>
#include <cmath>
#include <cstdint>
#include <set>

#include "model/text_unicode.h"

namespace smolvid::model::jinja {

namespace {

std::string python_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", d);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

// Python's str.isprintable() for one code point: everything but the categories Cc, Cf, Cs, Co,
// Cn (\p{C}) and Zl, Zp, Zs (\p{Z}), except the space.
bool py_isprintable(char32_t cp) {
  if (cp < 0x80) return cp >= 0x20 && cp < 0x7F;
  static const text::Regex kNotPrintable(R"([\p{C}\p{Z}])");
  std::string utf8;
  text::append_utf8(utf8, cp);
  return !kNotPrintable.full_match(utf8);
}

// repr(str) as CPython writes it (Objects/unicodeobject.c unicode_repr): '\\', the quote, \t \n \r
// escaped; other non-printable code points as \xNN, \uNNNN or \UNNNNNNNN.
std::string python_repr_string(const std::string& s) {
  const bool use_double = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = use_double ? '"' : '\'';
  std::string out(1, q);
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp = 0;
    const size_t n = text::decode_utf8(s, i, &cp);
    if (n == 0) {  // not UTF-8 (JSON strings always are): keep the byte
      out.push_back(s[i++]);
      continue;
    }
    if (cp == static_cast<char32_t>(q) || cp == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(cp));
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (py_isprintable(cp)) {
      out.append(s, i, n);
    } else if (cp <= 0xFF) {
      out += fmt::format("\\x{:02x}", static_cast<uint32_t>(cp));
    } else if (cp <= 0xFFFF) {
      out += fmt::format("\\u{:04x}", static_cast<uint32_t>(cp));
    } else {
      out += fmt::format("\\U{:08x}", static_cast<uint32_t>(cp));
    }
    i += n;
  }
  out.push_back(q);
  return out;
}

}  // namespace

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
std::string python_json_dumps(const json& j, int indent, int depth) {
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

namespace {
bool py_isspace(char32_t cp) { return text::is_unicode_whitespace(cp) || (cp >= 0x1C && cp <= 0x1F); }
}  // namespace

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

std::vector<std::string> split_whitespace(const std::string& s) {
  std::vector<std::string> out;
  std::string word;
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp = 0;
    size_t n = text::decode_utf8(s, i, &cp);
    if (n == 0) {  // not UTF-8 (JSON strings always are): a byte of a word
      n = 1;
      cp = 0;
    }
    if (py_isspace(cp)) {
      if (!word.empty()) out.push_back(std::move(word));
      word.clear();
    } else {
      word.append(s, i, n);
    }
    i += n;
  }
  if (!word.empty()) out.push_back(std::move(word));
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

}  // namespace smolvid::model::jinja
