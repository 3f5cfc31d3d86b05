// model/nn/golden.h: runs a golden fixture folder (the ../shared/golden/tiny-* format: config.json +
// model.safetensors + cases.json + cases.safetensors) through SmolVLM and compares every stored
// tensor with what the C++ model computes.
//
//   smolvid::model::GoldenOptions opts;                     // float32, atol 1e-4
//   auto report = smolvid::model::run_golden("../shared/golden/tiny-smolvlm", opts);
//   for (const auto& row : report.rows) print(row.case_name, row.tensor, row.max_abs_diff, row.pass);
//   report.all_passed();
//
// What is compared (golden README section 1): patch_attention_mask, vision_last_hidden_state,
// image_hidden_states, vision_hidden_states.i on every element; inputs_embeds, logits (position
// ids 0..L-1), logits_posids_from_mask (position ids from the mask) and text_hidden_states.i only
// where attention_mask == 1; generated_ids (greedy, as many new tokens as stored, no eos) exactly.
// Any other stored tensor that is not a model input fails as "not compared".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace smolvid::model {

struct GoldenOptions {
  std::string dtype = "float32";  // model compute dtype: float32 | bfloat16
  double atol = 1e-4;             // max abs difference allowed for float tensors
  bool require_generated_ids = true;  // false: generated_ids mismatches are reported but pass
  int threads = -1;               // ModelOptions::threads (-1 = leave the thread settings alone)
  std::string device = "cpu";     // ModelOptions::device (inputs are moved there; results compared on the CPU)
};

struct GoldenComparison {
  std::string case_name;
  std::string tensor;          // the fixture's tensor name without the case prefix
  double max_abs_diff = 0;     // ids: number of differing tokens
  double tolerance = 0;
  bool pass = false;
  std::string detail;          // where the largest difference is (got vs expected), token agreement, ...
  std::vector<int64_t> leading_agreement;  // generated_ids: per batch row, tokens equal before the first difference
};

struct GoldenReport {
  std::string dir;
  std::string dtype;
  std::vector<GoldenComparison> rows;
  bool all_passed() const;
  int64_t failures() const;
};

// Throws (ConfigError / WeightError / ModelError / SafetensorsError / std::runtime_error) when the
// folder cannot be read; mismatches are reported in the rows, never thrown.
GoldenReport run_golden(const std::string& dir, const GoldenOptions& options = {});

}  // namespace smolvid::model
