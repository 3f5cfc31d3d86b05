// model/nn/random_checkpoint.cpp: see random_checkpoint.h.
#include "model/nn/random_checkpoint.h"

#include <fmt/core.h>
#include <fmt/ranges.h>  // fmt::join (declared here in newer fmt, e.g. the copy bundled with libtorch 2.x)
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "model/config.h"
#include "util/file.h"

namespace smolvid::model {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// xoshiro256** with Box-Muller normals.
class Normal {
 public:
  explicit Normal(uint64_t seed) {
    for (uint64_t& v : s_) v = splitmix64(seed);
  }
  float next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u1 = (static_cast<double>(bits() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    const double u2 = static_cast<double>(bits() >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double a = 6.283185307179586 * u2;
    spare_ = static_cast<float>(r * std::sin(a));
    has_spare_ = true;
    return static_cast<float>(r * std::cos(a));
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t bits() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  uint64_t s_[4];
  float spare_ = 0;
  bool has_spare_ = false;
};

uint16_t float_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // NaN stays NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// value = mean + scale * N(0,1)
struct Init {
  float mean;
  float scale;
};

Init init_for(const TensorSpec& t) {
  if (ends_with(t.name, ".bias")) return {0.0f, 0.02f};
  if (t.shape.size() == 1) return {1.0f, 0.1f};  // norm gains
  if (ends_with(t.name, "embed_tokens.weight")) return {0.0f, 1.0f};
  if (ends_with(t.name, "position_embedding.weight")) return {0.0f, 0.5f};
  int64_t fan_in = 1;
  for (size_t i = 1; i < t.shape.size(); ++i) fan_in *= t.shape[i];
  return {0.0f, static_cast<float>(1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(fan_in, 1))))};
}

void write_random_tensor(SafetensorsWriter& w, const TensorSpec& t, uint64_t seed) {
  constexpr int64_t kChunk = 1 << 20;
  Normal rng(seed ^ fnv1a(t.name));
  const Init init = init_for(t);
  const int64_t n = t.numel();
  std::vector<float> values(static_cast<size_t>(std::min(n, kChunk)));
  std::vector<uint16_t> half(t.dtype == DType::kBF16 ? values.size() : 0);
  for (int64_t done = 0; done < n; done += kChunk) {
    const size_t m = static_cast<size_t>(std::min(kChunk, n - done));
    for (size_t i = 0; i < m; ++i) values[i] = init.mean + init.scale * rng.next();
    if (t.dtype == DType::kBF16) {
      for (size_t i = 0; i < m; ++i) half[i] = float_to_bf16(values[i]);
      w.write(half.data(), m * 2);
    } else {
      w.write(values.data(), m * 4);
    }
  }
}

int64_t get_int(const json& j, const char* key, const std::string& source) {
  if (!j.contains(key) || !j[key].is_number_integer()) {
    throw SafetensorsError(fmt::format("{}: \"{}\" missing or not an integer", source, key));
  }
  return j[key].get<int64_t>();
}

std::string shape_text(const std::vector<int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

// A tokenizer.json copied into the directory must fit the config: every added token inside the
// vocabulary and "<image>" at image_token_id (the SmolVLM-Instruct 2.2B v1 tokenizer differs
// from the shared one, so copying the wrong file is an easy mistake).
void check_tokenizer_fits(const std::string& path, const ModelConfig& config, const std::string& config_path) {
  json j;
  try {
    j = json::parse(util::read_file(path));
  } catch (const json::parse_error& e) {
    throw SafetensorsError(fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
  if (!j.contains("added_tokens") || !j["added_tokens"].is_array()) return;  // nothing to compare
  std::optional<int64_t> image_id;
  for (const json& t : j["added_tokens"]) {
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer()) continue;
    const int64_t id = t["id"].get<int64_t>();
    const std::string content = t.value("content", std::string());
    if (id >= config.text_config.vocab_size) {
      throw SafetensorsError(fmt::format("{}: added token \"{}\" has id {}, outside the vocabulary of {} ({}); wrong tokenizer for this config?",
                                         path, content, id, config.text_config.vocab_size, config_path));
    }
    if (content == "<image>") image_id = id;
  }
  if (image_id && *image_id != config.image_token_id) {
    throw SafetensorsError(fmt::format("{}: \"<image>\" is token {} but {} has image_token_id {}; wrong tokenizer for this config?",
                                       path, *image_id, config_path, config.image_token_id));
  }
}

}  // namespace

const std::vector<std::string>& model_side_files() {
  static const std::vector<std::string> kFiles = {
      "generation_config.json", "preprocessor_config.json", "processor_config.json", "chat_template.json",
      "tokenizer.json",         "tokenizer_config.json",    "special_tokens_map.json", "added_tokens.json",
      "vocab.json",             "merges.txt",
  };
  return kFiles;
}

TensorList read_tensor_list(const std::string& path) {
  json j;
  try {
    j = json::parse(util::read_file(path));
  } catch (const json::parse_error& e) {
    throw SafetensorsError(fmt::format("{}: not valid JSON: {}", path, e.what()));
  } catch (const util::FileError& e) {
    throw SafetensorsError(e.what());
  }
  if (!j.is_object() || !j.contains("tensors") || !j["tensors"].is_array() || !j.contains("shards") ||
      !j["shards"].is_array() || j["shards"].empty() || !j.contains("dtype") || !j["dtype"].is_string()) {
    throw SafetensorsError(fmt::format("{}: not a tensor list (needs \"dtype\", \"shards\", \"tensors\")", path));
  }
  TensorList list;
  list.checkpoint = j.value("checkpoint", std::string());
  list.dtype = dtype_from_name(j["dtype"].get<std::string>());
  if (j.contains("parameter_count")) list.parameter_count = get_int(j, "parameter_count", path);
  std::set<std::string> names;
  for (const json& t : j["tensors"]) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("shape") || !t["shape"].is_array()) {
      throw SafetensorsError(fmt::format("{}: tensor entry {} needs \"name\" and \"shape\"", path, t.dump()));
    }
    TensorSpec s;
    s.name = t["name"].get<std::string>();
    s.dtype = list.dtype;
    for (const json& d : t["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) throw SafetensorsError(fmt::format("{}: tensor \"{}\" has a bad shape", path, s.name));
      s.shape.push_back(d.get<int64_t>());
    }
    if (!names.insert(s.name).second) throw SafetensorsError(fmt::format("{}: tensor \"{}\" listed twice", path, s.name));
    list.tensors.push_back(std::move(s));
  }
  std::set<std::string> assigned;
  for (const json& sh : j["shards"]) {
    if (!sh.is_object() || !sh.contains("file") || !sh["file"].is_string()) {
      throw SafetensorsError(fmt::format("{}: shard entry without \"file\"", path));
    }
    TensorListShard shard;
    shard.file = sh["file"].get<std::string>();
    if (shard.file.empty() || shard.file.find('/') != std::string::npos) {
      throw SafetensorsError(fmt::format("{}: shard file \"{}\" is not a plain file name", path, shard.file));
    }
    for (const char* key : {"data_bytes", "header_json_bytes", "header_bytes_padded", "file_bytes"}) {
      if (sh.contains(key)) {
        const int64_t v = get_int(sh, key, path);
        if (std::string(key) == "data_bytes") shard.data_bytes = v;
        else if (std::string(key) == "header_json_bytes") shard.header_json_bytes = v;
        else if (std::string(key) == "header_bytes_padded") shard.header_bytes_padded = v;
        else shard.file_bytes = v;
      }
    }
    if (sh.contains("tensors")) {
      for (const json& n : sh["tensors"]) {
        if (!n.is_string() || names.count(n.get<std::string>()) == 0) {
          throw SafetensorsError(fmt::format("{}: shard {} lists {}, which is not in \"tensors\"", path, shard.file, n.dump()));
        }
        if (!assigned.insert(n.get<std::string>()).second) {
          throw SafetensorsError(fmt::format("{}: tensor {} is in more than one shard", path, n.dump()));
        }
        shard.tensors.push_back(n.get<std::string>());
      }
    } else if (j["shards"].size() == 1) {
      for (const TensorSpec& t : list.tensors) shard.tensors.push_back(t.name);
      for (const TensorSpec& t : list.tensors) assigned.insert(t.name);
    } else {
      throw SafetensorsError(fmt::format("{}: shard {} has no \"tensors\" list but there are several shards", path, shard.file));
    }
    list.shards.push_back(std::move(shard));
  }
  if (assigned.size() != list.tensors.size()) {
    for (const TensorSpec& t : list.tensors) {
      if (assigned.count(t.name) == 0) throw SafetensorsError(fmt::format("{}: tensor \"{}\" is in no shard", path, t.name));
    }
  }
  return list;
}

RandomCheckpointResult write_random_checkpoint(const RandomCheckpointOptions& options) {
  const ModelConfig config = load_model_config(options.config_path);
  TensorList list = read_tensor_list(options.tensors_path);
  const DType dtype = options.dtype.value_or(list.dtype);
  if (dtype != DType::kBF16 && dtype != DType::kF32) {
    throw SafetensorsError(fmt::format("random checkpoint: dtype must be BF16 or F32, got {}", dtype_name(dtype)));
  }

  // The tensor list must be exactly what the config describes.
  const std::vector<ExpectedTensor> expected = expected_checkpoint_tensors(config);
  std::map<std::string, const TensorSpec*> by_name;
  for (const TensorSpec& t : list.tensors) by_name[t.name] = &t;
  for (const ExpectedTensor& e : expected) {
    auto it = by_name.find(e.name);
    if (it == by_name.end()) {
      throw SafetensorsError(fmt::format("{}: config {} implies tensor \"{}\" {}, which the tensor list lacks",
                                         options.tensors_path, options.config_path, e.name, shape_text(e.shape)));
    }
    if (it->second->shape != e.shape) {
      throw SafetensorsError(fmt::format("{}: tensor \"{}\" has shape {} but config {} implies {}", options.tensors_path,
                                         e.name, shape_text(it->second->shape), options.config_path, shape_text(e.shape)));
    }
  }
  if (expected.size() != list.tensors.size()) {
    std::set<std::string> known;
    for (const ExpectedTensor& e : expected) known.insert(e.name);
    for (const TensorSpec& t : list.tensors) {
      if (known.count(t.name) == 0) {
        throw SafetensorsError(fmt::format("{}: tensor \"{}\" is not part of the model config {} describes",
                                           options.tensors_path, t.name, options.config_path));
      }
    }
  }

  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec) throw SafetensorsError(fmt::format("{}: cannot create the output directory: {}", options.out_dir, ec.message()));

  RandomCheckpointResult result;
  std::map<std::string, std::string> weight_map;
  for (const TensorListShard& shard : list.shards) {
    std::vector<TensorSpec> specs;
    std::vector<std::string> sorted = shard.tensors;
    std::sort(sorted.begin(), sorted.end());
    for (const std::string& n : sorted) {
      TensorSpec s = *by_name.at(n);
      s.dtype = dtype;
      specs.push_back(std::move(s));
      weight_map[n] = shard.file;
    }
    const std::string path = options.out_dir + "/" + shard.file;
    SafetensorsWriter w(path, specs);
    if (!options.zeros) {
      for (const TensorSpec& s : specs) write_random_tensor(w, s, options.seed);
    }
    w.finish(options.zeros);
    for (const TensorSpec& s : specs) result.parameter_count += s.numel();
    result.tensor_count += static_cast<int64_t>(specs.size());
    result.data_bytes += w.data_bytes();
    result.weight_files.push_back(path);
  }

  // A stale index or single file from an earlier run with another layout would confuse loaders.
  const std::string index_path = options.out_dir + "/model.safetensors.index.json";
  if (list.shards.size() > 1) {
    json index;
    index["metadata"]["total_size"] = result.data_bytes;
    index["weight_map"] = weight_map;
    std::FILE* f = std::fopen(index_path.c_str(), "wb");
    if (f == nullptr) throw SafetensorsError(fmt::format("{}: cannot create: {}", index_path, std::strerror(errno)));
    const std::string text = index.dump(2) + "\n";
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (std::fclose(f) != 0 || !ok) throw SafetensorsError(fmt::format("{}: write failed", index_path));
    result.index_file = index_path;
  } else {
    fs::remove(index_path, ec);
  }

  const fs::path config_dir = fs::path(options.config_path).parent_path();
  const auto copy = [&](const fs::path& from, const std::string& name) {
    const std::string to = options.out_dir + "/" + name;
    if (fs::exists(to) && fs::equivalent(from, to)) return;
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
    if (ec) throw SafetensorsError(fmt::format("cannot copy {} to {}: {}", from.string(), to, ec.message()));
    result.copied_files.push_back(to);
  };
  copy(options.config_path, "config.json");
  for (const std::string& name : model_side_files()) {
    const fs::path here = config_dir / name;
    if (fs::is_regular_file(here)) {
      copy(here, name);
    } else if (!options.extra_files_dir.empty() && fs::is_regular_file(fs::path(options.extra_files_dir) / name)) {
      copy(fs::path(options.extra_files_dir) / name, name);
    }
  }
  const std::string tokenizer = options.out_dir + "/tokenizer.json";
  if (fs::exists(tokenizer)) check_tokenizer_fits(tokenizer, config, options.config_path);
  return result;
}

}  // namespace smolvid::model
