// Fuzzes the Hugging Face config parsers (model/config.h): config.json, generation_config.json,
// preprocessor_config.json, processor_config.json. Each either parses (then the checkpoint layout
// derived from a model config must be computable without allocating anything absurd) or throws
// ConfigError.
#include <string>

#include "model/config.h"
#include "tests/fuzz/fuzz_util.h"

using namespace smolvid::model;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const ModelConfig config = parse_model_config(text, "config.json");
    const std::vector<ExpectedTensor> tensors = expected_checkpoint_tensors(config);
    FUZZ_CHECK(!tensors.empty(), "a valid config expects no tensors");
    for (const ExpectedTensor& t : tensors) {
      for (int64_t d : t.shape) FUZZ_CHECK(d > 0, "tensor %s has a non-positive dimension", t.name.c_str());
    }
  } catch (const ConfigError&) {
  }
  try {
    parse_generation_config(text, "generation_config.json");
  } catch (const ConfigError&) {
  }
  try {
    parse_preprocessor_config(text, "preprocessor_config.json");
  } catch (const ConfigError&) {
  }
  try {
    parse_processor_config(text, "processor_config.json");
  } catch (const ConfigError&) {
  }
  return 0;
}
