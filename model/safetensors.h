// model/safetensors.h: a reader for the safetensors format, written against the format itself:
// 8-byte little-endian header length N, N bytes of JSON header {name: {dtype, shape,
// data_offsets: [begin, end]}, "__metadata__": {...}}, then the raw little-endian data.
// Plain C++ (no torch): the processor and tokenizer tests use it too.
//
//   smolvid::model::SafetensorsFile f("model.safetensors");   // mmaps, validates, throws
//   const smolvid::model::TensorView& w = f.at("lm_head.weight");
//   // w.dtype == DType::kBF16, w.shape == {49280, 576}, w.data points into the mapping
//
// Validation (each failure throws SafetensorsError naming the file and, where relevant, the
// tensor): header length vs file size, JSON syntax, known dtype, shape * element size equal to
// the byte range, ranges inside the data area, ranges non-overlapping.
// Ownership: TensorView::data points into the memory map owned by the SafetensorsFile; it stays
// valid while the SafetensorsFile (or a shared_ptr to it) lives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace smolvid::model {

class SafetensorsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

const char* dtype_name(DType dtype);          // "F32", "BF16", ... (the format's spelling)
size_t dtype_size(DType dtype);               // bytes per element
DType dtype_from_name(const std::string& s);  // throws SafetensorsError on unknown names

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the file mapping
  size_t nbytes = 0;
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorView& at(const std::string& name) const;  // throws naming the file and tensor
  std::vector<std::string> names() const;               // sorted
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // Copies of the data as host vectors, converting numeric dtypes (BF16/F16/F64/ints -> float;
  // ints -> int64). Throw on a dtype that cannot convert (e.g. bool to float is allowed, 0/1).
  std::vector<float> to_float(const std::string& name) const;
  std::vector<int64_t> to_int64(const std::string& name) const;

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Writes tensors to a safetensors file (data laid out in the order given, header padded with
// spaces to a multiple of 8, as Hugging Face's writer does). Used by `debug random-checkpoint`,
// `debug preprocess` and tests.
struct TensorData {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};
void write_safetensors(const std::string& path, const std::vector<TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace smolvid::model
