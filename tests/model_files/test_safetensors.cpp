// The safetensors reader/writer against the golden fixture files (written by Python), the format
// facts of the six published checkpoints (tensors.json, computed by an independent script and
// matched against the Hub's file sizes), and hand-made malformed files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "model/config.h"
#include "model/nn/random_checkpoint.h"
#include "model/safetensors.h"
#include "tests/test_files.h"
#include "tests/test_support.h"
#include "util/file.h"

namespace smolvid::model {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;
using test::TempDir;

json read_json(const std::string& path) { return json::parse(util::read_file(path)); }

const char* const kTinyModels[] = {"tiny-idefics3", "tiny-idefics3-sf4", "tiny-smolvlm", "tiny-smolvlm-sf4"};

DType dtype_from_numpy(const std::string& s) {
  if (s == "float32") return DType::kF32;
  if (s == "float64") return DType::kF64;
  if (s == "int64") return DType::kI64;
  if (s == "uint8") return DType::kU8;
  ADD_FAILURE() << "unexpected dtype in cases.json: " << s;
  return DType::kBool;
}

TEST(Safetensors, GoldenCasesMatchCasesJson) {
  for (const char* model : kTinyModels) {
    SCOPED_TRACE(model);
    const std::string dir = test::golden(model);
    const SafetensorsFile f(dir + "/cases.safetensors");
    const json cases = read_json(dir + "/cases.json");
    size_t listed = 0;
    for (const json& c : cases["cases"]) {
      for (auto it = c["tensors"].begin(); it != c["tensors"].end(); ++it) {
        ++listed;
        ASSERT_TRUE(f.contains(it.key())) << it.key();
        const TensorView& t = f.at(it.key());
        EXPECT_EQ(t.dtype, dtype_from_numpy(it.value()["dtype"].get<std::string>())) << it.key();
        EXPECT_EQ(t.shape, it.value()["shape"].get<std::vector<int64_t>>()) << it.key();
      }
      // generated_ids are stored both as a tensor and in the JSON.
      const std::string gen = c["name"].get<std::string>() + ".generated_ids";
      std::vector<int64_t> expected;
      for (const json& row : c["generated_ids"]) {
        for (const json& id : row) expected.push_back(id.get<int64_t>());
      }
      EXPECT_EQ(f.to_int64(gen), expected) << gen;
      // logits statistics recorded by the generator.
      const std::string logits = c["name"].get<std::string>() + ".logits";
      const std::vector<float> v = f.to_float(logits);
      const json& st = c["logits_stats"];
      EXPECT_EQ(f.at(logits).shape, st["shape"].get<std::vector<int64_t>>());
      const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
      EXPECT_NEAR(mean, st["mean"].get<double>(), 1e-5);
      EXPECT_FLOAT_EQ(*std::min_element(v.begin(), v.end()), st["min"].get<float>());
      EXPECT_FLOAT_EQ(*std::max_element(v.begin(), v.end()), st["max"].get<float>());
    }
    EXPECT_EQ(listed, f.names().size());
    EXPECT_EQ(f.metadata().at("format"), "pt");
    EXPECT_EQ(f.metadata().at("variant"), model);
  }
}

TEST(Safetensors, GoldenModelWeightsMatchConfigLayout) {
  for (const char* model : kTinyModels) {
    SCOPED_TRACE(model);
    const std::string dir = test::golden(model);
    const SafetensorsFile f(dir + "/model.safetensors");
    const std::vector<ExpectedTensor> expected = expected_checkpoint_tensors(load_model_config(dir + "/config.json"));
    ASSERT_EQ(f.names().size(), expected.size());
    for (const ExpectedTensor& e : expected) {
      ASSERT_TRUE(f.contains(e.name)) << e.name;
      EXPECT_EQ(f.at(e.name).shape, e.shape) << e.name;
      EXPECT_EQ(f.at(e.name).dtype, DType::kF32) << e.name;
    }
  }
}

TEST(Safetensors, ProcessorFixtureShapes) {
  const SafetensorsFile f(test::golden("processor/processor.safetensors"));
  // Shapes documented in golden/README.md.
  EXPECT_EQ(f.at("batch.small.pixel_values").shape, (std::vector<int64_t>{2, 26, 3, 32, 32}));
  EXPECT_EQ(f.at("batch.small.pixel_attention_mask").shape, (std::vector<int64_t>{2, 26, 32, 32}));
  EXPECT_EQ(f.at("batch.small.pixel_attention_mask").dtype, DType::kU8);
  for (const std::string& name : f.names()) {
    if (name.size() > 12 && name.compare(name.size() - 12, 12, "sample_index") == 0) {
      EXPECT_EQ(f.at(name).shape, (std::vector<int64_t>{2000, 4})) << name;
      EXPECT_EQ(f.at(name).dtype, DType::kI64) << name;
    }
  }
  // Sample 0 of the batch is padded with 13 all-zero images whose mask is all 0.
  const std::vector<int64_t> mask = f.to_int64("batch.small.pixel_attention_mask");
  const size_t per_image = 32 * 32;
  EXPECT_EQ(std::accumulate(mask.begin() + 13 * per_image, mask.begin() + 26 * per_image, int64_t{0}), 0);
  EXPECT_EQ(std::accumulate(mask.begin(), mask.begin() + 13 * per_image, int64_t{0}), int64_t(13 * per_image));
}

// The header our writer produces for each published layout has exactly the byte counts an
// independent script computed (and, for three checkpoints, the Hub's exact file size).
TEST(Safetensors, WriterHeaderMatchesPublishedLayouts) {
  const char* const kLayouts[] = {
      "SmolVLM-256M-Instruct/tensors.json",
      "SmolVLM-500M-Instruct/reconstructed/tensors.json",
      "SmolVLM-Instruct/reconstructed/tensors.json",
      "SmolVLM2-256M-Video-Instruct/reconstructed/tensors.json",
      "SmolVLM2-500M-Video-Instruct/reconstructed/tensors.json",
      "SmolVLM2-2.2B-Instruct/reconstructed/tensors.json",
  };
  for (const char* layout : kLayouts) {
    SCOPED_TRACE(layout);
    const TensorList list = read_tensor_list(test::reference(std::string("configs/") + layout));
    for (const TensorListShard& shard : list.shards) {
      std::vector<std::string> names = shard.tensors;
      std::sort(names.begin(), names.end());
      std::vector<TensorSpec> specs;
      for (const std::string& n : names) {
        auto it = std::find_if(list.tensors.begin(), list.tensors.end(), [&](const TensorSpec& t) { return t.name == n; });
        ASSERT_NE(it, list.tensors.end());
        specs.push_back(*it);
      }
      const std::string header = safetensors_header(specs);
      size_t data = 0;
      for (const TensorSpec& s : specs) data += s.nbytes();
      EXPECT_EQ(header.size(), static_cast<size_t>(shard.header_bytes_padded)) << shard.file;
      EXPECT_EQ(header.find_last_not_of(' ') + 1, static_cast<size_t>(shard.header_json_bytes)) << shard.file;
      EXPECT_EQ(data, static_cast<size_t>(shard.data_bytes)) << shard.file;
      EXPECT_EQ(8 + header.size() + data, static_cast<size_t>(shard.file_bytes)) << shard.file;
    }
  }
  // The Git LFS pointer of the real SmolVLM-256M-Instruct weights.
  const std::string lfs = util::read_file(test::reference("configs/SmolVLM-256M-Instruct/model.safetensors.lfs-pointer.txt"));
  EXPECT_THAT(lfs, HasSubstr("size 513028808"));
}

TEST(Safetensors, RoundTripEveryDtype) {
  TempDir tmp;
  std::vector<TensorData> in;
  const DType all[] = {DType::kF64, DType::kF32, DType::kF16, DType::kBF16, DType::kI64,
                       DType::kI32, DType::kI16, DType::kI8,  DType::kU8,   DType::kBool};
  int k = 0;
  for (DType d : all) {
    TensorData t;
    t.name = std::string("t.") + dtype_name(d);
    t.dtype = d;
    t.shape = {2, 3};
    t.bytes.resize(6 * dtype_size(d));
    for (size_t i = 0; i < t.bytes.size(); ++i) t.bytes[i] = static_cast<uint8_t>((i * 7 + k) % (d == DType::kBool ? 2 : 251));
    ++k;
    in.push_back(t);
  }
  in.push_back({"empty", DType::kF32, {0, 4}, {}});
  in.push_back({"scalar", DType::kF32, {}, {0, 0, 128, 63}});
  write_safetensors(tmp.file("a.safetensors"), in, {{"format", "pt"}, {"note", "x\"y"}});
  const SafetensorsFile f(tmp.file("a.safetensors"));
  EXPECT_EQ(f.header_size() % 8, 0u);
  EXPECT_EQ(f.metadata().at("note"), "x\"y");
  ASSERT_EQ(f.names().size(), in.size());
  for (const TensorData& t : in) {
    const TensorView& v = f.at(t.name);
    EXPECT_EQ(v.dtype, t.dtype) << t.name;
    EXPECT_EQ(v.shape, t.shape) << t.name;
    ASSERT_EQ(v.nbytes, t.bytes.size()) << t.name;
    EXPECT_EQ(std::memcmp(v.data, t.bytes.data(), v.nbytes), 0) << t.name;
  }
  EXPECT_EQ(f.to_float("scalar"), std::vector<float>{1.0f});
  // Data is laid out in the order given.
  EXPECT_LT(f.at("t.F64").file_offset, f.at("t.F32").file_offset);
}

TEST(Safetensors, ConvertsHalfTypes) {
  TempDir tmp;
  auto u16 = [](std::initializer_list<uint16_t> v) {
    std::vector<uint8_t> b;
    for (uint16_t x : v) {
      b.push_back(static_cast<uint8_t>(x & 0xff));
      b.push_back(static_cast<uint8_t>(x >> 8));
    }
    return b;
  };
  // IEEE half: 1.0, -2.0, 65504 (max), 2^-24 (smallest subnormal), 2^-14 (smallest normal), +inf.
  // bfloat16: 1.0, -2.0, 3.140625 (0x4049), 1e-40-ish subnormal 0x0001 = 2^-133.
  write_safetensors(tmp.file("h.safetensors"),
                    {{"f16", DType::kF16, {6}, u16({0x3C00, 0xC000, 0x7BFF, 0x0001, 0x0400, 0x7C00})},
                     {"bf16", DType::kBF16, {4}, u16({0x3F80, 0xC000, 0x4049, 0x0001})},
                     {"i8", DType::kI8, {2}, {0xFF, 0x05}}});
  const SafetensorsFile f(tmp.file("h.safetensors"));
  const std::vector<float> h = f.to_float("f16");
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.0f);
  EXPECT_EQ(h[2], 65504.0f);
  EXPECT_EQ(h[3], std::ldexp(1.0f, -24));
  EXPECT_EQ(h[4], std::ldexp(1.0f, -14));
  EXPECT_TRUE(std::isinf(h[5]));
  const std::vector<float> b = f.to_float("bf16");
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(b[1], -2.0f);
  EXPECT_EQ(b[2], 3.140625f);
  EXPECT_EQ(b[3], std::ldexp(1.0f, -133));
  EXPECT_EQ(f.to_int64("i8"), (std::vector<int64_t>{-1, 5}));
  try {
    f.to_int64("f16");
    FAIL() << "float tensor converted to int64";
  } catch (const SafetensorsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("f16"));
  }
}

// A file with the given header text (unpadded) followed by `data_bytes` zero bytes.
std::string raw_file(const std::string& header, size_t data_bytes, uint64_t declared_length = UINT64_MAX) {
  const uint64_t n = declared_length == UINT64_MAX ? header.size() : declared_length;
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + std::string(data_bytes, '\0');
}

struct BadCase {
  const char* label;
  std::string bytes;
  std::vector<std::string> message_parts;
};

TEST(Safetensors, RejectsMalformedFiles) {
  TempDir tmp;
  const std::vector<BadCase> cases = {
      {"short", std::string(5, '\0'), {"too short"}},
      {"header_past_end", raw_file("{}", 0, 1000), {"header length 1000 exceeds"}},
      {"truncated_header", raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 0, 200), {"exceeds"}},
      {"bad_json", raw_file(R"({"a":{"dtype":"F32",)", 0), {"not valid JSON"}},
      {"not_object", raw_file("[1,2]", 0), {"not an object"}},
      {"unknown_dtype", raw_file(R"({"w.x":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", 1), {"\"w.x\"", "F8"}},
      {"byte_mismatch", raw_file(R"({"w.size":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 24),
       {"\"w.size\"", "needs 24 bytes", "hold 20"}},
      {"out_of_range", raw_file(R"({"w.far":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", 16),
       {"\"w.far\"", "outside the data area of 16 bytes"}},
      {"end_before_begin", raw_file(R"({"w.rev":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 8), {"\"w.rev\"", "end before begin"}},
      {"overlap",
       raw_file(R"({"w.a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"w.b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16),
       {"overlaps", "\"w.a\"", "\"w.b\""}},
      {"negative_dim", raw_file(R"({"w.neg":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0), {"\"w.neg\"", "negative"}},
      {"float_offset", raw_file(R"({"w.f":{"dtype":"U8","shape":[1],"data_offsets":[0.0,1]}})", 1), {"\"w.f\"", "data_offsets"}},
      {"missing_shape", raw_file(R"({"w.s":{"dtype":"U8","data_offsets":[0,1]}})", 1), {"\"w.s\"", "shape"}},
      {"metadata_not_string", raw_file(R"({"__metadata__":{"format":1}})", 0), {"__metadata__", "format"}},
      // Offsets that do not tile the data area (Hugging Face's reader refuses these too).
      {"gap", raw_file(R"({"w.a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"w.b":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}})", 12),
       {"\"w.b\"", "[4, 8)", "belong to no tensor", "start at 4, got 8"}},
      {"gap_at_start", raw_file(R"({"w.late":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}})", 8), {"\"w.late\"", "start at 0, got 6"}},
      {"trailing_bytes", raw_file(R"({"w.a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", 9),
       {"data area has 9 bytes", "cover 4"}},
      {"overlap_across_empty",
       raw_file(R"({"w.big":{"dtype":"U8","shape":[16],"data_offsets":[0,16]},"w.e":{"dtype":"U8","shape":[0],"data_offsets":[4,4]},)"
                R"("w.in":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}})", 16),
       {"overlaps", "\"w.in\"", "\"w.big\""}},
      {"offset_u64_max", raw_file(R"({"w.o":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551614,18446744073709551615]}})", 1),
       {"\"w.o\"", "outside the data area"}},
      {"offset_past_u64", raw_file(R"({"w.p":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551616]}})", 1),
       {"\"w.p\"", "data_offsets"}},
      {"shape_overflow", raw_file(R"({"w.s":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4),
       {"\"w.s\"", "overflows"}},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.label);
    const std::string path = tmp.file(std::string(c.label) + ".safetensors");
    test::write_file(path, c.bytes);
    try {
      SafetensorsFile f(path);
      ADD_FAILURE() << "accepted a malformed file";
    } catch (const SafetensorsError& e) {
      EXPECT_THAT(e.what(), HasSubstr(path));
      for (const std::string& part : c.message_parts) EXPECT_THAT(e.what(), HasSubstr(part));
    }
  }
  // Missing file.
  EXPECT_THROW(SafetensorsFile(tmp.file("nope.safetensors")), SafetensorsError);
  // Unknown tensor.
  write_safetensors(tmp.file("ok.safetensors"), {{"x", DType::kU8, {1}, {7}}});
  const SafetensorsFile ok(tmp.file("ok.safetensors"));
  try {
    ok.at("y");
    FAIL();
  } catch (const SafetensorsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("\"y\""));
    EXPECT_THAT(e.what(), HasSubstr(tmp.file("ok.safetensors")));
  }
}

// A partially downloaded file: cut inside the data, the error names the tensor that no longer
// fits; cut inside the header, it names the header length.
TEST(Safetensors, TruncatedRealFile) {
  TempDir tmp;
  const std::string src = test::golden("tiny-smolvlm/model.safetensors");
  const std::string bytes = util::read_file(src);
  const SafetensorsFile full(src);
  std::string last;
  size_t last_end = 0;
  for (const auto& kv : full.tensors()) {
    if (kv.second.file_offset + kv.second.nbytes > last_end) {
      last_end = kv.second.file_offset + kv.second.nbytes;
      last = kv.first;
    }
  }
  ASSERT_EQ(last_end, bytes.size());
  const std::string cut = tmp.file("cut.safetensors");
  test::write_file(cut, bytes.substr(0, bytes.size() - 1));
  try {
    SafetensorsFile f(cut);
    FAIL();
  } catch (const SafetensorsError& e) {
    EXPECT_THAT(e.what(), HasSubstr(cut));
    EXPECT_THAT(e.what(), HasSubstr("\"" + last + "\""));
    EXPECT_THAT(e.what(), HasSubstr("outside the data area"));
  }
  test::write_file(cut, bytes.substr(0, 8 + full.header_size() / 2));
  try {
    SafetensorsFile f(cut);
    FAIL();
  } catch (const SafetensorsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("header length"));
  }
  // Every single-byte corruption of a header is either still a valid file or a SafetensorsError
  // (never a crash or another exception).
  std::vector<TensorData> small;
  for (int i = 0; i < 12; ++i) {
    small.push_back({"t" + std::to_string(i), i % 2 ? DType::kF32 : DType::kBF16, {i % 3 + 1, 2},
                     std::vector<uint8_t>(static_cast<size_t>((i % 3 + 1) * 2 * (i % 2 ? 4 : 2)), 1)});
  }
  write_safetensors(tmp.file("small.safetensors"), small);
  const std::string good = util::read_file(tmp.file("small.safetensors"));
  size_t accepted = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    test::write_file(cut, bad);
    try {
      SafetensorsFile f(cut);
      ++accepted;
    } catch (const SafetensorsError&) {
    }
  }
  EXPECT_LT(accepted, good.size());
}

TEST(Safetensors, WriterRejectsInconsistentInput) {
  TempDir tmp;
  EXPECT_THROW(write_safetensors(tmp.file("a.safetensors"), {{"x", DType::kF32, {2}, {0, 0, 0}}}), SafetensorsError);
  EXPECT_THROW(write_safetensors(tmp.file("b.safetensors"), {{"x", DType::kU8, {1}, {0}}, {"x", DType::kU8, {1}, {0}}}),
               SafetensorsError);
  SafetensorsWriter w(tmp.file("c.safetensors"), {{"x", DType::kF32, {2}}});
  const float v[3] = {1, 2, 3};
  EXPECT_THROW(w.write(v, 12), SafetensorsError);
  w.write(v, 4);
  EXPECT_THROW(w.finish(), SafetensorsError);  // 4 of 8 bytes
}

TEST(Safetensors, ShardedCheckpoint) {
  TempDir tmp;
  write_safetensors(tmp.file("s1.safetensors"), {{"a", DType::kU8, {1}, {1}}, {"b", DType::kU8, {1}, {2}}});
  write_safetensors(tmp.file("s2.safetensors"), {{"c", DType::kU8, {2}, {3, 4}}});
  const auto index = [&](const json& weight_map) {
    test::write_file(tmp.file("model.safetensors.index.json"),
                     json{{"metadata", {{"total_size", 4}}}, {"weight_map", weight_map}}.dump(2));
  };
  index({{"a", "s1.safetensors"}, {"b", "s1.safetensors"}, {"c", "s2.safetensors"}});
  {
    const SafetensorsCheckpoint ck(tmp.path());
    EXPECT_EQ(ck.names(), (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(ck.files().size(), 2u);
    EXPECT_EQ(ck.file_of("c").path(), tmp.file("s2.safetensors"));
    EXPECT_EQ(ck.at("c").data[1], 4);
    EXPECT_THROW(ck.at("d"), SafetensorsError);
  }
  const auto expect_error = [&](const std::vector<std::string>& parts) {
    try {
      SafetensorsCheckpoint ck(tmp.path());
      ADD_FAILURE() << "accepted a bad index";
    } catch (const SafetensorsError& e) {
      for (const std::string& p : parts) EXPECT_THAT(e.what(), HasSubstr(p));
    }
  };
  index({{"a", "s1.safetensors"}, {"c", "s2.safetensors"}});  // b unlisted
  expect_error({"\"b\"", "does not list"});
  index({{"a", "s1.safetensors"}, {"b", "s2.safetensors"}, {"c", "s2.safetensors"}});  // b in the wrong shard
  expect_error({"\"b\"", "s2.safetensors"});
  index({{"a", "s1.safetensors"}, {"b", "s1.safetensors"}, {"c", "s3.safetensors"}});  // missing shard
  expect_error({"s3.safetensors"});
  test::write_file(tmp.file("model.safetensors.index.json"), "{\"weight_map\": 3}");
  expect_error({"weight_map"});
}

}  // namespace
}  // namespace smolvid::model
