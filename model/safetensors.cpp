// model/safetensors.cpp: the safetensors reader (mmap + validation) and writer.
#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>
#include <fmt/ranges.h>  // fmt::join (declared here in newer fmt, e.g. the copy bundled with libtorch 2.x)
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

namespace smolvid::model {

static_assert(sizeof(float) == 4, "float must be IEEE-754 binary32");

namespace {

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::kF64, "F64", 8}, {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2}, {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2}, {DType::kI8, "I8", 1}, {DType::kU8, "U8", 1},
    {DType::kBool, "BOOL", 1},
};

const DTypeInfo& info(DType dtype) {
  for (const DTypeInfo& d : kDTypes) {
    if (d.dtype == dtype) return d;
  }
  throw SafetensorsError(fmt::format("unknown DType value {}", static_cast<int>(dtype)));
}

std::string errno_text() { return std::strerror(errno); }

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

float bf16_to_float(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float f16_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Product of the dims with overflow detection; -1 when it overflows or a dim is negative.
int64_t checked_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

std::string shape_text(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace

const char* dtype_name(DType dtype) { return info(dtype).name; }
size_t dtype_size(DType dtype) { return info(dtype).size; }

DType dtype_from_name(const std::string& s) {
  for (const DTypeInfo& d : kDTypes) {
    if (s == d.name) return d.dtype;
  }
  throw SafetensorsError(fmt::format("unknown safetensors dtype \"{}\" (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)", s));
}

int64_t TensorView::numel() const { return checked_numel(shape); }
int64_t TensorSpec::numel() const { return checked_numel(shape); }
size_t TensorSpec::nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype); }

// ---------------------------------------------------------------------------------------------
// Reader

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw SafetensorsError(fmt::format("{}: cannot open safetensors file: {}", path, errno_text()));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    throw SafetensorsError(fmt::format("{}: cannot stat: {}", path, why));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw SafetensorsError(fmt::format("{}: not a regular file", path));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    throw SafetensorsError(fmt::format("{}: file is {} bytes, too short for the 8-byte header length", path, size));
  }
  // Private writable mapping: pages stay shared with the page cache until someone writes, and a
  // write (e.g. an in-place op on a zero-copy tensor) never reaches the file.
  void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const std::string map_err = map == MAP_FAILED ? errno_text() : std::string();
  ::close(fd);
  if (map == MAP_FAILED) throw SafetensorsError(fmt::format("{}: mmap of {} bytes failed: {}", path, size, map_err));
  map_ = map;
  map_size_ = size;

  try {
    const auto* base = static_cast<const uint8_t*>(map_);
    const uint64_t n = read_le64(base);
    if (n > size - 8) {
      throw SafetensorsError(fmt::format("{}: header length {} exceeds the file size {} minus 8", path, n, size));
    }
    header_size_ = static_cast<size_t>(n);
    const size_t data_begin = 8 + header_size_;
    const size_t data_size = size - data_begin;
    const char* hdr = reinterpret_cast<const char*>(base + 8);

    nlohmann::json j;
    try {
      j = nlohmann::json::parse(hdr, hdr + header_size_);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range (1e999)
      throw SafetensorsError(fmt::format("{}: header is not valid JSON: {}", path, e.what()));
    }
    if (!j.is_object()) throw SafetensorsError(fmt::format("{}: header JSON is not an object", path));

    struct Range {
      size_t begin, end;
      const std::string* name;
    };
    std::vector<Range> ranges;
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& key = it.key();
      const nlohmann::json& v = it.value();
      if (key == "__metadata__") {
        if (!v.is_object()) throw SafetensorsError(fmt::format("{}: __metadata__ is not an object", path));
        for (auto m = v.begin(); m != v.end(); ++m) {
          if (!m.value().is_string()) {
            throw SafetensorsError(fmt::format("{}: __metadata__ value of \"{}\" is not a string", path, m.key()));
          }
          metadata_[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      const auto bad = [&](const std::string& what) {
        return SafetensorsError(fmt::format("{}: tensor \"{}\": {}", path, key, what));
      };
      if (!v.is_object()) throw bad("header entry is not an object");
      if (!v.contains("dtype") || !v["dtype"].is_string()) throw bad("missing or non-string \"dtype\"");
      if (!v.contains("shape") || !v["shape"].is_array()) throw bad("missing or non-array \"shape\"");
      if (!v.contains("data_offsets") || !v["data_offsets"].is_array()) throw bad("missing or non-array \"data_offsets\"");
      TensorView t;
      t.name = key;
      try {
        t.dtype = dtype_from_name(v["dtype"].get<std::string>());
      } catch (const SafetensorsError& e) {
        throw bad(e.what());
      }
      for (const nlohmann::json& d : v["shape"]) {
        if (!d.is_number_integer() || d.get<int64_t>() < 0) throw bad(fmt::format("shape {} has a non-integer or negative dimension", v["shape"].dump()));
        t.shape.push_back(d.get<int64_t>());
      }
      const nlohmann::json& off = v["data_offsets"];
      if (off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
        throw bad(fmt::format("data_offsets {} is not a pair of non-negative integers", off.dump()));
      }
      const uint64_t b = off[0].get<uint64_t>();
      const uint64_t e = off[1].get<uint64_t>();
      if (e < b) throw bad(fmt::format("data_offsets [{}, {}] end before begin", b, e));
      if (e > data_size) {
        throw bad(fmt::format("data_offsets [{}, {}] outside the data area of {} bytes (file {} bytes, header {} bytes)",
                              b, e, data_size, size, header_size_));
      }
      const int64_t numel = checked_numel(t.shape);
      if (numel < 0) throw bad(fmt::format("shape {} overflows", shape_text(t.shape)));
      const size_t item = dtype_size(t.dtype);
      if (static_cast<uint64_t>(numel) > std::numeric_limits<uint64_t>::max() / item ||
          static_cast<uint64_t>(numel) * item != e - b) {
        throw bad(fmt::format("dtype {} shape {} needs {} bytes but data_offsets [{}, {}] hold {}", dtype_name(t.dtype),
                              shape_text(t.shape), static_cast<uint64_t>(numel) * item, b, e, e - b));
      }
      t.data = base + data_begin + b;
      t.nbytes = static_cast<size_t>(e - b);
      t.file_offset = data_begin + static_cast<size_t>(b);
      auto [pos, inserted] = tensors_.emplace(key, std::move(t));
      (void)inserted;  // JSON object keys are unique after parsing
      ranges.push_back({static_cast<size_t>(b), static_cast<size_t>(e), &pos->first});
    }
    std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& c) {
      return a.begin != c.begin ? a.begin < c.begin : a.end < c.end;
    });
    // The non-empty ranges must tile the data area exactly, as the format (and Hugging Face's
    // reader) requires: no overlap, no gap, no bytes after the last tensor. `reach` is the range
    // reaching furthest so far, so an overlap is found even across empty tensors in between.
    const Range* reach = nullptr;
    for (const Range& cur : ranges) {
      if (cur.begin == cur.end) continue;  // empty tensors occupy nothing
      const size_t covered = reach ? reach->end : 0;
      if (cur.begin < covered) {
        throw SafetensorsError(fmt::format("{}: tensor \"{}\" data [{}, {}) overlaps tensor \"{}\" data [{}, {})", path,
                                           *cur.name, cur.begin, cur.end, *reach->name, reach->begin, reach->end));
      }
      if (cur.begin > covered) {
        throw SafetensorsError(fmt::format("{}: data bytes [{}, {}) before tensor \"{}\" belong to no tensor (expected "
                                           "contiguous data: tensor \"{}\" to start at {}, got {})",
                                           path, covered, cur.begin, *cur.name, *cur.name, covered, cur.begin));
      }
      reach = &cur;
    }
    const size_t covered = reach ? reach->end : 0;
    if (covered != data_size) {
      throw SafetensorsError(fmt::format("{}: data area has {} bytes but the tensors cover {} (expected {} bytes after "
                                         "the header, got {})",
                                         path, data_size, covered, covered, data_size));
    }
  } catch (...) {
    ::munmap(map_, map_size_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

const TensorView& SafetensorsFile::at(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    throw SafetensorsError(fmt::format("{}: no tensor named \"{}\" ({} tensors in the file)", path_, name, tensors_.size()));
  }
  return it->second;
}

void SafetensorsFile::release_pages(const std::string& name) const {
  const TensorView& t = at(name);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  const uintptr_t page = page_size > 0 ? static_cast<uintptr_t>(page_size) : 4096;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(t.data) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(t.data) + t.nbytes) / page * page;
  if (end <= begin) return;
  if (::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED) != 0) {
    throw SafetensorsError(fmt::format("{}: tensor \"{}\": madvise failed: {}", path_, name, errno_text()));
  }
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& kv : tensors_) out.push_back(kv.first);
  return out;
}

std::vector<float> SafetensorsFile::to_float(const std::string& name) const {
  const TensorView& t = at(name);
  const size_t n = static_cast<size_t>(t.numel());
  std::vector<float> out(n);
  if (n == 0) return out;  // an empty tensor's data pointer may be null: nothing to copy
  const uint8_t* p = t.data;
  switch (t.dtype) {
    case DType::kF32: std::memcpy(out.data(), p, n * 4); break;
    case DType::kF64: for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(load<double>(p + 8 * i)); break;
    case DType::kBF16: for (size_t i = 0; i < n; ++i) out[i] = bf16_to_float(load<uint16_t>(p + 2 * i)); break;
    case DType::kF16: for (size_t i = 0; i < n; ++i) out[i] = f16_to_float(load<uint16_t>(p + 2 * i)); break;
    case DType::kI64: for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(load<int64_t>(p + 8 * i)); break;
    case DType::kI32: for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(load<int32_t>(p + 4 * i)); break;
    case DType::kI16: for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(load<int16_t>(p + 2 * i)); break;
    case DType::kI8: for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(static_cast<int8_t>(p[i])); break;
    case DType::kU8: for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(p[i]); break;
    case DType::kBool: for (size_t i = 0; i < n; ++i) out[i] = p[i] != 0 ? 1.0f : 0.0f; break;
  }
  return out;
}

std::vector<int64_t> SafetensorsFile::to_int64(const std::string& name) const {
  const TensorView& t = at(name);
  const size_t n = static_cast<size_t>(t.numel());
  std::vector<int64_t> out(n);
  if (n == 0) return out;  // an empty tensor's data pointer may be null: nothing to copy
  const uint8_t* p = t.data;
  switch (t.dtype) {
    case DType::kI64: std::memcpy(out.data(), p, n * 8); break;
    case DType::kI32: for (size_t i = 0; i < n; ++i) out[i] = load<int32_t>(p + 4 * i); break;
    case DType::kI16: for (size_t i = 0; i < n; ++i) out[i] = load<int16_t>(p + 2 * i); break;
    case DType::kI8: for (size_t i = 0; i < n; ++i) out[i] = static_cast<int8_t>(p[i]); break;
    case DType::kU8: for (size_t i = 0; i < n; ++i) out[i] = p[i]; break;
    case DType::kBool: for (size_t i = 0; i < n; ++i) out[i] = p[i] != 0 ? 1 : 0; break;
    default:
      throw SafetensorsError(fmt::format("{}: tensor \"{}\" has dtype {}, which is not an integer type", path_, name,
                                         dtype_name(t.dtype)));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sharded checkpoints

namespace {

std::string dir_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash == 0 ? 1 : slash);
}

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::map<std::string, std::string> read_safetensors_index(const std::string& index_path) {
  std::FILE* f = std::fopen(index_path.c_str(), "rb");
  if (f == nullptr) throw SafetensorsError(fmt::format("{}: cannot open index: {}", index_path, errno_text()));
  std::string text;
  char buf[65536];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, got);
  std::fclose(f);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range (1e999)
    throw SafetensorsError(fmt::format("{}: index is not valid JSON: {}", index_path, e.what()));
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
    throw SafetensorsError(fmt::format("{}: index has no \"weight_map\" object", index_path));
  }
  std::map<std::string, std::string> out;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it.value().is_string() || it.value().get<std::string>().empty()) {
      throw SafetensorsError(fmt::format("{}: weight_map entry \"{}\" is not a file name", index_path, it.key()));
    }
    const std::string file = it.value().get<std::string>();
    if (file.find('/') != std::string::npos || file == "..") {
      throw SafetensorsError(fmt::format("{}: weight_map entry \"{}\" names \"{}\", which is not a plain file name",
                                         index_path, it.key(), file));
    }
    out[it.key()] = file;
  }
  return out;
}

SafetensorsCheckpoint::SafetensorsCheckpoint(const std::string& path) {
  std::string single;
  if (is_directory(path)) {
    const std::string index = path + "/model.safetensors.index.json";
    if (is_regular_file(index)) {
      index_path_ = index;
    } else if (is_regular_file(path + "/model.safetensors")) {
      single = path + "/model.safetensors";
    } else {
      throw SafetensorsError(fmt::format("{}: no model.safetensors.index.json or model.safetensors in this directory", path));
    }
  } else if (ends_with(path, ".json")) {
    index_path_ = path;
  } else {
    single = path;
  }

  if (!single.empty()) {
    description_ = single;
    files_.push_back(std::make_shared<const SafetensorsFile>(single));
    for (const auto& kv : files_[0]->tensors()) where_[kv.first] = 0;
    return;
  }

  description_ = index_path_;
  const std::map<std::string, std::string> weight_map = read_safetensors_index(index_path_);
  const std::string dir = dir_of(index_path_);
  std::map<std::string, size_t> file_index;
  for (const auto& kv : weight_map) {
    if (file_index.count(kv.second) == 0) {
      file_index[kv.second] = files_.size();
      files_.push_back(std::make_shared<const SafetensorsFile>(dir + "/" + kv.second));
    }
    const size_t fi = file_index[kv.second];
    if (!files_[fi]->contains(kv.first)) {
      throw SafetensorsError(fmt::format("{}: weight_map puts tensor \"{}\" in {}, but that shard has no such tensor",
                                         index_path_, kv.first, files_[fi]->path()));
    }
    where_[kv.first] = fi;
  }
  for (const auto& f : files_) {
    for (const auto& kv : f->tensors()) {
      auto it = weight_map.find(kv.first);
      if (it == weight_map.end()) {
        throw SafetensorsError(fmt::format("{}: shard {} holds tensor \"{}\", which the weight_map does not list",
                                           index_path_, f->path(), kv.first));
      }
      if (dir + "/" + it->second != f->path()) {
        throw SafetensorsError(fmt::format("{}: tensor \"{}\" is in shard {} and also in {}, where the weight_map puts it",
                                           index_path_, kv.first, f->path(), it->second));
      }
    }
  }
}

const TensorView& SafetensorsCheckpoint::at(const std::string& name) const { return file_of(name).at(name); }

const SafetensorsFile& SafetensorsCheckpoint::file_of(const std::string& name) const { return *shared_file_of(name); }

std::shared_ptr<const SafetensorsFile> SafetensorsCheckpoint::shared_file_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) {
    throw SafetensorsError(fmt::format("{}: no tensor named \"{}\" ({} tensors in the checkpoint)", description_, name,
                                       where_.size()));
  }
  return files_[it->second];
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& kv : where_) out.push_back(kv.first);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writer

std::string safetensors_header(const std::vector<TensorSpec>& tensors, const std::map<std::string, std::string>& metadata) {
  std::string h = "{";
  bool first = true;
  if (!metadata.empty()) {
    h += "\"__metadata__\":";
    h += nlohmann::json(metadata).dump();
    first = false;
  }
  std::set<std::string> seen;
  size_t offset = 0;
  for (const TensorSpec& t : tensors) {
    if (t.name == "__metadata__" || !seen.insert(t.name).second) {
      throw SafetensorsError(fmt::format("safetensors writer: duplicate or reserved tensor name \"{}\"", t.name));
    }
    if (t.numel() < 0) throw SafetensorsError(fmt::format("safetensors writer: tensor \"{}\" has a bad shape {}", t.name, shape_text(t.shape)));
    const size_t n = t.nbytes();
    if (!first) h += ",";
    first = false;
    h += nlohmann::json(t.name).dump();
    h += fmt::format(":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}", dtype_name(t.dtype),
                     fmt::join(t.shape, ","), offset, offset + n);
    offset += n;
  }
  h += "}";
  h.append((8 - h.size() % 8) % 8, ' ');
  return h;
}

SafetensorsWriter::SafetensorsWriter(const std::string& path, std::vector<TensorSpec> tensors,
                                     const std::map<std::string, std::string>& metadata)
    : path_(path) {
  const std::string header = safetensors_header(tensors, metadata);
  for (const TensorSpec& t : tensors) data_bytes_ += t.nbytes();
  header_bytes_ = header.size();
  file_ = std::fopen(path.c_str(), "wb");
  if (file_ == nullptr) throw SafetensorsError(fmt::format("{}: cannot create: {}", path, errno_text()));
  uint8_t len[8];
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  if (std::fwrite(len, 1, 8, file_) != 8 || std::fwrite(header.data(), 1, header.size(), file_) != header.size()) {
    const std::string why = errno_text();
    std::fclose(file_);
    file_ = nullptr;
    throw SafetensorsError(fmt::format("{}: write failed: {}", path, why));
  }
}

SafetensorsWriter::~SafetensorsWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void SafetensorsWriter::write(const void* data, size_t nbytes) {
  if (file_ == nullptr) throw SafetensorsError(fmt::format("{}: write after finish()", path_));
  if (nbytes > data_bytes_ - written_) {
    throw SafetensorsError(fmt::format("{}: writing {} bytes past the {} data bytes the header declares", path_,
                                       written_ + nbytes - data_bytes_, data_bytes_));
  }
  if (nbytes != 0 && std::fwrite(data, 1, nbytes, file_) != nbytes) {
    throw SafetensorsError(fmt::format("{}: write failed: {}", path_, errno_text()));
  }
  written_ += nbytes;
}

void SafetensorsWriter::finish(bool sparse) {
  if (file_ == nullptr) throw SafetensorsError(fmt::format("{}: finish() called twice", path_));
  if (!sparse && written_ != data_bytes_) {
    throw SafetensorsError(fmt::format("{}: {} of {} data bytes written", path_, written_, data_bytes_));
  }
  const bool flushed = std::fflush(file_) == 0;
  bool ok = flushed;
  if (ok && sparse && written_ < data_bytes_) {
    ok = ::ftruncate(::fileno(file_), static_cast<off_t>(8 + header_bytes_ + data_bytes_)) == 0;
  }
  const std::string why = ok ? std::string() : errno_text();
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!ok || !closed) throw SafetensorsError(fmt::format("{}: finishing the file failed: {}", path_, ok ? errno_text() : why));
}

void write_safetensors(const std::string& path, const std::vector<TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<TensorSpec> specs;
  specs.reserve(tensors.size());
  for (const TensorData& t : tensors) {
    TensorSpec s{t.name, t.dtype, t.shape};
    if (s.numel() < 0 || s.nbytes() != t.bytes.size()) {
      throw SafetensorsError(fmt::format("{}: tensor \"{}\": dtype {} shape {} needs {} bytes but {} were given", path,
                                         t.name, dtype_name(t.dtype), shape_text(t.shape), s.numel() < 0 ? 0 : s.nbytes(),
                                         t.bytes.size()));
    }
    specs.push_back(std::move(s));
  }
  SafetensorsWriter w(path, std::move(specs), metadata);
  for (const TensorData& t : tensors) w.write(t.bytes.data(), t.bytes.size());
  w.finish();
}

}  // namespace smolvid::model
