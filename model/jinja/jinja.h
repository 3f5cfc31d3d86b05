// model/jinja/jinja.h: a Jinja interpreter for the subset of Jinja that chat templates use,
// rendering the way jinja2's sandboxed environment does. model/chat_template.h builds on it.
//
//   smolvid::model::jinja::Template t("{% for m in messages %}{{ m.role | capitalize }}: {{ m.text }}\n{% endfor %}",
//                                     "example");
//   std::string out = t.render(nlohmann::ordered_json::parse(R"({"messages": [{"role": "user", "text": "Hi"}]})"));
//   // "User: Hi\n"
//
// Supported Jinja: text, {{ expr }}, {% if/elif/else/endif %}, {% for x in xs [if cond] %} with
// {% else %} and tuple targets (k, v), loop.index/index0/revindex/revindex0/first/last/length/
// previtem/nextitem, {% set x = expr %} / {% set ns.attr = expr %}, {# comments #}, whitespace
// control ({%- -%} {{- -}} {%+), literals (strings, numbers, true/false/none, lists, dicts),
// a.b and a['k'] / a[i] / a[i:j], operators (== != < > <= >= in, not in, and, or, not, ~, + - * /
// // % **, x if c else y), filters (capitalize, trim, lower, upper, title, length/count, string,
// join, first, last, default/d, tojson, reverse, list, int, float), tests (defined, undefined, none,
// string, number, integer, float, boolean, mapping, iterable, sequence, true, false, eq, ne, in),
// functions (range, namespace, raise_exception) and string/dict methods (strip, lstrip, rstrip,
// lower, upper, capitalize, title, startswith, endswith, split, replace, items, keys, values, get).
// Anything else throws TemplateError naming the construct and its line/column; so does a Jinja
// runtime error (indexing an undefined value, raise_exception(...)).
// Values follow Python/Jinja semantics: missing keys are undefined (render as ""), indexing a
// string with a key is undefined, strings index by code point. Case mapping (capitalize, lower,
// upper, title) changes ASCII letters only.
// Newlines: only the template SOURCE is normalised ("\r\n" and "\r" become "\n", as jinja2's
// lexer does); values from the context are printed byte for byte.
//
// Files: lexer.cpp (source -> tokens, whitespace control), parser.cpp (tokens -> AST),
// value.cpp (Python value semantics: str/repr/json.dumps, truthiness, string helpers),
// renderer.cpp (tree-walking evaluation), template.cpp (this header).
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

namespace smolvid::model::jinja {

// A syntax error, an unsupported construct or a runtime error; the message names the template,
// the construct and its line/column.
class TemplateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Options {
  bool trim_blocks = true;            // transformers' setting: drop the newline after a block tag
  bool lstrip_blocks = true;          // ... and the indentation before one
  bool keep_trailing_newline = false; // jinja2 default: a final newline of the source is dropped
  // Budgets: a template comes from a checkpoint (a stranger's file), so no render may run forever
  // or fill memory. A render that exceeds one throws TemplateError naming the budget. Real chat
  // templates need a few hundred steps and kilobytes per message.
  size_t max_steps = 1000000;          // nodes, expressions, loop iterations and values built
  size_t max_output_bytes = 16u << 20; // the rendered text and any single string value
  size_t max_nesting = 200;            // nested blocks and expressions while parsing
};

struct Program;  // the parsed template (parser.h)

class Template {
 public:
  // Parses source (throws TemplateError with line/column on a syntax error or an unsupported
  // construct). `name` appears in messages (e.g. the file it came from).
  explicit Template(std::string source, std::string name = "template", Options options = {});
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // Renders with the keys of `context` (a JSON object) as variables. Objects keep their key
  // order (Python dicts), so pass ordered_json where a template prints whole dicts.
  std::string render(const nlohmann::ordered_json& context) const;

  // The source after newline normalisation (and without the dropped trailing newline).
  const std::string& source() const { return source_; }
  const std::string& name() const { return name_; }

 private:
  std::string source_;
  std::string name_;
  std::unique_ptr<Program> program_;
};

}  // namespace smolvid::model::jinja
