// smolvid debug tokenize: a checkpoint's tokenizer on any text (ids, tokens, decodes, batches).
// smolvid debug render-chat: a checkpoint's chat template on any message list.
// Both print in the fixtures' form so results can be compared with Hugging Face outputs.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/registry.h"
#include "model/chat_template.h"
#include "model/tokenizer.h"
#include "util/file.h"

namespace {

using nlohmann::json;
using smolvid::model::TokenId;

// The bytes of a file, or of standard input for "-".
std::string read_input(const std::string& path_or_dash, const char* what) {
  try {
    return smolvid::util::read_file(path_or_dash == "-" ? "/dev/stdin" : path_or_dash);
  } catch (const smolvid::util::FileError& e) {
    throw std::runtime_error(fmt::format("{}: {}", what, e.what()));
  }
}

json parse_json(const std::string& text, const std::string& where) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw std::runtime_error(fmt::format("{} is not valid JSON: {}", where, e.what()));
  }
}

// Ids given on the command line: a JSON array, or integers separated by spaces/commas.
std::vector<TokenId> parse_ids(const std::string& text) {
  std::string s = text;
  for (char& c : s) {
    if (c == ',' || c == '[' || c == ']' || c == '\n' || c == '\t') c = ' ';
  }
  std::istringstream in(s);
  std::vector<TokenId> ids;
  std::string word;
  while (in >> word) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size()) throw std::runtime_error(fmt::format("--decode: '{}' is not a token id", word));
    ids.push_back(v);
  }
  return ids;
}

struct TokenizeArgs {
  std::string model;
  std::string text;
  std::string batch;
  bool json = false;
  bool decode = false;
  bool skip_special = false;
};

json encode_json(const smolvid::model::Tokenizer& tok, const std::vector<TokenId>& ids) {
  json tokens = json::array();
  for (TokenId id : ids) tokens.push_back(tok.id_to_token(id));
  return json{{"ids", ids}, {"tokens", tokens}, {"count", ids.size()}};
}

void run_tokenize(const TokenizeArgs& a) {
  const smolvid::model::Tokenizer tok = smolvid::model::Tokenizer::from_dir(a.model);
  if (!a.batch.empty()) {
    if (!a.text.empty()) throw std::runtime_error("give either TEXT or --batch, not both");
    const json items = parse_json(read_input(a.batch, "--batch file"), "--batch " + a.batch);
    if (!items.is_array()) throw std::runtime_error(fmt::format("--batch {}: expected a JSON array", a.batch));
    json out = json::array();
    for (size_t i = 0; i < items.size(); ++i) {
      if (a.decode) {
        if (!items[i].is_array()) throw std::runtime_error(fmt::format("--batch {}: item {} is not an id list", a.batch, i));
        out.push_back(tok.decode(items[i].get<std::vector<TokenId>>(), a.skip_special));
      } else {
        if (!items[i].is_string()) throw std::runtime_error(fmt::format("--batch {}: item {} is not a string", a.batch, i));
        out.push_back(tok.encode(items[i].get<std::string>()));
      }
    }
    fmt::print("{}\n", out.dump());
    return;
  }
  if (a.text.empty()) throw std::runtime_error("give TEXT (or - for standard input) or --batch FILE.json");
  const std::string input = a.text == "-" ? read_input("-", "TEXT") : a.text;
  if (a.decode) {
    const std::string text = tok.decode(parse_ids(input), a.skip_special);
    if (a.json) {
      fmt::print("{}\n", json{{"text", text}}.dump());
    } else {
      fmt::print("{}\n", text);
    }
    return;
  }
  const std::vector<TokenId> ids = tok.encode(input);
  if (a.json) {
    fmt::print("{}\n", encode_json(tok, ids).dump());
    return;
  }
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
  fmt::print("{}\n", line);
}

struct RenderChatArgs {
  std::string model;
  std::string messages;
  std::string template_file;
  bool add_generation_prompt = false;
  bool video_template = false;
  bool json = false;
};

void run_render_chat(const RenderChatArgs& a) {
  namespace fs = std::filesystem;
  if (a.video_template && !a.template_file.empty()) throw std::runtime_error("give --template or --video-template, not both");
  const smolvid::model::ChatTemplate tmpl =
      a.video_template          ? smolvid::model::ChatTemplate(smolvid::model::kSmolVLMVideoChatTemplate, "built-in video template")
      : !a.template_file.empty() ? smolvid::model::ChatTemplate(read_input(a.template_file, "template"), a.template_file)
                                 : smolvid::model::ChatTemplate::from_dir(a.model);
  // Ordered, so dicts keep their key order as in Python.
  nlohmann::ordered_json messages;
  try {
    messages = nlohmann::ordered_json::parse(read_input(a.messages, "messages file"));
  } catch (const nlohmann::ordered_json::exception& e) {
    throw std::runtime_error(fmt::format("{} is not valid JSON: {}", a.messages, e.what()));
  }
  // transformers also passes the tokenizer's special tokens (bos_token, eos_token, ...) to templates.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
  const fs::path dir(a.model);
  if (fs::exists(dir / "tokenizer.json") || fs::exists(dir / "vocab.json")) {
    const smolvid::model::Tokenizer tok = smolvid::model::Tokenizer::from_dir(a.model);
    for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
      if (auto s = tok.special_token(key)) extra[key] = *s;
    }
  }
  const std::string prompt = tmpl.render(messages, a.add_generation_prompt, extra);
  if (a.json) {
    fmt::print("{}\n", json{{"prompt", prompt}}.dump());
  } else {
    fmt::print("{}", prompt);
  }
}

const smolvid::cli::Registrar kTokenize(smolvid::cli::Group::kDebug, 60, [](CLI::App& parent) {
  auto a = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = parent.add_subcommand("tokenize", "Encode text (or decode ids) with a checkpoint's tokenizer");
  cmd->add_option("--model", a->model, "checkpoint directory (tokenizer.json, or vocab.json + merges.txt); required")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("TEXT", a->text, "text to encode, or '-' to read standard input (with --decode: ids, e.g. '1 2 3' "
                                   "or '[1,2,3]'); default: none");
  cmd->add_option("--batch", a->batch, "JSON file with an array of strings ('-' = standard input); prints one JSON "
                                       "array of id lists (with --decode: an array of id lists -> strings); default: none");
  cmd->add_flag("--json", a->json, "print {ids, tokens, count} (or {text} with --decode) as JSON (default: ids on one line)");
  cmd->add_flag("--decode", a->decode, "decode token ids to text instead of encoding (default: off)");
  cmd->add_flag("--skip-special-tokens", a->skip_special, "with --decode: drop special tokens (default: keep them)");
  cmd->callback([a] { run_tokenize(*a); });
});

const smolvid::cli::Registrar kRenderChat(smolvid::cli::Group::kDebug, 61, [](CLI::App& parent) {
  auto a = std::make_shared<RenderChatArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "render-chat", "Render a checkpoint's chat template for a JSON message list (printed exactly, no newline added)");
  cmd->add_option("--model", a->model, "checkpoint directory (chat_template.json or tokenizer_config.json); required")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("MESSAGES", a->messages,
                  "JSON file with the messages array [{role, content: [{type, text}...]}...] ('-' = standard input); required")
      ->required();
  cmd->add_flag("--add-generation-prompt", a->add_generation_prompt,
                "end with the assistant prompt ('Assistant:') (default: off)");
  cmd->add_option("--template", a->template_file, "render this Jinja file instead of the checkpoint's template (default: none)");
  cmd->add_flag("--video-template", a->video_template,
                "render SmolVLMProcessor's built-in video template instead (spec 6.2) (default: off)");
  cmd->add_flag("--json", a->json, "print {\"prompt\": ...} as JSON (default: the raw prompt)");
  cmd->callback([a] { run_render_chat(*a); });
});

}  // namespace
