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
// The Jinja engine itself (supported constructs, value semantics) is model/jinja/jinja.h; this file
// adds what transformers does around it: where a checkpoint keeps its template, the render context
// ({"messages", "add_generation_prompt", special tokens}) and SmolVLMProcessor's video template.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "model/jinja/jinja.h"

namespace smolvid::model {

// Syntax, unsupported-construct and runtime errors of the template, and missing template files.
using ChatTemplateError = jinja::TemplateError;

// The template SmolVLMProcessor substitutes when a conversation contains a video item (spec §6.2):
// the Hub template plus a `video` branch rendering "<video>".
extern const char* const kSmolVLMVideoChatTemplate;

// trim_blocks and lstrip_blocks on (transformers' environment), keep_trailing_newline off, and the
// render budgets (max_steps, max_output_bytes, max_nesting) of jinja::Options.
using ChatTemplateOptions = jinja::Options;

class ChatTemplate {
 public:
  // Parses source (throws ChatTemplateError with line/column on a syntax error or an unsupported
  // construct). `name` appears in messages (e.g. the file it came from).
  explicit ChatTemplate(std::string source, std::string name = "chat template", ChatTemplateOptions options = {});

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

  // The source as jinja2 sees it (newlines normalised, a trailing newline dropped).
  const std::string& source() const { return template_.source(); }

 private:
  jinja::Template template_;
};

}  // namespace smolvid::model
