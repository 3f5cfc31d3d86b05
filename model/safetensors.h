// model/safetensors.h: a reader for the safetensors format, written against the format itself:
// 8-byte little-endian header length N, N bytes of JSON header {name: {dtype, shape,
// data_offsets: [begin, end]}, "__metadata__": {...}}, then the raw little-endian data.
// Plain C++ (no torch): the processor and tokenizer tests use it too.
//
//   smolvid::model::SafetensorsFile f("model.safetensors");   // mmaps, validates, throws
//   const smolvid::model::TensorView& w = f.at("lm_head.weight");
//   // w.dtype == DType::kBF16, w.shape == {49280, 576}, w.data points into the mapping
//
//   smolvid::model::SafetensorsCheckpoint ckpt("/models/SmolVLM2-2.2B-Instruct");  // index + shards
//   const TensorView& t = ckpt.at("lm_head.weight");  ckpt.file_of("lm_head.weight");
//
// Validation (each failure throws SafetensorsError naming the file and, where relevant, the
// tensor): header length vs file size, JSON syntax, known dtype, shape * element size equal to
// the byte range, ranges inside the data area, ranges non-overlapping.
// Ownership: TensorView::data points into the memory map owned by the SafetensorsFile; it stays
// valid while the SafetensorsFile (or a shared_ptr to it) lives. The mapping is private
// (copy-on-write): writing through a pointer into it never changes the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
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
  size_t file_offset = 0;  // absolute byte offset of data in the file
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
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  size_t file_size() const { return map_size_; }
  size_t header_size() const { return header_size_; }  // N (the JSON length, padding included)

  // Drops the resident pages that lie wholly inside tensor `name`'s data from this process
  // (madvise MADV_DONTNEED; they are re-read from the file if touched again, and private changes
  // made through a pointer into them are lost). For loaders that converted the tensor into their
  // own buffer, so a converted checkpoint does not stay resident. Never call it while a view of
  // the data is in use.
  void release_pages(const std::string& name) const;

  // Copies of the data as host vectors, converting numeric dtypes (BF16/F16/F64/ints -> float;
  // ints -> int64). Throw on a dtype that cannot convert (e.g. bool to float is allowed, 0/1).
  std::vector<float> to_float(const std::string& name) const;
  std::vector<int64_t> to_int64(const std::string& name) const;

 private:
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  size_t header_size_ = 0;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A whole checkpoint: either one model.safetensors, or shards listed by
// model.safetensors.index.json ({"metadata": {...}, "weight_map": {tensor: shard file}}).
// `path` is a model directory (index preferred when both exist), a .safetensors file or an
// .index.json file. Validates that every weight_map entry exists in its shard, that every shard
// tensor is listed in the weight_map for that shard, and that no tensor appears twice.
class SafetensorsCheckpoint {
 public:
  explicit SafetensorsCheckpoint(const std::string& path);

  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  const TensorView& at(const std::string& name) const;  // throws naming the checkpoint and tensor
  const SafetensorsFile& file_of(const std::string& name) const;
  std::shared_ptr<const SafetensorsFile> shared_file_of(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  const std::vector<std::shared_ptr<const SafetensorsFile>>& files() const { return files_; }
  const std::string& index_path() const { return index_path_; }  // empty for a single file
  const std::string& description() const { return description_; }  // for messages

 private:
  std::string description_;
  std::string index_path_;
  std::vector<std::shared_ptr<const SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;  // tensor -> index into files_
};

// Reads model.safetensors.index.json: tensor name -> shard file name (as written, relative).
std::map<std::string, std::string> read_safetensors_index(const std::string& index_path);

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

// The streaming form, for files larger than memory:
//   SafetensorsWriter w(path, specs);          // writes the header
//   for (...) w.write(chunk, n);               // the data of specs[0], then specs[1], ... in order
//   w.finish();                                // checks every byte was written, closes
// With `sparse` set, write() may be skipped entirely and finish() extends the file with a hole
// (all-zero data that occupies no disk blocks).
struct TensorSpec {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  int64_t numel() const;
  size_t nbytes() const;
};

// The exact header the writer produces (compact JSON: "__metadata__" first, then the tensors in
// the given order, each {"dtype","shape","data_offsets"}; padded with spaces to a multiple of 8).
std::string safetensors_header(const std::vector<TensorSpec>& tensors,
                               const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

class SafetensorsWriter {
 public:
  SafetensorsWriter(const std::string& path, std::vector<TensorSpec> tensors,
                    const std::map<std::string, std::string>& metadata = {{"format", "pt"}});
  ~SafetensorsWriter();  // closes without checks if finish() was not called
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  void write(const void* data, size_t nbytes);  // throws when writing past the last tensor
  void finish(bool sparse = false);              // throws unless all data was written (or sparse)
  size_t data_bytes() const { return data_bytes_; }
  size_t header_bytes() const { return header_bytes_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  size_t data_bytes_ = 0;
  size_t header_bytes_ = 0;
  size_t written_ = 0;
};

}  // namespace smolvid::model
