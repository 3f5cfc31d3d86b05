// model/chat_template.h: renders a checkpoint's Jinja chat template the way transformers'
// apply_chat_template does (jinja2 sandbox, trim_blocks + lstrip_blocks, no trailing newline kept),
// for the subset of Jinja that chat templates use.
//
//   auto tmpl = smolvid::model::ChatTemplate::from_dir("SmolVLM2-256M-Video-Instruct");
//   nlohmann::json messages = nlohmann::json::parse(R"([{"role": "user", "content": [
//       {"type": "image"}, {"type": "text", "text": "Can you describe this image?"}]}])");
//   std::string prompt = tmpl.render(messages, /*add_generation_prompt=*/true);
//   // "<|im_start|>User:<image>Can you describe this image?<end_of_utterance>\nAssistant:"
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
// Anything else throws ChatTemplateError naming the construct and its line/column; so does a Jinja
// runtime error (indexing an undefined value, raise_exception(...)).
// Values follow Python/Jinja semantics: missing keys are undefined (render as ""), indexing a
// string with a key is undefined, strings index by code point. Case mapping (capitalize, lower,
// upper, title) changes ASCII letters only.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <stdexcept>
#include <string>

namespace smolvid::model {

class ChatTemplateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The template SmolVLMProcessor substitutes when a conversation contains a video item (spec §6.2):
// the Hub template plus a `video` branch rendering "<video>".
extern const char* const kSmolVLMVideoChatTemplate;

struct ChatTemplateOptions {
  bool trim_blocks = true;            // transformers' setting: drop the newline after a block tag
  bool lstrip_blocks = true;          // ... and the indentation before one
  bool keep_trailing_newline = false; // jinja2 default: a final newline of the source is dropped
  // Budgets: a template comes from a checkpoint (a stranger's file), so no render may run forever
  // or fill memory. A render that exceeds one throws ChatTemplateError naming the budget. Real chat
  // templates need a few hundred steps and kilobytes per message.
  size_t max_steps = 1000000;          // nodes, expressions, loop iterations and values built
  size_t max_output_bytes = 16u << 20; // the rendered text and any single string value
  size_t max_nesting = 200;            // nested blocks and expressions while parsing
};

class ChatTemplate {
 public:
  // Parses source (throws ChatTemplateError with line/column on a syntax error or an unsupported
  // construct). `name` appears in messages (e.g. the file it came from).
  explicit ChatTemplate(std::string source, std::string name = "chat template", ChatTemplateOptions options = {});
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // The checkpoint's template: chat_template.json "chat_template", else chat_template.jinja, else
  // tokenizer_config.json "chat_template" (a string; the list-of-named-templates form throws).
  static ChatTemplate from_dir(const std::string& model_dir);

  // Renders with {"messages": messages, "add_generation_prompt": ...} plus extra_context's keys
  // (e.g. "bos_token"); messages is a JSON array of {"role", "content"} objects.
  // nlohmann::json sorts object keys; pass ordered_json to keep Python's insertion order where a
  // template prints whole dicts or iterates items() (SmolVLM's templates do neither).
  std::string render(const nlohmann::json& messages, bool add_generation_prompt,
                     const nlohmann::json& extra_context = nlohmann::json::object()) const;
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                     const nlohmann::ordered_json& extra_context = nlohmann::ordered_json::object()) const;
  // Renders with an arbitrary context object.
  std::string render_context(const nlohmann::json& context) const;
  std::string render_context(const nlohmann::ordered_json& context) const;

  const std::string& source() const { return source_; }

  struct Program;

 private:
  std::string source_;
  std::string name_;
  std::unique_ptr<Program> program_;
};

}  // namespace smolvid::model
