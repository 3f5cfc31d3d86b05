// model/tokenizer.cpp: loading a tokenizer from its files (tokenizer.json, or vocab.json +
// merges.txt, plus tokenizer_config.json, special_tokens_map.json, added_tokens.json) into the BPE
// engine of model/bpe.h; see tokenizer.h for what is read and what is rejected.
#include "model/tokenizer.h"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "model/bpe.h"
#include "model/text_unicode.h"
#include "util/file.h"

namespace smolvid::model {

namespace fs = std::filesystem;
using nlohmann::json;
using bpe::kNoId;
using bpe::PreTokStep;
using bpe::SplitBehavior;

namespace {

const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

json read_json(const std::string& path) {
  const std::string text = util::read_file(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw TokenizerError(fmt::format("tokenizer: '{}' is not valid JSON: {}", path, e.what()));
  }
}

SplitBehavior parse_behavior(const std::string& s, const std::string& where) {
  if (s == "Removed") return SplitBehavior::kRemoved;
  if (s == "Isolated") return SplitBehavior::kIsolated;
  if (s == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (s == "Contiguous") return SplitBehavior::kContiguous;
  throw TokenizerError(fmt::format("tokenizer: {}: unknown split behavior '{}' (expected Removed, Isolated, "
                                   "MergedWithPrevious, MergedWithNext or Contiguous)",
                                   where, s));
}

// A special-token value in tokenizer_config.json / special_tokens_map.json: "text" or {content: ...}.
std::optional<std::string> token_string(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

AddedToken added_token_from_json(const json& j, TokenId id, const std::string& where) {
  if (!j.is_object() || !j.contains("content") || !j["content"].is_string()) {
    throw TokenizerError(fmt::format("tokenizer: {}: added token {} has no string 'content'", where, id));
  }
  AddedToken t;
  t.id = id;
  t.content = j["content"].get<std::string>();
  t.special = j.value("special", false);
  t.normalized = j.value("normalized", !t.special);
  t.lstrip = j.value("lstrip", false);
  t.rstrip = j.value("rstrip", false);
  t.single_word = j.value("single_word", false);
  return t;
}

const std::vector<std::string> kNamedSpecialKeys = {"bos_token", "eos_token", "unk_token", "sep_token",
                                                     "pad_token", "cls_token", "mask_token"};

// tokenizer_config.json, special_tokens_map.json and added_tokens.json of a checkpoint directory.
struct ConfigFiles {
  json tokenizer_config = json::object();
  json special_tokens_map = json::object();
  json added_tokens = json::object();
  std::string dir;
};

ConfigFiles read_config_files(const std::string& dir) {
  ConfigFiles c;
  c.dir = dir;
  if (dir.empty()) return c;
  const auto load = [&](const char* name, json& into) {
    const fs::path p = fs::path(dir) / name;
    if (fs::exists(p)) into = read_json(p.string());
  };
  load("tokenizer_config.json", c.tokenizer_config);
  load("special_tokens_map.json", c.special_tokens_map);
  load("added_tokens.json", c.added_tokens);
  return c;
}

// bos/eos/... plus the string-valued *_token keys SmolVLM2 adds (image_token, ...): tokenizer_config
// first, special_tokens_map second.
void collect_named_special(const ConfigFiles& c, std::map<std::string, std::string>& named) {
  for (const json* src : {&c.tokenizer_config, &c.special_tokens_map}) {
    if (!src->is_object()) continue;
    for (const auto& [key, value] : src->items()) {
      if (key.size() < 6 || key.compare(key.size() - 6, 6, "_token") != 0) continue;
      if (named.count(key)) continue;
      if (auto s = token_string(value)) named[key] = *s;
    }
  }
}

// Special token strings transformers treats as special (bos, eos, ..., additional_special_tokens).
std::vector<std::string> all_special_strings(const ConfigFiles& c, const std::map<std::string, std::string>& named) {
  std::vector<std::string> out;
  for (const std::string& key : kNamedSpecialKeys) {
    const auto it = named.find(key);
    if (it != named.end()) out.push_back(it->second);
  }
  for (const json* src : {&c.tokenizer_config, &c.special_tokens_map}) {
    if (src->is_object() && src->contains("additional_special_tokens") && (*src)["additional_special_tokens"].is_array()) {
      for (const json& v : (*src)["additional_special_tokens"]) {
        if (auto s = token_string(v)) out.push_back(*s);
      }
      break;  // tokenizer_config wins
    }
  }
  return out;
}

void parse_pretokenizer(const json& j, std::vector<PreTokStep>& steps, const std::string& where) {
  if (j.is_null()) return;
  const std::string type = j.value("type", "");
  if (type == "Sequence") {
    for (const json& sub : j.at("pretokenizers")) parse_pretokenizer(sub, steps, where);
    return;
  }
  if (!steps.empty() && steps.back().kind == PreTokStep::Kind::kByteLevel) {
    throw TokenizerError(fmt::format("tokenizer {}: pre_tokenizer '{}' after ByteLevel is not supported", where, type));
  }
  PreTokStep step;
  if (type == "Digits") {
    const bool individual = j.value("individual_digits", false);
    step.regex = std::make_unique<text::Regex>(individual ? R"(\p{N})" : R"(\p{N}+)");
    step.behavior = individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous;
  } else if (type == "ByteLevel") {
    step.kind = PreTokStep::Kind::kByteLevel;
    step.add_prefix_space = j.value("add_prefix_space", true);
    if (j.value("use_regex", true)) step.regex = std::make_unique<text::Regex>(kGpt2Pattern);
  } else if (type == "Split") {
    const json& pat = j.at("pattern");
    if (pat.contains("Regex")) {
      step.regex = std::make_unique<text::Regex>(pat["Regex"].get<std::string>());
    } else if (pat.contains("String")) {
      step.regex = std::make_unique<text::Regex>(pat["String"].get<std::string>(), text::Regex::Syntax::kLiteral);
    } else {
      throw TokenizerError(fmt::format("tokenizer {}: Split pattern must be {{\"Regex\": ...}} or {{\"String\": ...}}, got {}",
                                       where, pat.dump()));
    }
    step.behavior = parse_behavior(j.value("behavior", "Isolated"), where);
    step.invert = j.value("invert", false);
  } else {
    throw TokenizerError(fmt::format(
        "tokenizer {}: pre_tokenizer type '{}' is not supported (supported: Sequence, Digits, ByteLevel, Split)", where,
        type));
  }
  steps.push_back(std::move(step));
}

// Reads tokenizer.json with nlohmann's SAX interface: model.vocab and model.merges (99% of the
// file) go straight into the tokenizer instead of a DOM; everything else becomes a normal DOM.
class TokenizerJsonReader : public nlohmann::json_sax<json> {
 public:
  explicit TokenizerJsonReader(Tokenizer::Impl& impl) : impl_(impl) {}

  json parse(const std::string& text, const std::string& path) {
    impl_.vocab.reserve(65536);
    if (!json::sax_parse(text, this) || frames_.size() != 0) {
      throw TokenizerError(fmt::format("tokenizer: '{}' is not valid JSON: {}", path, error_));
    }
    return std::move(root_);
  }
  bool saw_vocab() const { return saw_vocab_; }
  bool saw_merges() const { return saw_merges_; }
  const std::vector<std::pair<std::string, std::string>>& merges() const { return merges_; }

  bool null() override { return value(json()); }
  bool boolean(bool v) override { return value(json(v)); }
  bool number_integer(number_integer_t v) override {
    if (in(Special::kVocab)) return vocab_entry(v);
    return value(json(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (in(Special::kVocab)) return vocab_entry(static_cast<int64_t>(v));
    return value(json(v));
  }
  bool number_float(number_float_t v, const string_t&) override { return value(json(v)); }
  bool string(string_t& v) override {
    if (in(Special::kMerges)) {
      const size_t sp = v.find(' ');
      if (sp == std::string::npos || v.find(' ', sp + 1) != std::string::npos) {
        return fail(fmt::format("merge {} '{}' is not two tokens separated by one space", merges_.size(), v));
      }
      merges_.emplace_back(v.substr(0, sp), v.substr(sp + 1));
      return true;
    }
    if (in(Special::kMergePair)) {
      pair_.push_back(std::move(v));
      return true;
    }
    return value(json(std::move(v)));
  }
  bool binary(binary_t&) override { return fail("binary values are not JSON"); }
  bool start_object(std::size_t) override { return open(true); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    error_ = fmt::format("{} (byte {})", e.what(), position);
    return false;
  }

 private:
  enum class Special { kNone, kVocab, kMerges, kMergePair };
  struct Frame {
    json* node;  // null for special frames
    Special special;
    std::string name;  // key under the parent object ("" in arrays)
  };

  bool in(Special s) const { return !frames_.empty() && frames_.back().special == s; }

  bool fail(const std::string& what) {
    error_ = what;
    return false;
  }

  bool vocab_entry(int64_t id) {
    if (id < 0 || id > 0x7FFFFFFF) return fail(fmt::format("vocab entry '{}' has invalid id {}", key_, id));
    impl_.add_vocab_entry(key_, static_cast<uint32_t>(id));
    return true;
  }

  // Inserts a scalar or container into the current DOM container; returns false in special frames
  // where the value has no place.
  json* insert(json v) {
    if (frames_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    Frame& top = frames_.back();
    if (top.special != Special::kNone) return nullptr;
    if (top.node->is_object()) {
      json& slot = (*top.node)[key_];
      slot = std::move(v);
      return &slot;
    }
    top.node->push_back(std::move(v));
    return &top.node->back();
  }

  bool value(json v) {
    if (!insert(std::move(v))) return fail("unexpected value inside model.vocab / model.merges");
    return true;
  }

  bool open(bool is_object) {
    const bool parent_is_model = frames_.size() == 2 && frames_[1].name == "model" && frames_[0].node &&
                                 frames_[0].node == &root_ && frames_[1].node && frames_[1].node->is_object();
    if (parent_is_model && is_object && key_ == "vocab") {
      saw_vocab_ = true;
      frames_.push_back({nullptr, Special::kVocab, key_});
      return true;
    }
    if (parent_is_model && !is_object && key_ == "merges") {
      saw_merges_ = true;
      frames_.push_back({nullptr, Special::kMerges, key_});
      return true;
    }
    if (in(Special::kMerges) && !is_object) {
      pair_.clear();
      frames_.push_back({nullptr, Special::kMergePair, ""});
      return true;
    }
    const bool parent_is_object = !frames_.empty() && frames_.back().node && frames_.back().node->is_object();
    std::string name = parent_is_object ? key_ : std::string();
    json* node = insert(is_object ? json::object() : json::array());
    if (!node) return fail("unexpected container inside model.vocab / model.merges");
    frames_.push_back({node, Special::kNone, std::move(name)});
    return true;
  }

  bool close() {
    if (frames_.empty()) return fail("unbalanced brackets");
    if (frames_.back().special == Special::kMergePair) {
      if (pair_.size() != 2) return fail(fmt::format("merge {} is not a pair of strings", merges_.size()));
      merges_.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
    }
    frames_.pop_back();
    return true;
  }

  Tokenizer::Impl& impl_;
  json root_;
  std::vector<Frame> frames_;
  std::string key_;
  std::vector<std::string> pair_;
  std::vector<std::pair<std::string, std::string>> merges_;
  bool saw_vocab_ = false;
  bool saw_merges_ = false;
  std::string error_;
};

}  // namespace

Tokenizer::Tokenizer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Tokenizer Tokenizer::from_dir(const std::string& dir) {
  const fs::path d(dir);
  if (!fs::is_directory(d)) throw TokenizerError(fmt::format("tokenizer: '{}' is not a directory", dir));
  if (fs::exists(d / "tokenizer.json")) return from_tokenizer_json((d / "tokenizer.json").string(), dir);
  if (fs::exists(d / "vocab.json") && fs::exists(d / "merges.txt")) {
    return from_vocab_merges((d / "vocab.json").string(), (d / "merges.txt").string(), dir);
  }
  throw TokenizerError(
      fmt::format("tokenizer: '{}' has neither tokenizer.json nor vocab.json + merges.txt", dir));
}

Tokenizer Tokenizer::from_tokenizer_json(const std::string& path, const std::string& config_dir) {
  auto impl = std::make_shared<Impl>();
  impl->source = path;
  TokenizerJsonReader reader(*impl);
  const json j = reader.parse(util::read_file(path), path);
  try {
    if (j.contains("normalizer") && !j["normalizer"].is_null()) {
      throw TokenizerError(fmt::format("tokenizer {}: normalizer '{}' is not supported (only null)", path,
                                       j["normalizer"].value("type", "?")));
    }
    const json& model = j.at("model");
    if (model.value("type", "BPE") != "BPE") {
      throw TokenizerError(fmt::format("tokenizer {}: model type '{}' is not supported (only BPE)", path,
                                       model.value("type", "")));
    }
    if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"].get<double>() != 0.0) {
      throw TokenizerError(fmt::format("tokenizer {}: BPE dropout is not supported", path));
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (model.contains(key) && !model[key].is_null() && !model[key].get<std::string>().empty()) {
        throw TokenizerError(fmt::format("tokenizer {}: BPE {} is not supported", path, key));
      }
    }
    if (model.value("byte_fallback", false)) {
      throw TokenizerError(fmt::format("tokenizer {}: BPE byte_fallback is not supported", path));
    }
    if (!reader.saw_vocab() || !reader.saw_merges()) {
      throw TokenizerError(fmt::format("tokenizer {}: model lacks 'vocab' or 'merges'", path));
    }
    impl->ignore_merges = model.value("ignore_merges", false);
    const auto& merges = reader.merges();
    impl->merges.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      impl->add_merge(merges[rank].first, merges[rank].second, rank, [&] { return fmt::format("merge {}", rank); });
    }
    parse_pretokenizer(j.value("pre_tokenizer", json()), impl->pretok, path);
    if (impl->pretok.empty() || impl->pretok.back().kind != PreTokStep::Kind::kByteLevel) {
      throw TokenizerError(fmt::format("tokenizer {}: expected a ByteLevel pre_tokenizer (byte-level BPE)", path));
    }
    if (j.contains("decoder") && !j["decoder"].is_null() && j["decoder"].value("type", "") != "ByteLevel") {
      throw TokenizerError(fmt::format("tokenizer {}: decoder '{}' is not supported (only ByteLevel)", path,
                                       j["decoder"].value("type", "")));
    }
    if (j.contains("post_processor") && !j["post_processor"].is_null() &&
        j["post_processor"].value("type", "") != "ByteLevel") {
      throw TokenizerError(fmt::format("tokenizer {}: post_processor '{}' is not supported (only null or ByteLevel)",
                                       path, j["post_processor"].value("type", "")));
    }
    if (j.contains("added_tokens")) {
      for (const json& t : j["added_tokens"]) {
        impl->add_added_token(added_token_from_json(t, t.at("id").get<TokenId>(), path), /*match_raw=*/false);
      }
    }
  } catch (const json::exception& e) {
    throw TokenizerError(fmt::format("tokenizer {}: unexpected structure: {}", path, e.what()));
  }

  // transformers adds tokenizer_config's added_tokens_decoder entries missing from tokenizer.json.
  const ConfigFiles cfg = read_config_files(config_dir);
  if (cfg.tokenizer_config.contains("added_tokens_decoder")) {
    for (const auto& [id, t] : cfg.tokenizer_config["added_tokens_decoder"].items()) {
      impl->add_added_token(added_token_from_json(t, std::stoll(id), config_dir + "/tokenizer_config.json"), false);
    }
  }
  collect_named_special(cfg, impl->named_special);
  std::vector<uint32_t> special_ids;
  for (const AddedToken& t : impl->added) {
    if (t.special) special_ids.push_back(static_cast<uint32_t>(t.id));
  }
  impl->finish(special_ids);
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_vocab_merges(const std::string& vocab_path, const std::string& merges_path,
                                       const std::string& config_dir) {
  auto impl = std::make_shared<Impl>();
  impl->source = vocab_path + " + " + merges_path;
  const json vocab = read_json(vocab_path);
  if (!vocab.is_object()) throw TokenizerError(fmt::format("tokenizer: '{}' is not a JSON object", vocab_path));
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0) {
      throw TokenizerError(fmt::format("tokenizer: '{}': token '{}' has a non-integer id", vocab_path, token));
    }
    impl->add_vocab_entry(token, id.get<uint32_t>());
  }
  std::istringstream merges(util::read_file(merges_path));
  std::string line;
  size_t rank = 0;
  size_t line_no = 0;
  while (std::getline(merges, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos) {
      throw TokenizerError(fmt::format("tokenizer: '{}' line {}: expected two tokens separated by one space, got '{}'",
                                       merges_path, line_no, line));
    }
    impl->add_merge(line.substr(0, sp), line.substr(sp + 1), rank++,
                    [&] { return fmt::format("{} line {}: merge", merges_path, line_no); });
  }

  // Slow GPT2Tokenizer: the ByteLevel split regex only (no Digits), prefix space per config.
  const ConfigFiles cfg = read_config_files(config_dir);
  PreTokStep step;
  step.kind = PreTokStep::Kind::kByteLevel;
  step.add_prefix_space = cfg.tokenizer_config.value("add_prefix_space", false);
  step.regex = std::make_unique<text::Regex>(kGpt2Pattern);
  impl->pretok.push_back(std::move(step));

  collect_named_special(cfg, impl->named_special);
  std::vector<std::string> specials = all_special_strings(cfg, impl->named_special);
  const auto is_listed_special = [&](const std::string& s) {
    return std::find(specials.begin(), specials.end(), s) != specials.end();
  };
  // The slow tokenizer splits on every added/special token in one leftmost-longest pass.
  if (cfg.tokenizer_config.contains("added_tokens_decoder")) {
    for (const auto& [id, t] : cfg.tokenizer_config["added_tokens_decoder"].items()) {
      AddedToken tok = added_token_from_json(t, std::stoll(id), config_dir + "/tokenizer_config.json");
      tok.special = tok.special || is_listed_special(tok.content);
      impl->add_added_token(std::move(tok), /*match_raw=*/true);
    }
  }
  if (cfg.added_tokens.is_object()) {
    for (const auto& [content, id] : cfg.added_tokens.items()) {
      AddedToken tok;
      tok.id = id.get<TokenId>();
      tok.content = content;
      tok.special = is_listed_special(content);
      impl->add_added_token(std::move(tok), true);
    }
  }
  for (const std::string& s : specials) {
    if (impl->added_by_content.count(s)) continue;
    const uint32_t vocab_id = impl->vocab.find(s);
    if (vocab_id == kNoId) {
      throw TokenizerError(fmt::format("tokenizer: special token '{}' (from {}) is neither in '{}' nor an added token", s,
                                       config_dir, vocab_path));
    }
    AddedToken tok;
    tok.id = vocab_id;
    tok.content = s;
    tok.special = true;
    impl->add_added_token(std::move(tok), true);
  }
  std::vector<uint32_t> special_ids;
  for (const std::string& s : specials) special_ids.push_back(static_cast<uint32_t>(impl->added[impl->added_by_content.at(s)].id));
  impl->finish(special_ids);
  // legacy_added_tokens of transformers: added tokens outside all_special_tokens, plus listed
  // additional special tokens whose id is beyond the vocab.json size.
  impl->slow_decode = true;
  for (const AddedToken& t : impl->added) {
    const bool listed = is_listed_special(t.content);
    if (!listed || static_cast<size_t>(t.id) >= vocab.size()) impl->id_legacy_added[static_cast<size_t>(t.id)] = 1;
  }
  return Tokenizer(std::move(impl));
}

}  // namespace smolvid::model
