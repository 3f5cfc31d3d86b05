// Fuzzes the safetensors reader (model/safetensors.h) and the shard index.
// Input starting with '{': a model.safetensors.index.json next to one valid shard; anything else:
// the bytes of a .safetensors file. Either opens cleanly (then every view must lie inside the data
// area and convert) or throws SafetensorsError.
#include <fcntl.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "model/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

using smolvid::model::SafetensorsCheckpoint;
using smolvid::model::SafetensorsError;
using smolvid::model::SafetensorsFile;

namespace {

// A temporary model directory holding one valid shard with tensors "a" (F32 [2,3]) and "b" (I64 [2]).
const std::string& model_dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/smolvid-fuzz-safetensors-XXXXXX";
    FUZZ_CHECK(::mkdtemp(tmpl) != nullptr, "mkdtemp failed");
    std::string d = tmpl;
    std::vector<uint8_t> a(6 * 4, 0), b(2 * 8, 0);
    smolvid::model::write_safetensors(d + "/model-00001-of-00001.safetensors",
                                      {{"a", smolvid::model::DType::kF32, {2, 3}, a},
                                       {"b", smolvid::model::DType::kI64, {2}, b}});
    return d;
  }();
  return dir;
}

void check_file(const SafetensorsFile& f) {
  for (const auto& [name, t] : f.tensors()) {
    FUZZ_CHECK(t.file_offset >= 8 + f.header_size(), "tensor %s starts inside the header", name.c_str());
    FUZZ_CHECK(t.file_offset + t.nbytes <= f.file_size() && t.file_offset + t.nbytes >= t.file_offset,
               "tensor %s runs past the end of the file", name.c_str());
    FUZZ_CHECK(static_cast<size_t>(t.numel()) * smolvid::model::dtype_size(t.dtype) == t.nbytes,
               "tensor %s: shape and byte count disagree", name.c_str());
    if (t.nbytes > (1u << 20)) continue;  // conversions are linear; a megabyte shows the same bugs
    try {
      if (t.dtype == smolvid::model::DType::kI64 || t.dtype == smolvid::model::DType::kI32) {
        FUZZ_CHECK(f.to_int64(name).size() == static_cast<size_t>(t.numel()), "to_int64 size");
      } else {
        FUZZ_CHECK(f.to_float(name).size() == static_cast<size_t>(t.numel()), "to_float size");
      }
    } catch (const SafetensorsError&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 0 && data[0] == '{') {
    const std::string index = model_dir() + "/model.safetensors.index.json";
    {
      std::ofstream out(index, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    try {
      SafetensorsCheckpoint ckpt(model_dir());
      for (const std::string& name : ckpt.names()) {
        const auto& t = ckpt.at(name);
        FUZZ_CHECK(ckpt.file_of(name).contains(t.name), "file_of(%s) does not hold it", name.c_str());
      }
    } catch (const SafetensorsError&) {
    }
    return 0;
  }
  smolvid::fuzz::MemFile file(data, size);
  try {
    SafetensorsFile f(file.path());
    check_file(f);
  } catch (const SafetensorsError&) {
  }
  return 0;
}
