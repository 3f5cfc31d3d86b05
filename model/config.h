// model/config.h: typed mirrors of the Hugging Face model files of SmolVLM (model_type
// "idefics3", Idefics3Config) and SmolVLM2 ("smolvlm", SmolVLMConfig). Field names are the JSON
// keys. A key missing from a file takes the transformers class default written beside the field
// (the real SmolVLM2 files write only non-default keys). Torch-free.
//
//   smolvid::model::ModelFiles files = smolvid::model::ModelFiles::load("/models/SmolVLM2-256M-Video-Instruct");
//   const TextConfig& t = files.config.text_config;      // t.num_key_value_heads == 3
//   files.generation.eos_token_id                        // {49279}
//   files.preprocessor->max_image_size.longest_edge      // 512
//
// Every parse error throws ConfigError naming the file, the key path ("text_config.hidden_size"),
// and expected vs got. Validation: positive sizes, heads dividing the hidden size (vision; text
// when head_dim is absent), KV heads dividing attention heads, the patch grid divisible by the
// connector scale_factor, image_token_id inside the vocabulary, rope_scaling null.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace smolvid::model {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ModelFamily {
  kIdefics3,  // model_type "idefics3": SmolVLM v1 (SmolVLM-256M/500M-Instruct, SmolVLM-Instruct)
  kSmolVLM,   // model_type "smolvlm": SmolVLM2
};

// vision_config (Idefics3VisionConfig / SmolVLMVisionConfig; identical defaults).
struct VisionConfig {
  std::string model_type;                        // "idefics3", "smolvlm_vision", ... (informational)
  int64_t hidden_size = 1152;
  int64_t intermediate_size = 3072;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 16;
  int64_t num_channels = 3;
  int64_t image_size = 224;
  int64_t patch_size = 32;
  std::string hidden_act = "gelu_pytorch_tanh";
  double layer_norm_eps = 1e-6;
  double attention_dropout = 0.0;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t patches_per_side() const { return image_size / patch_size; }    // 32 (256M), 27 (2.2B)
  int64_t num_positions() const { return patches_per_side() * patches_per_side(); }
};

// text_config (LlamaConfig defaults; note rms_norm_eps 1e-6 here vs 1e-5 in every SmolVLM file).
struct TextConfig {
  std::string model_type = "llama";
  int64_t vocab_size = 32000;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 11008;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 32;   // default: num_attention_heads
  int64_t head_dim = 128;             // default: hidden_size / num_attention_heads
  std::string hidden_act = "silu";
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;        // rope_scaling must be null (the only kind supported)
  bool attention_bias = false;
  bool mlp_bias = false;
  double attention_dropout = 0.0;
  bool tie_word_embeddings = false;
  std::optional<int64_t> pad_token_id;  // default None
  std::optional<int64_t> bos_token_id = 1;
  std::vector<int64_t> eos_token_id = {2};  // int or list in the file

  int64_t q_size() const { return num_attention_heads * head_dim; }    // q_proj out features
  int64_t kv_size() const { return num_key_value_heads * head_dim; }   // k_proj / v_proj out features
};

// config.json top level (Idefics3Config / SmolVLMConfig).
struct ModelConfig {
  std::string model_type;               // "idefics3" or "smolvlm"
  ModelFamily family = ModelFamily::kIdefics3;
  std::vector<std::string> architectures;
  int64_t image_token_id = 128257;
  int64_t scale_factor = 2;
  bool tie_word_embeddings = false;
  bool use_cache = true;
  std::optional<int64_t> pad_token_id = 128002;
  std::string torch_dtype;              // "bfloat16", "float32", ... ("" when absent)
  VisionConfig vision_config;
  TextConfig text_config;

  // Connector geometry: Linear(vision hidden * scale_factor^2 -> text hidden), and the number of
  // image tokens one tile becomes (64 for 256M/500M, 81 for 2.2B).
  int64_t connector_input_size() const { return vision_config.hidden_size * scale_factor * scale_factor; }
  int64_t image_seq_len() const { return vision_config.num_positions() / (scale_factor * scale_factor); }
};

// generation_config.json (GenerationConfig defaults).
struct GenerationConfig {
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_id;    // int or list in the file; empty when absent
  std::optional<int64_t> pad_token_id;
  bool do_sample = false;
  double temperature = 1.0;
  int64_t top_k = 50;
  double top_p = 1.0;
  double repetition_penalty = 1.0;
  int64_t max_length = 20;
  std::optional<int64_t> max_new_tokens;
};

struct LongestEdge {
  int64_t longest_edge = 0;
};

// preprocessor_config.json "video_sampling" (SmolVLM2 only).
struct VideoSampling {
  double fps = 1.0;
  int64_t max_frames = 64;
  LongestEdge video_size{512};
};

// preprocessor_config.json (Idefics3ImageProcessor / SmolVLMImageProcessor defaults).
struct PreprocessorConfig {
  std::string image_processor_type;
  std::string processor_class;
  bool do_convert_rgb = true;
  bool do_resize = true;
  LongestEdge size{4 * 364};            // resize target for the longest edge (L)
  int64_t resample = 1;                 // PIL code: 1 = LANCZOS
  bool do_image_splitting = true;
  LongestEdge max_image_size{364};      // tile size (M)
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::vector<double> image_mean = {0.5, 0.5, 0.5};
  std::vector<double> image_std = {0.5, 0.5, 0.5};
  bool do_pad = true;
  std::optional<VideoSampling> video_sampling;
};

// processor_config.json (Idefics3Processor / SmolVLMProcessor).
struct ProcessorConfig {
  std::string processor_class;
  int64_t image_seq_len = 169;
};

// Parsers. `text` is the file content, `source` names it in messages (usually the path).
ModelConfig parse_model_config(const std::string& text, const std::string& source);
GenerationConfig parse_generation_config(const std::string& text, const std::string& source);
PreprocessorConfig parse_preprocessor_config(const std::string& text, const std::string& source);
ProcessorConfig parse_processor_config(const std::string& text, const std::string& source);

// The same, reading a file (ConfigError when it cannot be read).
ModelConfig load_model_config(const std::string& path);
GenerationConfig load_generation_config(const std::string& path);
PreprocessorConfig load_preprocessor_config(const std::string& path);
ProcessorConfig load_processor_config(const std::string& path);

// The tensor names and shapes a checkpoint with this config holds (the layout of spec section 2,
// sorted by name; lm_head.weight omitted when tie_word_embeddings is set). Lets a loader or test
// check a weight file against the config before building the network.
struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
};
std::vector<ExpectedTensor> expected_checkpoint_tensors(const ModelConfig& config);

// A model directory as published on the Hub (or written by `debug random-checkpoint`).
struct ModelFiles {
  std::string dir;
  ModelConfig config;                                // config.json (required)
  GenerationConfig generation;                       // generation_config.json (defaults if absent)
  bool has_generation_config = false;
  std::optional<PreprocessorConfig> preprocessor;    // preprocessor_config.json
  std::optional<ProcessorConfig> processor;          // processor_config.json
  // Paths of the files found in `dir` ("" when absent).
  std::string tokenizer_json;                        // tokenizer.json
  std::string tokenizer_config_json;                 // tokenizer_config.json
  std::string chat_template_json;                    // chat_template.json
  std::string special_tokens_map_json;               // special_tokens_map.json
  std::string added_tokens_json;                     // added_tokens.json
  std::string vocab_json;                            // vocab.json (slow GPT-2 tokenizers: the golden tiny models)
  std::string merges_txt;                            // merges.txt
  std::string weights_index;                         // model.safetensors.index.json
  std::vector<std::string> weight_files;             // model.safetensors, or the shards named by the index

  // Throws ConfigError when `dir` is not a directory, config.json is missing or malformed, a
  // present file is malformed, processor_config image_seq_len or preprocessor_config
  // max_image_size.longest_edge disagree with config.json, or no weights (model.safetensors or an
  // index whose shards exist) are present and `require_weights` is set.
  static ModelFiles load(const std::string& dir, bool require_weights = true);
};

}  // namespace smolvid::model
