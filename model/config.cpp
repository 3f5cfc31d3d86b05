// model/config.cpp: parsing and validation of the SmolVLM model files (see config.h).
#include "model/config.h"

#include <sys/stat.h>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "model/safetensors.h"
#include "util/file.h"

namespace smolvid::model {

namespace {

using nlohmann::json;

std::string type_name(const json& v) { return v.is_number_integer() ? "integer" : v.type_name(); }

std::string brief(const json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

// A JSON object being read: every accessor leaves the target untouched when the key is absent
// (so the field keeps its class default) and throws ConfigError naming file and key when the
// value has the wrong type or range.
class Reader {
 public:
  Reader(const json& j, std::string source, std::string prefix)
      : j_(j), source_(std::move(source)), prefix_(std::move(prefix)) {}

  bool has(const char* key) const { return j_.contains(key); }
  bool has_non_null(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }
  const json& raw(const char* key) const { return j_.at(key); }
  std::string path(const char* key) const { return prefix_ + key; }
  const std::string& source() const { return source_; }

  [[noreturn]] void fail(const char* key, const std::string& expected) const {
    throw ConfigError(fmt::format("{}: \"{}\" must be {}, got {} ({})", source_, path(key), expected,
                                  brief(j_.at(key)), type_name(j_.at(key))));
  }
  [[noreturn]] void fail_value(const char* key, const std::string& problem) const {
    throw ConfigError(fmt::format("{}: \"{}\": {}", source_, path(key), problem));
  }

  void int_(const char* key, int64_t& out, bool positive) const {
    if (!has(key)) return;
    const json& v = j_.at(key);
    if (!v.is_number_integer()) fail(key, positive ? "a positive integer" : "an integer");
    const int64_t x = v.get<int64_t>();
    if (positive && x <= 0) fail(key, "a positive integer");
    out = x;
  }
  void opt_int(const char* key, std::optional<int64_t>& out) const {
    if (!has(key)) return;
    const json& v = j_.at(key);
    if (v.is_null()) {
      out.reset();
      return;
    }
    if (!v.is_number_integer()) fail(key, "an integer or null");
    out = v.get<int64_t>();
  }
  // An int or a list of ints (eos_token_id); null gives an empty list.
  void int_list(const char* key, std::vector<int64_t>& out) const {
    if (!has(key)) return;
    const json& v = j_.at(key);
    out.clear();
    if (v.is_null()) return;
    if (v.is_number_integer()) {
      out.push_back(v.get<int64_t>());
      return;
    }
    if (!v.is_array()) fail(key, "an integer, a list of integers or null");
    for (const json& e : v) {
      if (!e.is_number_integer()) fail(key, "an integer, a list of integers or null");
      out.push_back(e.get<int64_t>());
    }
  }
  void double_(const char* key, double& out, bool positive) const {
    if (!has(key)) return;
    const json& v = j_.at(key);
    if (!v.is_number()) fail(key, positive ? "a positive number" : "a number");
    const double x = v.get<double>();
    if (!std::isfinite(x) || (positive && x <= 0)) fail(key, positive ? "a positive number" : "a finite number");
    out = x;
  }
  void double_list(const char* key, std::vector<double>& out) const {
    if (!has(key)) return;
    const json& v = j_.at(key);
    if (!v.is_array() || v.empty()) fail(key, "a non-empty list of numbers");
    std::vector<double> tmp;
    for (const json& e : v) {
      if (!e.is_number()) fail(key, "a non-empty list of numbers");
      tmp.push_back(e.get<double>());
    }
    out = std::move(tmp);
  }
  void bool_(const char* key, bool& out) const {
    if (!has(key)) return;
    const json& v = j_.at(key);
    if (!v.is_boolean()) fail(key, "true or false");
    out = v.get<bool>();
  }
  void string_(const char* key, std::string& out) const {
    if (!has(key)) return;
    const json& v = j_.at(key);
    if (v.is_null()) return;
    if (!v.is_string()) fail(key, "a string");
    out = v.get<std::string>();
  }
  void string_list(const char* key, std::vector<std::string>& out) const {
    if (!has(key)) return;
    const json& v = j_.at(key);
    out.clear();
    if (v.is_null()) return;
    if (!v.is_array()) fail(key, "a list of strings");
    for (const json& e : v) {
      if (!e.is_string()) fail(key, "a list of strings");
      out.push_back(e.get<std::string>());
    }
  }
  // A nested object; nullopt when absent or null.
  std::optional<Reader> object(const char* key) const {
    if (!has_non_null(key)) return std::nullopt;
    if (!j_.at(key).is_object()) fail(key, "an object");
    return Reader(j_.at(key), source_, path(key) + ".");
  }
  void longest_edge(const char* key, LongestEdge& out) const {
    std::optional<Reader> r = object(key);
    if (!r) return;
    if (!r->has("longest_edge")) {
      throw ConfigError(fmt::format("{}: \"{}\" has no \"longest_edge\" (only {{\"longest_edge\": N}} sizes are supported)",
                                    source_, path(key)));
    }
    r->int_("longest_edge", out.longest_edge, true);
  }

 private:
  const json& j_;
  std::string source_;
  std::string prefix_;
};

json parse_json(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    throw ConfigError(fmt::format("{}: not valid JSON: {}", source, e.what()));
  }
  if (!j.is_object()) throw ConfigError(fmt::format("{}: expected a JSON object at the top level, got {}", source, j.type_name()));
  return j;
}

void parse_vision(const Reader& r, VisionConfig& v) {
  r.string_("model_type", v.model_type);
  r.int_("hidden_size", v.hidden_size, true);
  r.int_("intermediate_size", v.intermediate_size, true);
  r.int_("num_hidden_layers", v.num_hidden_layers, true);
  r.int_("num_attention_heads", v.num_attention_heads, true);
  r.int_("num_channels", v.num_channels, true);
  r.int_("image_size", v.image_size, true);
  r.int_("patch_size", v.patch_size, true);
  r.string_("hidden_act", v.hidden_act);
  r.double_("layer_norm_eps", v.layer_norm_eps, true);
  r.double_("attention_dropout", v.attention_dropout, false);
  if (v.hidden_size % v.num_attention_heads != 0) {
    throw ConfigError(fmt::format("{}: \"{}\" {} is not divisible by \"{}\" {}", r.source(), r.path("hidden_size"),
                                  v.hidden_size, r.path("num_attention_heads"), v.num_attention_heads));
  }
  if (v.patch_size > v.image_size) {
    throw ConfigError(fmt::format("{}: \"{}\" {} is larger than \"{}\" {}", r.source(), r.path("patch_size"), v.patch_size,
                                  r.path("image_size"), v.image_size));
  }
}

void parse_text(const Reader& r, TextConfig& t) {
  r.string_("model_type", t.model_type);
  if (t.model_type != "llama") {
    throw ConfigError(fmt::format("{}: \"{}\" is \"{}\"; only \"llama\" text models are supported", r.source(),
                                  r.path("model_type"), t.model_type));
  }
  r.int_("vocab_size", t.vocab_size, true);
  r.int_("hidden_size", t.hidden_size, true);
  r.int_("intermediate_size", t.intermediate_size, true);
  r.int_("num_hidden_layers", t.num_hidden_layers, true);
  r.int_("num_attention_heads", t.num_attention_heads, true);
  t.num_key_value_heads = t.num_attention_heads;
  if (r.has_non_null("num_key_value_heads")) r.int_("num_key_value_heads", t.num_key_value_heads, true);
  if (r.has_non_null("head_dim")) {
    r.int_("head_dim", t.head_dim, true);
  } else {
    if (t.hidden_size % t.num_attention_heads != 0) {
      throw ConfigError(fmt::format("{}: \"{}\" {} is not divisible by \"{}\" {} (and no head_dim is given)", r.source(),
                                    r.path("hidden_size"), t.hidden_size, r.path("num_attention_heads"),
                                    t.num_attention_heads));
    }
    t.head_dim = t.hidden_size / t.num_attention_heads;
  }
  if (t.num_attention_heads % t.num_key_value_heads != 0) {
    throw ConfigError(fmt::format("{}: \"{}\" {} is not divisible by \"{}\" {}", r.source(), r.path("num_attention_heads"),
                                  t.num_attention_heads, r.path("num_key_value_heads"), t.num_key_value_heads));
  }
  r.string_("hidden_act", t.hidden_act);
  r.int_("max_position_embeddings", t.max_position_embeddings, true);
  r.double_("rms_norm_eps", t.rms_norm_eps, true);
  r.double_("rope_theta", t.rope_theta, true);
  if (r.has_non_null("rope_scaling")) {
    r.fail_value("rope_scaling", fmt::format("only null is supported (plain RoPE), got {}", brief(r.raw("rope_scaling"))));
  }
  r.bool_("attention_bias", t.attention_bias);
  r.bool_("mlp_bias", t.mlp_bias);
  r.double_("attention_dropout", t.attention_dropout, false);
  r.bool_("tie_word_embeddings", t.tie_word_embeddings);
  r.opt_int("pad_token_id", t.pad_token_id);
  r.opt_int("bos_token_id", t.bos_token_id);
  r.int_list("eos_token_id", t.eos_token_id);
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace


ModelConfig parse_model_config(const std::string& text, const std::string& source) {
  const json j = parse_json(text, source);
  const Reader r(j, source, "");
  ModelConfig c;
  if (!r.has("model_type")) throw ConfigError(fmt::format("{}: no \"model_type\" (expected \"idefics3\" or \"smolvlm\")", source));
  r.string_("model_type", c.model_type);
  if (c.model_type == "idefics3") {
    c.family = ModelFamily::kIdefics3;
  } else if (c.model_type == "smolvlm") {
    c.family = ModelFamily::kSmolVLM;
  } else {
    throw ConfigError(fmt::format("{}: \"model_type\" must be \"idefics3\" (SmolVLM) or \"smolvlm\" (SmolVLM2), got \"{}\"",
                                  source, c.model_type));
  }
  r.string_list("architectures", c.architectures);
  r.int_("image_token_id", c.image_token_id, false);
  r.int_("scale_factor", c.scale_factor, true);
  r.bool_("tie_word_embeddings", c.tie_word_embeddings);
  r.bool_("use_cache", c.use_cache);
  r.opt_int("pad_token_id", c.pad_token_id);
  r.string_("torch_dtype", c.torch_dtype);

  if (std::optional<Reader> v = r.object("vision_config")) parse_vision(*v, c.vision_config);
  else parse_vision(Reader(json::object(), source, "vision_config."), c.vision_config);

  if (std::optional<Reader> t = r.object("text_config")) {
    parse_text(*t, c.text_config);
  } else {
    // Idefics3Config/SmolVLMConfig without a text_config: LlamaConfig(rms_norm_eps=1e-5,
    // pad_token_id=<top-level pad_token_id>, tie_word_embeddings=False).
    parse_text(Reader(json::object(), source, "text_config."), c.text_config);
    c.text_config.rms_norm_eps = 1e-5;
    c.text_config.pad_token_id = c.pad_token_id;
  }

  const int64_t side = c.vision_config.patches_per_side();
  if (side % c.scale_factor != 0) {
    throw ConfigError(fmt::format("{}: \"scale_factor\" {} does not divide the vision patch grid side {} (image_size {} / patch_size {})",
                                  source, c.scale_factor, side, c.vision_config.image_size, c.vision_config.patch_size));
  }
  if (c.image_token_id < 0 || c.image_token_id >= c.text_config.vocab_size) {
    throw ConfigError(fmt::format("{}: \"image_token_id\" {} is outside the vocabulary [0, {}) of text_config.vocab_size",
                                  source, c.image_token_id, c.text_config.vocab_size));
  }
  return c;
}

GenerationConfig parse_generation_config(const std::string& text, const std::string& source) {
  const json j = parse_json(text, source);
  const Reader r(j, source, "");
  GenerationConfig g;
  r.opt_int("bos_token_id", g.bos_token_id);
  r.int_list("eos_token_id", g.eos_token_id);
  r.opt_int("pad_token_id", g.pad_token_id);
  r.bool_("do_sample", g.do_sample);
  r.double_("temperature", g.temperature, true);
  r.int_("top_k", g.top_k, false);
  r.double_("top_p", g.top_p, true);
  r.double_("repetition_penalty", g.repetition_penalty, true);
  r.int_("max_length", g.max_length, true);
  if (r.has_non_null("max_new_tokens")) {
    int64_t n = 0;
    r.int_("max_new_tokens", n, true);
    g.max_new_tokens = n;
  }
  if (g.top_k < 0) r.fail("top_k", "a non-negative integer");
  if (g.top_p > 1.0) r.fail("top_p", "a number in (0, 1]");
  return g;
}

PreprocessorConfig parse_preprocessor_config(const std::string& text, const std::string& source) {
  const json j = parse_json(text, source);
  const Reader r(j, source, "");
  PreprocessorConfig p;
  r.string_("image_processor_type", p.image_processor_type);
  r.string_("processor_class", p.processor_class);
  r.bool_("do_convert_rgb", p.do_convert_rgb);
  r.bool_("do_resize", p.do_resize);
  r.longest_edge("size", p.size);
  r.int_("resample", p.resample, false);
  if (p.resample < 0 || p.resample > 5) r.fail("resample", "a PIL resampling code 0..5");
  r.bool_("do_image_splitting", p.do_image_splitting);
  r.longest_edge("max_image_size", p.max_image_size);
  r.bool_("do_rescale", p.do_rescale);
  r.double_("rescale_factor", p.rescale_factor, true);
  r.bool_("do_normalize", p.do_normalize);
  r.double_list("image_mean", p.image_mean);
  r.double_list("image_std", p.image_std);
  for (double s : p.image_std) {
    if (!(s > 0)) r.fail("image_std", "a list of positive numbers");
  }
  r.bool_("do_pad", p.do_pad);
  if (std::optional<Reader> v = r.object("video_sampling")) {
    VideoSampling vs;
    v->double_("fps", vs.fps, true);
    v->int_("max_frames", vs.max_frames, true);
    v->longest_edge("video_size", vs.video_size);
    p.video_sampling = vs;
  }
  return p;
}

ProcessorConfig parse_processor_config(const std::string& text, const std::string& source) {
  const json j = parse_json(text, source);
  const Reader r(j, source, "");
  ProcessorConfig p;
  r.string_("processor_class", p.processor_class);
  r.int_("image_seq_len", p.image_seq_len, true);
  return p;
}

ModelConfig load_model_config(const std::string& path) { return parse_model_config(util::read_file(path), path); }
GenerationConfig load_generation_config(const std::string& path) { return parse_generation_config(util::read_file(path), path); }
PreprocessorConfig load_preprocessor_config(const std::string& path) { return parse_preprocessor_config(util::read_file(path), path); }
ProcessorConfig load_processor_config(const std::string& path) { return parse_processor_config(util::read_file(path), path); }

std::vector<ExpectedTensor> expected_checkpoint_tensors(const ModelConfig& config) {
  const VisionConfig& v = config.vision_config;
  const TextConfig& t = config.text_config;
  std::vector<ExpectedTensor> out;
  const auto add = [&out](std::string name, std::vector<int64_t> shape) { out.push_back({std::move(name), std::move(shape)}); };

  const std::string ve = "model.vision_model.embeddings.";
  add(ve + "patch_embedding.weight", {v.hidden_size, v.num_channels, v.patch_size, v.patch_size});
  add(ve + "patch_embedding.bias", {v.hidden_size});
  add(ve + "position_embedding.weight", {v.num_positions(), v.hidden_size});
  for (int64_t i = 0; i < v.num_hidden_layers; ++i) {
    const std::string p = fmt::format("model.vision_model.encoder.layers.{}.", i);
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      add(p + "self_attn." + proj + ".weight", {v.hidden_size, v.hidden_size});
      add(p + "self_attn." + proj + ".bias", {v.hidden_size});
    }
    for (const char* norm : {"layer_norm1", "layer_norm2"}) {
      add(p + norm + ".weight", {v.hidden_size});
      add(p + norm + ".bias", {v.hidden_size});
    }
    add(p + "mlp.fc1.weight", {v.intermediate_size, v.hidden_size});
    add(p + "mlp.fc1.bias", {v.intermediate_size});
    add(p + "mlp.fc2.weight", {v.hidden_size, v.intermediate_size});
    add(p + "mlp.fc2.bias", {v.hidden_size});
  }
  add("model.vision_model.post_layernorm.weight", {v.hidden_size});
  add("model.vision_model.post_layernorm.bias", {v.hidden_size});

  add("model.connector.modality_projection.proj.weight", {t.hidden_size, config.connector_input_size()});

  add("model.text_model.embed_tokens.weight", {t.vocab_size, t.hidden_size});
  for (int64_t i = 0; i < t.num_hidden_layers; ++i) {
    const std::string p = fmt::format("model.text_model.layers.{}.", i);
    const std::vector<std::pair<const char*, std::vector<int64_t>>> attn = {
        {"q_proj", {t.q_size(), t.hidden_size}},
        {"k_proj", {t.kv_size(), t.hidden_size}},
        {"v_proj", {t.kv_size(), t.hidden_size}},
        {"o_proj", {t.hidden_size, t.q_size()}},
    };
    for (const auto& [proj, shape] : attn) {
      add(p + "self_attn." + proj + ".weight", shape);
      if (t.attention_bias) add(p + "self_attn." + proj + ".bias", {shape[0]});
    }
    const std::vector<std::pair<const char*, std::vector<int64_t>>> mlp = {
        {"gate_proj", {t.intermediate_size, t.hidden_size}},
        {"up_proj", {t.intermediate_size, t.hidden_size}},
        {"down_proj", {t.hidden_size, t.intermediate_size}},
    };
    for (const auto& [proj, shape] : mlp) {
      add(p + "mlp." + proj + ".weight", shape);
      if (t.mlp_bias) add(p + "mlp." + proj + ".bias", {shape[0]});
    }
    add(p + "input_layernorm.weight", {t.hidden_size});
    add(p + "post_attention_layernorm.weight", {t.hidden_size});
  }
  add("model.text_model.norm.weight", {t.hidden_size});
  if (!config.tie_word_embeddings && !t.tie_word_embeddings) add("lm_head.weight", {t.vocab_size, t.hidden_size});

  std::sort(out.begin(), out.end(), [](const ExpectedTensor& a, const ExpectedTensor& b) { return a.name < b.name; });
  return out;
}

ModelFiles ModelFiles::load(const std::string& dir, bool require_weights) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw ConfigError(fmt::format("{}: not a model directory (it does not exist or is not a directory)", dir));
  }
  ModelFiles f;
  f.dir = dir;
  const auto in_dir = [&dir](const char* name) { return dir + "/" + name; };
  const auto optional_path = [&](const char* name) { return file_exists(in_dir(name)) ? in_dir(name) : std::string(); };

  if (!file_exists(in_dir("config.json"))) throw ConfigError(fmt::format("{}: no config.json in the model directory", dir));
  f.config = load_model_config(in_dir("config.json"));
  if (file_exists(in_dir("generation_config.json"))) {
    f.generation = load_generation_config(in_dir("generation_config.json"));
    f.has_generation_config = true;
  }
  if (file_exists(in_dir("preprocessor_config.json"))) f.preprocessor = load_preprocessor_config(in_dir("preprocessor_config.json"));
  if (file_exists(in_dir("processor_config.json"))) f.processor = load_processor_config(in_dir("processor_config.json"));
  // The processor must produce what the network consumes.
  if (f.processor && f.processor->image_seq_len != f.config.image_seq_len()) {
    throw ConfigError(fmt::format("{}: image_seq_len {} does not match config.json, whose vision grid {}x{} with scale_factor {} gives {} tokens per image",
                                  in_dir("processor_config.json"), f.processor->image_seq_len, f.config.vision_config.patches_per_side(),
                                  f.config.vision_config.patches_per_side(), f.config.scale_factor, f.config.image_seq_len()));
  }
  if (f.preprocessor && f.preprocessor->max_image_size.longest_edge != f.config.vision_config.image_size) {
    throw ConfigError(fmt::format("{}: max_image_size.longest_edge {} (the tile size) differs from config.json vision_config.image_size {}",
                                  in_dir("preprocessor_config.json"), f.preprocessor->max_image_size.longest_edge,
                                  f.config.vision_config.image_size));
  }
  f.tokenizer_json = optional_path("tokenizer.json");
  f.tokenizer_config_json = optional_path("tokenizer_config.json");
  f.chat_template_json = optional_path("chat_template.json");
  f.special_tokens_map_json = optional_path("special_tokens_map.json");
  f.added_tokens_json = optional_path("added_tokens.json");
  f.vocab_json = optional_path("vocab.json");
  f.merges_txt = optional_path("merges.txt");

  if (file_exists(in_dir("model.safetensors.index.json"))) {
    f.weights_index = in_dir("model.safetensors.index.json");
    std::map<std::string, std::string> weight_map;
    try {
      weight_map = read_safetensors_index(f.weights_index);
    } catch (const SafetensorsError& e) {
      throw ConfigError(e.what());
    }
    std::set<std::string> shards;
    for (const auto& kv : weight_map) shards.insert(kv.second);
    for (const std::string& s : shards) {
      if (!file_exists(dir + "/" + s)) {
        throw ConfigError(fmt::format("{}: lists shard {}, which is not in {}", f.weights_index, s, dir));
      }
      f.weight_files.push_back(dir + "/" + s);
    }
  } else if (file_exists(in_dir("model.safetensors"))) {
    f.weight_files.push_back(in_dir("model.safetensors"));
  } else if (require_weights) {
    throw ConfigError(fmt::format("{}: no weights (neither model.safetensors nor model.safetensors.index.json)", dir));
  }
  return f;
}

}  // namespace smolvid::model
