// Config parsing: the six published configs against the spec's tables (shared/spec/smolvlm.md
// section 1) and the tensor lists, trimmed copies for the transformers class defaults, malformed
// values, and the other model files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "model/config.h"
#include "model/nn/random_checkpoint.h"
#include "tests/test_files.h"
#include "tests/test_support.h"
#include "util/file.h"

namespace smolvid::model {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

std::string refcfg(const std::string& p) { return test::reference("configs/" + p); }

struct Published {
  const char* dir;  // folder holding config.json and tensors.json
  const char* model_type;
  int64_t image_token_id, scale_factor;
  // vision: hidden, layers, heads, intermediate, image, patch
  int64_t vh, vl, vheads, vi, image, patch;
  // text: hidden, layers, heads, kv heads, head_dim, intermediate, vocab
  int64_t th, tl, theads, kv, head_dim, ti, vocab;
  double rope_theta;
  int64_t max_pos;
  int64_t image_seq_len;
};

// Spec tables 1.1-1.4.
const Published kPublished[] = {
    {"SmolVLM-256M-Instruct", "idefics3", 49190, 4, 768, 12, 12, 3072, 512, 16, 576, 30, 9, 3, 64, 1536, 49280, 100000, 8192, 64},
    {"SmolVLM-500M-Instruct/reconstructed", "idefics3", 49190, 4, 768, 12, 12, 3072, 512, 16, 960, 32, 15, 5, 64, 2560, 49280, 100000, 8192, 64},
    {"SmolVLM-Instruct/reconstructed", "idefics3", 49153, 3, 1152, 27, 16, 4304, 384, 14, 2048, 24, 32, 32, 64, 8192, 49155, 273768, 16384, 81},
    {"SmolVLM2-256M-Video-Instruct/reconstructed", "smolvlm", 49190, 4, 768, 12, 12, 3072, 512, 16, 576, 30, 9, 3, 64, 1536, 49280, 100000, 8192, 64},
    {"SmolVLM2-500M-Video-Instruct/reconstructed", "smolvlm", 49190, 4, 768, 12, 12, 3072, 512, 16, 960, 32, 15, 5, 64, 2560, 49280, 100000, 8192, 64},
    {"SmolVLM2-2.2B-Instruct/reconstructed", "smolvlm", 49190, 3, 1152, 27, 16, 4304, 384, 14, 2048, 24, 32, 32, 64, 8192, 49280, 273768, 8192, 81},
};

TEST(Config, PublishedConfigsMatchSpec) {
  for (const Published& p : kPublished) {
    SCOPED_TRACE(p.dir);
    const ModelConfig c = load_model_config(refcfg(std::string(p.dir) + "/config.json"));
    EXPECT_EQ(c.model_type, p.model_type);
    EXPECT_EQ(c.family, std::string(p.model_type) == "idefics3" ? ModelFamily::kIdefics3 : ModelFamily::kSmolVLM);
    EXPECT_EQ(c.image_token_id, p.image_token_id);
    EXPECT_EQ(c.scale_factor, p.scale_factor);
    const VisionConfig& v = c.vision_config;
    EXPECT_EQ(v.hidden_size, p.vh);
    EXPECT_EQ(v.num_hidden_layers, p.vl);
    EXPECT_EQ(v.num_attention_heads, p.vheads);
    EXPECT_EQ(v.intermediate_size, p.vi);
    EXPECT_EQ(v.image_size, p.image);
    EXPECT_EQ(v.patch_size, p.patch);
    EXPECT_EQ(v.num_channels, 3);
    EXPECT_EQ(v.hidden_act, "gelu_pytorch_tanh");
    EXPECT_DOUBLE_EQ(v.layer_norm_eps, 1e-6);
    const TextConfig& t = c.text_config;
    EXPECT_EQ(t.hidden_size, p.th);
    EXPECT_EQ(t.num_hidden_layers, p.tl);
    EXPECT_EQ(t.num_attention_heads, p.theads);
    EXPECT_EQ(t.num_key_value_heads, p.kv);
    EXPECT_EQ(t.head_dim, p.head_dim);
    EXPECT_EQ(t.intermediate_size, p.ti);
    EXPECT_EQ(t.vocab_size, p.vocab);
    EXPECT_DOUBLE_EQ(t.rms_norm_eps, 1e-5);
    EXPECT_DOUBLE_EQ(t.rope_theta, p.rope_theta);
    EXPECT_EQ(t.max_position_embeddings, p.max_pos);
    EXPECT_EQ(t.hidden_act, "silu");
    EXPECT_FALSE(t.tie_word_embeddings);
    EXPECT_FALSE(c.tie_word_embeddings);
    EXPECT_EQ(t.pad_token_id, std::optional<int64_t>(2));
    EXPECT_EQ(c.image_seq_len(), p.image_seq_len);
  }
}

// The shapes a config implies equal the independently built tensor lists, name for name.
TEST(Config, ExpectedTensorsEqualTensorLists) {
  for (const Published& p : kPublished) {
    SCOPED_TRACE(p.dir);
    const ModelConfig c = load_model_config(refcfg(std::string(p.dir) + "/config.json"));
    const TensorList list = read_tensor_list(refcfg(std::string(p.dir) + "/tensors.json"));
    const std::vector<ExpectedTensor> e = expected_checkpoint_tensors(c);
    ASSERT_EQ(e.size(), list.tensors.size());
    int64_t params = 0;
    for (size_t i = 0; i < e.size(); ++i) {
      EXPECT_EQ(e[i].name, list.tensors[i].name);
      EXPECT_EQ(e[i].shape, list.tensors[i].shape) << e[i].name;
      int64_t n = 1;
      for (int64_t d : e[i].shape) n *= d;
      params += n;
    }
    EXPECT_EQ(params, list.parameter_count);
  }
}

TEST(Config, GoldenTinyConfigs) {
  for (const char* model : {"tiny-idefics3", "tiny-idefics3-sf4", "tiny-smolvlm", "tiny-smolvlm-sf4"}) {
    SCOPED_TRACE(model);
    const ModelFiles f = ModelFiles::load(test::golden(model));
    const ModelConfig& c = f.config;
    // golden/README.md section 1.
    EXPECT_EQ(c.vision_config.image_size, 64);
    EXPECT_EQ(c.vision_config.patch_size, 8);
    EXPECT_EQ(c.vision_config.hidden_size, 32);
    EXPECT_EQ(c.vision_config.num_hidden_layers, 2);
    EXPECT_EQ(c.vision_config.num_attention_heads, 4);
    EXPECT_EQ(c.vision_config.intermediate_size, 64);
    EXPECT_EQ(c.text_config.hidden_size, 64);
    EXPECT_EQ(c.text_config.num_hidden_layers, 2);
    EXPECT_EQ(c.text_config.num_attention_heads, 4);
    EXPECT_EQ(c.text_config.num_key_value_heads, 2);
    EXPECT_EQ(c.text_config.head_dim, 16);
    EXPECT_EQ(c.text_config.intermediate_size, 128);
    EXPECT_EQ(c.text_config.vocab_size, 300);
    EXPECT_DOUBLE_EQ(c.text_config.rope_theta, 100000.0);
    EXPECT_EQ(c.image_token_id, 297);
    const bool sf4 = std::string(model).find("sf4") != std::string::npos;
    EXPECT_EQ(c.scale_factor, sf4 ? 4 : 2);
    EXPECT_EQ(c.image_seq_len(), sf4 ? 4 : 16);
    ASSERT_TRUE(f.processor.has_value());
    EXPECT_EQ(f.processor->image_seq_len, c.image_seq_len());
    ASSERT_TRUE(f.preprocessor.has_value());
    EXPECT_EQ(f.preprocessor->max_image_size.longest_edge, 64);
    EXPECT_EQ(f.preprocessor->size.longest_edge, 128);
    EXPECT_TRUE(f.has_generation_config);
    EXPECT_TRUE(f.generation.eos_token_id.empty());  // the tiny generation_config has no eos
    EXPECT_EQ(f.generation.pad_token_id, std::optional<int64_t>(2));
    EXPECT_FALSE(f.vocab_json.empty());
    EXPECT_FALSE(f.merges_txt.empty());
    EXPECT_FALSE(f.chat_template_json.empty());
    EXPECT_TRUE(f.tokenizer_json.empty());
    ASSERT_EQ(f.weight_files.size(), 1u);
    EXPECT_EQ(f.weight_files[0], test::golden(model) + "/model.safetensors");
  }
}

TEST(Config, GenerationConfigs) {
  // Spec section 8.
  const std::pair<const char*, int64_t> kEos[] = {
      {"SmolVLM-256M-Instruct/generation_config.json", 49279},
      {"SmolVLM-500M-Instruct/reconstructed/generation_config.json", 49279},
      {"SmolVLM-Instruct/reconstructed/generation_config.json", 49154},
      {"SmolVLM2-256M-Video-Instruct/reconstructed/generation_config.json", 49279},
      {"SmolVLM2-2.2B-Instruct/reconstructed/generation_config.json", 49279},
  };
  for (const auto& [file, eos] : kEos) {
    SCOPED_TRACE(file);
    const GenerationConfig g = load_generation_config(refcfg(file));
    EXPECT_EQ(g.eos_token_id, std::vector<int64_t>{eos});
    EXPECT_EQ(g.bos_token_id, std::optional<int64_t>(0));
    EXPECT_EQ(g.pad_token_id, std::optional<int64_t>(2));
    EXPECT_FALSE(g.do_sample);
    EXPECT_EQ(g.max_length, 20);
  }
  const GenerationConfig list = parse_generation_config(R"({"eos_token_id": [49279, 2], "max_new_tokens": 64})", "g.json");
  EXPECT_EQ(list.eos_token_id, (std::vector<int64_t>{49279, 2}));
  EXPECT_EQ(list.max_new_tokens, std::optional<int64_t>(64));
  EXPECT_FALSE(parse_generation_config("{}", "g.json").max_new_tokens.has_value());
  try {
    parse_generation_config(R"({"eos_token_id": "x"})", "gen.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("gen.json"));
    EXPECT_THAT(e.what(), HasSubstr("eos_token_id"));
  }
}

TEST(Config, PreprocessorAndProcessorConfigs) {
  const PreprocessorConfig p256 = load_preprocessor_config(refcfg("SmolVLM-256M-Instruct/preprocessor_config.json"));
  EXPECT_EQ(p256.size.longest_edge, 2048);
  EXPECT_EQ(p256.max_image_size.longest_edge, 512);
  EXPECT_EQ(p256.resample, 1);
  EXPECT_TRUE(p256.do_image_splitting);
  EXPECT_DOUBLE_EQ(p256.rescale_factor, 0.00392156862745098);
  EXPECT_EQ(p256.image_mean, (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_EQ(p256.image_std, (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_EQ(p256.image_processor_type, "Idefics3ImageProcessor");
  EXPECT_FALSE(p256.video_sampling.has_value());

  const PreprocessorConfig p22 = load_preprocessor_config(refcfg("SmolVLM2-2.2B-Instruct/reconstructed/preprocessor_config.json"));
  EXPECT_EQ(p22.size.longest_edge, 1536);
  EXPECT_EQ(p22.max_image_size.longest_edge, 384);
  ASSERT_TRUE(p22.video_sampling.has_value());
  EXPECT_DOUBLE_EQ(p22.video_sampling->fps, 1.0);
  EXPECT_EQ(p22.video_sampling->max_frames, 64);
  EXPECT_EQ(p22.video_sampling->video_size.longest_edge, 384);

  // Class defaults (spec 4.1): L 1456, M 364.
  const PreprocessorConfig d = parse_preprocessor_config("{}", "p.json");
  EXPECT_EQ(d.size.longest_edge, 1456);
  EXPECT_EQ(d.max_image_size.longest_edge, 364);
  EXPECT_TRUE(d.do_convert_rgb && d.do_resize && d.do_rescale && d.do_normalize && d.do_pad && d.do_image_splitting);

  for (const char* bad : {R"({"size": {"height": 3}})", R"({"size": {"longest_edge": 0}})", R"({"image_std": [0.5, 0]})",
                          R"({"resample": "lanczos"})", R"({"video_sampling": {"max_frames": -1}})"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(parse_preprocessor_config(bad, "p.json"), ConfigError);
  }

  for (const Published& p : kPublished) {
    const std::string path = refcfg(std::string(p.dir) + "/processor_config.json");
    if (!std::ifstream(path)) continue;  // SmolVLM-Instruct has none stored
    SCOPED_TRACE(path);
    EXPECT_EQ(load_processor_config(path).image_seq_len, p.image_seq_len);
  }
  EXPECT_EQ(parse_processor_config("{}", "x").image_seq_len, 169);
}

// Trimmed copies: a missing key takes the transformers class default.
class TrimmedConfig : public ::testing::Test {
 protected:
  json full_ = json::parse(util::read_file(refcfg("SmolVLM2-2.2B-Instruct/reconstructed/config.json")));
  ModelConfig parse(const json& j) { return parse_model_config(j.dump(), "trimmed.json"); }
};

TEST_F(TrimmedConfig, TextDefaultsAreLlamas) {
  json j = full_;
  // SmolVLM2-2.2B's real file has no num_attention_heads (spec pitfall 14).
  for (const char* k : {"num_attention_heads", "num_key_value_heads", "head_dim"}) j["text_config"].erase(k);
  ModelConfig c = parse(j);
  EXPECT_EQ(c.text_config.num_attention_heads, 32);
  EXPECT_EQ(c.text_config.num_key_value_heads, 32);
  EXPECT_EQ(c.text_config.head_dim, 2048 / 32);

  j["text_config"]["num_attention_heads"] = 16;  // kv follows heads, head_dim = hidden / heads
  c = parse(j);
  EXPECT_EQ(c.text_config.num_key_value_heads, 16);
  EXPECT_EQ(c.text_config.head_dim, 128);
  j["text_config"]["num_key_value_heads"] = nullptr;
  EXPECT_EQ(parse(j).text_config.num_key_value_heads, 16);

  json k = full_;
  for (const char* key : {"num_hidden_layers", "rms_norm_eps", "rope_theta", "max_position_embeddings", "vocab_size",
                          "intermediate_size", "hidden_act", "tie_word_embeddings", "pad_token_id", "eos_token_id"}) {
    k["text_config"].erase(key);
  }
  k["image_token_id"] = 10;  // inside the default vocabulary of 32000
  c = parse(k);
  EXPECT_EQ(c.text_config.num_hidden_layers, 32);
  EXPECT_DOUBLE_EQ(c.text_config.rms_norm_eps, 1e-6);  // Llama's default, not SmolVLM's 1e-5
  EXPECT_DOUBLE_EQ(c.text_config.rope_theta, 10000.0);
  EXPECT_EQ(c.text_config.max_position_embeddings, 2048);
  EXPECT_EQ(c.text_config.vocab_size, 32000);
  EXPECT_EQ(c.text_config.intermediate_size, 11008);
  EXPECT_EQ(c.text_config.hidden_act, "silu");
  EXPECT_FALSE(c.text_config.tie_word_embeddings);
  EXPECT_FALSE(c.text_config.pad_token_id.has_value());
  EXPECT_EQ(c.text_config.eos_token_id, std::vector<int64_t>{2});
}

TEST_F(TrimmedConfig, NoTextConfigUsesIdefics3Fallback) {
  json j = full_;
  j.erase("text_config");
  j["image_token_id"] = 7;
  j["pad_token_id"] = 5;
  const ModelConfig c = parse(j);
  EXPECT_EQ(c.text_config.hidden_size, 4096);
  EXPECT_DOUBLE_EQ(c.text_config.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.text_config.pad_token_id, std::optional<int64_t>(5));
}

TEST_F(TrimmedConfig, VisionAndTopLevelDefaults) {
  json j = full_;
  j["vision_config"] = json::object();
  j["scale_factor"] = 7;  // the default 224/32 grid has 7 patches per side
  const ModelConfig c = parse(j);
  const VisionConfig& v = c.vision_config;
  EXPECT_EQ(v.hidden_size, 1152);
  EXPECT_EQ(v.intermediate_size, 3072);
  EXPECT_EQ(v.num_hidden_layers, 12);
  EXPECT_EQ(v.num_attention_heads, 16);
  EXPECT_EQ(v.num_channels, 3);
  EXPECT_EQ(v.image_size, 224);
  EXPECT_EQ(v.patch_size, 32);
  EXPECT_EQ(v.hidden_act, "gelu_pytorch_tanh");
  EXPECT_DOUBLE_EQ(v.layer_norm_eps, 1e-6);
  EXPECT_EQ(c.image_seq_len(), 1);

  json k = json::parse(util::read_file(refcfg("SmolVLM-256M-Instruct/config.json")));
  for (const char* key : {"scale_factor", "image_token_id", "pad_token_id", "tie_word_embeddings"}) k.erase(key);
  k["text_config"]["vocab_size"] = 128260;  // so the default image_token_id 128257 is valid
  const ModelConfig d = parse(k);
  EXPECT_EQ(d.scale_factor, 2);
  EXPECT_EQ(d.image_token_id, 128257);
  EXPECT_EQ(d.pad_token_id, std::optional<int64_t>(128002));
  EXPECT_FALSE(d.tie_word_embeddings);
  EXPECT_EQ(d.image_seq_len(), 32 * 32 / 4);
}

struct Malformed {
  const char* label;
  std::function<void(json&)> edit;
  std::vector<std::string> parts;
};

TEST_F(TrimmedConfig, MalformedValuesAreClearErrors) {
  const std::vector<Malformed> cases = {
      {"string size", [](json& j) { j["text_config"]["hidden_size"] = "2048"; }, {"text_config.hidden_size", "positive integer", "\"2048\""}},
      {"negative", [](json& j) { j["vision_config"]["num_hidden_layers"] = -1; }, {"vision_config.num_hidden_layers", "-1"}},
      {"zero", [](json& j) { j["text_config"]["intermediate_size"] = 0; }, {"text_config.intermediate_size"}},
      {"float int", [](json& j) { j["text_config"]["vocab_size"] = 49280.5; }, {"text_config.vocab_size"}},
      {"vision heads", [](json& j) { j["vision_config"]["num_attention_heads"] = 7; }, {"vision_config.hidden_size", "not divisible", "7"}},
      {"kv heads", [](json& j) { j["text_config"]["num_key_value_heads"] = 5; }, {"text_config.num_attention_heads", "num_key_value_heads"}},
      {"text heads without head_dim",
       [](json& j) {
         j["text_config"].erase("head_dim");
         j["text_config"]["num_attention_heads"] = 30;
         j["text_config"]["num_key_value_heads"] = 30;
       },
       {"text_config.hidden_size", "not divisible", "30"}},
      {"scale factor", [](json& j) { j["scale_factor"] = 4; }, {"scale_factor", "27"}},
      {"model type", [](json& j) { j["model_type"] = "llava"; }, {"model_type", "llava"}},
      {"no model type", [](json& j) { j.erase("model_type"); }, {"model_type"}},
      {"text model type", [](json& j) { j["text_config"]["model_type"] = "mistral"; }, {"text_config.model_type", "mistral"}},
      {"rope scaling", [](json& j) { j["text_config"]["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}}; }, {"rope_scaling"}},
      {"eps", [](json& j) { j["text_config"]["rms_norm_eps"] = -1e-5; }, {"text_config.rms_norm_eps"}},
      {"bool", [](json& j) { j["tie_word_embeddings"] = "false"; }, {"tie_word_embeddings", "true or false"}},
      {"image token", [](json& j) { j["image_token_id"] = 49280; }, {"image_token_id", "49280"}},
      {"vision not object", [](json& j) { j["vision_config"] = 3; }, {"vision_config", "an object"}},
      {"patch larger than image", [](json& j) { j["vision_config"]["patch_size"] = 400; }, {"vision_config.patch_size"}},
  };
  for (const Malformed& m : cases) {
    SCOPED_TRACE(m.label);
    json j = full_;
    m.edit(j);
    try {
      parse(j);
      ADD_FAILURE() << "accepted";
    } catch (const ConfigError& e) {
      EXPECT_THAT(e.what(), HasSubstr("trimmed.json"));
      for (const std::string& p : m.parts) EXPECT_THAT(e.what(), HasSubstr(p));
    }
  }
  EXPECT_THROW(parse_model_config("{\"model_type\": ", "x.json"), ConfigError);
  EXPECT_THROW(parse_model_config("[]", "x.json"), ConfigError);
}

TEST(Config, ModelFilesErrors) {
  test::TempDir tmp;
  EXPECT_THROW(ModelFiles::load(tmp.file("missing")), ConfigError);
  try {
    ModelFiles::load(tmp.path());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("config.json"));
  }
  test::write_file(tmp.file("config.json"), util::read_file(refcfg("SmolVLM-256M-Instruct/config.json")));
  try {
    ModelFiles::load(tmp.path());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("no weights"));
  }
  const ModelFiles f = ModelFiles::load(tmp.path(), /*require_weights=*/false);
  EXPECT_TRUE(f.weight_files.empty());
  EXPECT_FALSE(f.has_generation_config);
  // Processor files that disagree with the network.
  test::write_file(tmp.file("processor_config.json"), R"({"image_seq_len": 81})");
  try {
    ModelFiles::load(tmp.path(), false);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("image_seq_len 81"));
    EXPECT_THAT(e.what(), HasSubstr("64"));
  }
  test::write_file(tmp.file("processor_config.json"), R"({"image_seq_len": 64})");
  test::write_file(tmp.file("preprocessor_config.json"), R"({"max_image_size": {"longest_edge": 384}})");
  try {
    ModelFiles::load(tmp.path(), false);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("384"));
    EXPECT_THAT(e.what(), HasSubstr("512"));
  }
  test::write_file(tmp.file("preprocessor_config.json"), R"({"max_image_size": {"longest_edge": 512}})");
  EXPECT_NO_THROW(ModelFiles::load(tmp.path(), false));
  test::write_file(tmp.file("model.safetensors.index.json"), R"({"weight_map": {"a": "model-1.safetensors"}})");
  try {
    ModelFiles::load(tmp.path());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("model-1.safetensors"));
  }
}

}  // namespace
}  // namespace smolvid::model
