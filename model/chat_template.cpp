// model/chat_template.cpp: a checkpoint's chat template on the Jinja engine (see chat_template.h).
#include "model/chat_template.h"

#include <fmt/core.h>

#include <filesystem>
#include <optional>

#include "util/file.h"

namespace smolvid::model {

const char* const kSmolVLMVideoChatTemplate =
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}{% if message['content'][0]['type'] == "
    "'image' %}{{':'}}{% else %}{{': '}}{% endif %}{% for line in message['content'] %}{% if line['type'] == 'text' "
    "%}{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}{% elif line['type'] == 'video' %}{{ "
    "'<video>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ "
    "'Assistant:' }}{% endif %}";

namespace {

using json = nlohmann::ordered_json;

}  // namespace

ChatTemplate::ChatTemplate(std::string source, std::string name, ChatTemplateOptions options)
    : template_(std::move(source), std::move(name), options) {}

ChatTemplate ChatTemplate::from_dir(const std::string& model_dir) {
  namespace fs = std::filesystem;
  const fs::path dir(model_dir);
  const fs::path json_path = dir / "chat_template.json";
  const auto from_json_file = [](const fs::path& p) -> std::optional<ChatTemplate> {
    json j;
    try {
      j = json::parse(util::read_file(p.string()));
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
  if (fs::exists(jinja_path)) return ChatTemplate(util::read_file(jinja_path.string()), jinja_path.string());
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
    throw ChatTemplateError(fmt::format("{}: messages must be a JSON array, got {}", template_.name(), messages.type_name()));
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

std::string ChatTemplate::render_context(const nlohmann::ordered_json& context) const { return template_.render(context); }

std::string ChatTemplate::render_context(const nlohmann::json& context) const {
  return render_context(nlohmann::ordered_json(context));
}

}  // namespace smolvid::model
