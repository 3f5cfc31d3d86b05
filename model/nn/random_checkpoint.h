// model/nn/random_checkpoint.h: writes a model directory with random weights laid out exactly like
// a real checkpoint (names, shapes, dtype, shards), for loader tests and full-size benchmarks.
//
//   smolvid::model::RandomCheckpointOptions o;
//   o.config_path = ".../SmolVLM-256M-Instruct/config.json";
//   o.tensors_path = ".../SmolVLM-256M-Instruct/tensors.json";
//   o.out_dir = "/tmp/smolvlm-256m-random";
//   smolvid::model::write_random_checkpoint(o);   // then ModelFiles::load / WeightStore on out_dir
//
// The layout comes from a tensors.json (format: shared/reference/configs/README.md). Before
// writing, the tensor list is checked against the shapes the config implies
// (expected_checkpoint_tensors), so a config/tensors mismatch is an error, not a broken model.
// Data is streamed tensor by tensor (memory stays small even for the 9 GB layouts). Values are
// deterministic in (seed, tensor name), independent of order and shards: matrices
// N(0,1)/sqrt(fan_in), 1-D ".weight" tensors (norm gains) 1 + 0.1 N(0,1), biases 0.02 N(0,1),
// token embeddings N(0,1), vision position embeddings 0.5 N(0,1). float32 -> bfloat16 rounds to
// nearest even. config.json and the other model files next to it are copied byte for byte.
// Torch-free (lives in model/nn because only the network's tests and benchmarks need it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/safetensors.h"

namespace smolvid::model {

// shared/reference/configs/*/tensors.json
struct TensorListShard {
  std::string file;                 // "model.safetensors" or "model-00001-of-00002.safetensors"
  std::vector<std::string> tensors; // names in this shard (all tensors when there is one shard)
  int64_t data_bytes = 0;
  int64_t header_json_bytes = 0;
  int64_t header_bytes_padded = 0;
  int64_t file_bytes = 0;
};
struct TensorList {
  std::string checkpoint;
  DType dtype = DType::kF32;        // stored dtype of every tensor
  int64_t parameter_count = 0;
  std::vector<TensorSpec> tensors;  // in file order (byte-sorted names)
  std::vector<TensorListShard> shards;
};
TensorList read_tensor_list(const std::string& path);  // throws SafetensorsError on bad content

struct RandomCheckpointOptions {
  std::string config_path;            // config.json (real or reconstructed)
  std::string tensors_path;           // tensors.json
  std::string out_dir;                // created if missing; files in it are overwritten
  std::optional<DType> dtype;         // kBF16 or kF32; default: the dtype of tensors.json
  uint64_t seed = 0;
  bool zeros = false;                 // all-zero data written as sparse files (layout tests: no disk, instant)
  std::string extra_files_dir;        // model files missing next to the config are copied from here ("" = none)
};

struct RandomCheckpointResult {
  std::vector<std::string> weight_files;  // paths written (shards in order)
  std::string index_file;                  // model.safetensors.index.json, "" for one file
  std::vector<std::string> copied_files;   // paths of the copied model files
  int64_t tensor_count = 0;
  int64_t parameter_count = 0;
  uint64_t data_bytes = 0;
};

RandomCheckpointResult write_random_checkpoint(const RandomCheckpointOptions& options);

// The model files copied next to the weights (when present).
const std::vector<std::string>& model_side_files();

}  // namespace smolvid::model
