// model/nn/weights.h: checkpoint tensors looked up by name with their expected shape.
//
//   smolvid::model::WeightStore store("/models/SmolVLM-256M-Instruct", {at::kFloat});
//   at::Tensor w = store.take("lm_head.weight", {49280, 576});   // throws if missing / wrong shape
//   ...                                                            // take every tensor once
//   store.check_all_used();                                        // throws naming the leftovers
//
// The source is a model directory (model.safetensors.index.json preferred, else
// model.safetensors), one .safetensors file, or an .index.json file. Files are memory-mapped
// (see model/safetensors.h). take() returns the tensor in the requested dtype on the requested
// device. On CPU, when the stored dtype already is that dtype and the data is aligned, the result
// is a zero-copy view of the mapping that keeps the file mapped for as long as the tensor lives
// (the mapping is copy-on-write, so in-place ops are safe and never reach the file). Otherwise it
// is converted: BF16/F16/F32/F64 -> float32 or bfloat16 (float32 -> bfloat16 rounds to nearest
// even, as torch's .to(torch.bfloat16)); integer/bool tensors can be taken in their own dtype.
// After a conversion the tensor's file pages are released (SafetensorsFile::release_pages), so a
// converted checkpoint costs only the converted copy in resident memory.
// Errors throw WeightError naming the checkpoint and the tensor, with expected vs got.
// Not thread-safe (load from one thread).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/nn/kernels.h"

namespace smolvid::model {

class SafetensorsCheckpoint;

class WeightError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct WeightStoreOptions {
  c10::ScalarType dtype = c10::ScalarType::Float;  // compute dtype for floating-point tensors
  c10::Device device = c10::Device(c10::DeviceType::CPU);
};

class WeightStore {
 public:
  explicit WeightStore(const std::string& path, WeightStoreOptions options = {});
  ~WeightStore();
  WeightStore(const WeightStore&) = delete;
  WeightStore& operator=(const WeightStore&) = delete;

  // The tensor `name` in the compute dtype (floating-point tensors) or its stored dtype
  // (integer/bool tensors), on the store's device. Marks it used. Throws WeightError when the name
  // is missing or the shape differs from `expected_shape`.
  at::Tensor take(const std::string& name, const std::vector<int64_t>& expected_shape);
  // The same in an explicit dtype (e.g. float32 norms in a bfloat16 model).
  at::Tensor take(const std::string& name, const std::vector<int64_t>& expected_shape, c10::ScalarType dtype);
  // A floating-point matrix quantized to int8 (nn::kernels::quantize_int8) straight from the file
  // mapping, whose pages are then released: the checkpoint's copy never stays resident.
  nn::kernels::Int8Weight take_int8(const std::string& name, const std::vector<int64_t>& expected_shape);

  bool contains(const std::string& name) const;
  std::vector<int64_t> shape(const std::string& name) const;  // stored shape; throws when missing
  c10::ScalarType stored_dtype(const std::string& name) const;
  std::vector<std::string> names() const;                   // sorted
  std::vector<std::string> unused() const;                  // sorted names not taken yet
  void check_all_used() const;  // throws WeightError listing the tensors never taken

  const WeightStoreOptions& options() const { return options_; }
  const SafetensorsCheckpoint& checkpoint() const { return *checkpoint_; }
  int64_t zero_copy_count() const { return zero_copy_; }   // takes served without a copy
  int64_t converted_count() const { return converted_; }   // takes that copied/converted

 private:
  at::Tensor take_impl(const std::string& name, const std::vector<int64_t>& expected_shape, c10::ScalarType dtype);
  std::unique_ptr<SafetensorsCheckpoint> checkpoint_;
  WeightStoreOptions options_;
  std::set<std::string> used_;
  std::set<std::string> viewed_;  // handed out zero-copy: their pages must stay
  int64_t zero_copy_ = 0;
  int64_t converted_ = 0;
};

}  // namespace smolvid::model
