// model/nn/weights.cpp: WeightStore (see weights.h).
#include "model/nn/weights.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <fmt/core.h>
#include <fmt/ranges.h>  // fmt::join (declared here in newer fmt, e.g. the copy bundled with libtorch 2.x)
#include <fmt/format.h>

#include <cstring>

#include "model/safetensors.h"

namespace smolvid::model {

namespace {

c10::ScalarType scalar_type_of(DType d) {
  switch (d) {
    case DType::kF64: return c10::ScalarType::Double;
    case DType::kF32: return c10::ScalarType::Float;
    case DType::kF16: return c10::ScalarType::Half;
    case DType::kBF16: return c10::ScalarType::BFloat16;
    case DType::kI64: return c10::ScalarType::Long;
    case DType::kI32: return c10::ScalarType::Int;
    case DType::kI16: return c10::ScalarType::Short;
    case DType::kI8: return c10::ScalarType::Char;
    case DType::kU8: return c10::ScalarType::Byte;
    case DType::kBool: return c10::ScalarType::Bool;
  }
  return c10::ScalarType::Undefined;
}

bool is_floating(c10::ScalarType t) {
  return t == c10::ScalarType::Float || t == c10::ScalarType::Double || t == c10::ScalarType::Half ||
         t == c10::ScalarType::BFloat16;
}

std::string shape_text(const std::vector<int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

}  // namespace

WeightStore::WeightStore(const std::string& path, WeightStoreOptions options) : options_(options) {
  if (!is_floating(options_.dtype)) {
    throw WeightError(fmt::format("{}: compute dtype must be a floating-point type, got {}", path, c10::toString(options_.dtype)));
  }
  try {
    checkpoint_ = std::make_unique<SafetensorsCheckpoint>(path);
  } catch (const SafetensorsError& e) {
    throw WeightError(e.what());
  }
}

WeightStore::~WeightStore() = default;

bool WeightStore::contains(const std::string& name) const { return checkpoint_->contains(name); }

std::vector<int64_t> WeightStore::shape(const std::string& name) const {
  if (!contains(name)) throw WeightError(fmt::format("{}: missing tensor \"{}\"", checkpoint_->description(), name));
  return checkpoint_->at(name).shape;
}

c10::ScalarType WeightStore::stored_dtype(const std::string& name) const {
  if (!contains(name)) throw WeightError(fmt::format("{}: missing tensor \"{}\"", checkpoint_->description(), name));
  return scalar_type_of(checkpoint_->at(name).dtype);
}

std::vector<std::string> WeightStore::names() const { return checkpoint_->names(); }

at::Tensor WeightStore::take(const std::string& name, const std::vector<int64_t>& expected_shape) {
  if (!contains(name)) {
    throw WeightError(fmt::format("{}: missing tensor \"{}\" (expected shape {})", checkpoint_->description(), name,
                                  shape_text(expected_shape)));
  }
  const c10::ScalarType stored = scalar_type_of(checkpoint_->at(name).dtype);
  return take(name, expected_shape, is_floating(stored) ? options_.dtype : stored);
}

at::Tensor WeightStore::take(const std::string& name, const std::vector<int64_t>& expected_shape, c10::ScalarType dtype) {
  return take_impl(name, expected_shape, dtype);
}

nn::kernels::Int8Weight WeightStore::take_int8(const std::string& name, const std::vector<int64_t>& expected_shape) {
  const bool viewed_before = viewed_.count(name) > 0;
  const c10::ScalarType stored = stored_dtype(name);
  const bool direct = stored == c10::ScalarType::Float || stored == c10::ScalarType::BFloat16;
  at::Tensor source = take_impl(name, expected_shape, direct ? stored : c10::ScalarType::Float);
  nn::kernels::Int8Weight q = nn::kernels::quantize_int8(source);
  source = at::Tensor();
  if (!viewed_before) {
    viewed_.erase(name);
    checkpoint_->shared_file_of(name)->release_pages(name);
  }
  return q;
}

at::Tensor WeightStore::take_impl(const std::string& name, const std::vector<int64_t>& expected_shape,
                                  c10::ScalarType dtype) {
  if (!contains(name)) {
    throw WeightError(fmt::format("{}: missing tensor \"{}\" (expected shape {})", checkpoint_->description(), name,
                                  shape_text(expected_shape)));
  }
  std::shared_ptr<const SafetensorsFile> file = checkpoint_->shared_file_of(name);
  const TensorView& view = file->at(name);
  if (view.shape != expected_shape) {
    throw WeightError(fmt::format("{}: tensor \"{}\" has shape {}, expected {}", file->path(), name, shape_text(view.shape),
                                  shape_text(expected_shape)));
  }
  const c10::ScalarType stored = scalar_type_of(view.dtype);
  if (is_floating(stored) != is_floating(dtype) || (!is_floating(dtype) && stored != dtype)) {
    throw WeightError(fmt::format("{}: tensor \"{}\" is stored as {} and cannot be taken as {}", file->path(), name,
                                  dtype_name(view.dtype), c10::toString(dtype)));
  }
  const size_t item = dtype_size(view.dtype);
  const bool aligned = reinterpret_cast<uintptr_t>(view.data) % item == 0;
  at::Tensor t;
  if (aligned) {
    // The deleter holds the file, so the mapping outlives every tensor viewing it.
    t = at::from_blob(const_cast<uint8_t*>(view.data), view.shape, [file](void*) {},
                      at::TensorOptions().dtype(stored).device(c10::kCPU));
  } else {
    t = at::empty(view.shape, at::TensorOptions().dtype(stored));
    std::memcpy(t.data_ptr(), view.data, view.nbytes);
  }
  const bool zero_copy = aligned && stored == dtype && options_.device.is_cpu();
  if (stored != dtype) t = t.to(dtype);
  if (!options_.device.is_cpu()) t = t.to(options_.device);
  // A converted tensor no longer needs its file pages: drop them so a float32 checkpoint loaded as
  // bfloat16 does not stay resident (unless an earlier take handed out a view of them).
  if (zero_copy) {
    viewed_.insert(name);
  } else if (viewed_.count(name) == 0) {
    file->release_pages(name);
  }
  used_.insert(name);
  ++(zero_copy ? zero_copy_ : converted_);
  return t;
}

std::vector<std::string> WeightStore::unused() const {
  std::vector<std::string> out;
  for (const std::string& n : checkpoint_->names()) {
    if (used_.count(n) == 0) out.push_back(n);
  }
  return out;
}

void WeightStore::check_all_used() const {
  const std::vector<std::string> left = unused();
  if (left.empty()) return;
  constexpr size_t kShow = 10;
  std::vector<std::string> shown;
  for (size_t i = 0; i < left.size() && i < kShow; ++i) {
    shown.push_back(fmt::format("\"{}\" {}", left[i], shape_text(checkpoint_->at(left[i]).shape)));
  }
  throw WeightError(fmt::format("{}: {} unused tensor{} (the model does not use them): {}{}", checkpoint_->description(),
                                left.size(), left.size() == 1 ? "" : "s", fmt::join(shown, ", "),
                                left.size() > kShow ? fmt::format(", ... ({} more)", left.size() - kShow) : ""));
}

}  // namespace smolvid::model
