// Fuzzes the Jinja chat-template engine through its public API (model/chat_template.h).
// Input: TEMPLATE, then optionally a NUL byte and MESSAGES (JSON). Messages that are not a JSON
// array are replaced by a fixed two-turn conversation, so every template also gets rendered.
// Parsing and rendering either succeed or throw ChatTemplateError; the budgets (small here so each
// input stays fast) bound every render, and output never exceeds the output budget.
#include <nlohmann/json.hpp>
#include <string>

#include "model/chat_template.h"
#include "tests/fuzz/fuzz_util.h"

using smolvid::model::ChatTemplate;
using smolvid::model::ChatTemplateError;
using smolvid::model::ChatTemplateOptions;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto [source, messages_text] = smolvid::fuzz::split_once(input, '\0');
  nlohmann::ordered_json messages = nlohmann::ordered_json::parse(messages_text, nullptr, false);
  if (!messages.is_array()) {
    messages = nlohmann::ordered_json::parse(R"([
      {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is in this image?"}]},
      {"role": "assistant", "content": [{"type": "text", "text": "A rocket."}]}])");
  }
  ChatTemplateOptions options;
  options.max_steps = 20000;
  options.max_output_bytes = 1 << 16;
  try {
    const ChatTemplate tmpl(std::string(source), "fuzz template", options);
    for (bool add_generation_prompt : {false, true}) {
      try {
        const std::string out = tmpl.render(messages, add_generation_prompt, {{"bos_token", "<s>"}});
        FUZZ_CHECK(out.size() <= options.max_output_bytes, "render returned %zu bytes, over the budget",
                   out.size());
      } catch (const ChatTemplateError&) {
      }
    }
  } catch (const ChatTemplateError&) {
  }
  return 0;
}
