// WeightStore (lookup by name and shape, zero-copy vs conversion, unused tensors) and threads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <sched.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/config.h"
#include "model/nn/smolvlm.h"
#include "model/nn/threads.h"
#include "model/nn/weights.h"
#include "model/safetensors.h"
#include "tests/test_files.h"
#include "tests/test_support.h"

namespace smolvid::model {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

TEST(WeightStore, LoadsGoldenModelZeroCopy) {
  const std::string dir = test::golden("tiny-smolvlm");
  const ModelConfig config = load_model_config(dir + "/config.json");
  WeightStore store(dir);
  const SafetensorsFile raw(dir + "/model.safetensors");
  const std::vector<ExpectedTensor> expected = expected_checkpoint_tensors(config);
  for (const ExpectedTensor& e : expected) {
    const at::Tensor t = store.take(e.name, e.shape);
    ASSERT_EQ(t.scalar_type(), at::kFloat) << e.name;
    ASSERT_EQ(t.sizes().vec(), e.shape) << e.name;
    // Zero-copy: the tensor's data is the mapping itself.
    EXPECT_EQ(static_cast<const void*>(t.data_ptr()), static_cast<const void*>(store.checkpoint().at(e.name).data)) << e.name;
    const std::vector<float> want = raw.to_float(e.name);
    EXPECT_EQ(std::memcmp(t.data_ptr(), want.data(), want.size() * 4), 0) << e.name;
  }
  EXPECT_EQ(store.zero_copy_count(), static_cast<int64_t>(expected.size()));
  EXPECT_EQ(store.converted_count(), 0);
  EXPECT_NO_THROW(store.check_all_used());
}

TEST(WeightStore, ConvertsToBFloat16RoundingToNearestEven) {
  test::TempDir tmp;
  // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties to even -> 1.0.
  // 1 + 3*2^-8 is halfway between 1.0078125 and 1.015625: ties to even -> 1.015625.
  // 1 + 2^-8 + 2^-20 is above halfway -> 1.0078125.
  const std::vector<float> in = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-20f, -2.5f};
  const std::vector<float> want = {1.0f, 1.015625f, 1.0078125f, -2.5f};
  write_safetensors(tmp.file("w.safetensors"), {{"w", DType::kF32, {4}, f32_bytes(in)}});
  WeightStore store(tmp.file("w.safetensors"), {at::kBFloat16});
  const at::Tensor t = store.take("w", {4});
  ASSERT_EQ(t.scalar_type(), at::kBFloat16);
  const at::Tensor back = t.to(at::kFloat);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(back[static_cast<int64_t>(i)].item<float>(), want[i]) << i;
  EXPECT_EQ(store.converted_count(), 1);
  // An explicit dtype overrides the compute dtype (e.g. fp32 norms in a bf16 model).
  const at::Tensor f = store.take("w", {4}, at::kFloat);
  EXPECT_EQ(f.scalar_type(), at::kFloat);
  EXPECT_EQ(f[0].item<float>(), in[0]);
}

TEST(WeightStore, WidensBFloat16AndHalfExactly) {
  test::TempDir tmp;
  // bf16 0x3F80 = 1, 0xC0A0 = -5; f16 0x3555 = 0.333251953125.
  write_safetensors(tmp.file("w.safetensors"), {{"b", DType::kBF16, {2}, {0x80, 0x3F, 0xA0, 0xC0}},
                                                {"h", DType::kF16, {1}, {0x55, 0x35}},
                                                {"ids", DType::kI64, {1}, {7, 0, 0, 0, 0, 0, 0, 0}}});
  WeightStore store(tmp.file("w.safetensors"));
  const at::Tensor b = store.take("b", {2});
  EXPECT_EQ(b.scalar_type(), at::kFloat);
  EXPECT_EQ(b[0].item<float>(), 1.0f);
  EXPECT_EQ(b[1].item<float>(), -5.0f);
  EXPECT_EQ(store.take("h", {1})[0].item<float>(), 0.333251953125f);
  // Integer tensors keep their dtype; asking for a float is an error.
  const at::Tensor ids = store.take("ids", {1});
  EXPECT_EQ(ids.scalar_type(), at::kLong);
  EXPECT_EQ(ids[0].item<int64_t>(), 7);
  try {
    store.take("ids", {1}, at::kFloat);
    FAIL();
  } catch (const WeightError& e) {
    EXPECT_THAT(e.what(), HasSubstr("\"ids\""));
    EXPECT_THAT(e.what(), HasSubstr("I64"));
  }
}

TEST(WeightStore, ErrorsNameTheTensor) {
  test::TempDir tmp;
  write_safetensors(tmp.file("m.safetensors"), {{"layer.weight", DType::kF32, {2, 3}, f32_bytes({1, 2, 3, 4, 5, 6})},
                                                {"layer.bias", DType::kF32, {2}, f32_bytes({0, 0})},
                                                {"extra.weight", DType::kF32, {1}, f32_bytes({0})}});
  WeightStore store(tmp.file("m.safetensors"));
  try {
    store.take("layer.gain", {2});
    FAIL();
  } catch (const WeightError& e) {
    EXPECT_THAT(e.what(), HasSubstr("missing tensor \"layer.gain\""));
    EXPECT_THAT(e.what(), HasSubstr("[2]"));
    EXPECT_THAT(e.what(), HasSubstr(tmp.file("m.safetensors")));
  }
  try {
    store.take("layer.weight", {3, 2});
    FAIL();
  } catch (const WeightError& e) {
    EXPECT_THAT(e.what(), HasSubstr("\"layer.weight\" has shape [2, 3], expected [3, 2]"));
  }
  store.take("layer.weight", {2, 3});
  try {
    store.check_all_used();
    FAIL();
  } catch (const WeightError& e) {
    EXPECT_THAT(e.what(), HasSubstr("2 unused tensors"));
    EXPECT_THAT(e.what(), HasSubstr("\"extra.weight\" [1]"));
    EXPECT_THAT(e.what(), HasSubstr("\"layer.bias\" [2]"));
  }
  EXPECT_EQ(store.unused(), (std::vector<std::string>{"extra.weight", "layer.bias"}));
  store.take("layer.bias", {2});
  store.take("extra.weight", {1});
  EXPECT_NO_THROW(store.check_all_used());
  EXPECT_THROW(WeightStore(tmp.file("none.safetensors")), WeightError);
  EXPECT_THROW(WeightStore(tmp.file("m.safetensors"), {at::kLong}), WeightError);
}

// A config that claims a 10^9-wide text layer over the tiny golden weights: loading stops at the
// first tensor whose shape disagrees, naming it with expected vs got, before anything of the
// claimed size is allocated (4 GB per row of such a matrix).
TEST(WeightStore, AbsurdConfigSizeFailsBeforeAllocating) {
  test::TempDir tmp;
  const std::string src = test::golden("tiny-smolvlm");
  for (const auto& entry : std::filesystem::directory_iterator(src)) {
    if (entry.is_regular_file()) std::filesystem::create_symlink(entry.path(), tmp.file(entry.path().filename().string()));
  }
  nlohmann::json config = nlohmann::json::parse(test::read_file(src + "/config.json"));
  config["text_config"]["hidden_size"] = 1000000000;
  std::filesystem::remove(tmp.file("config.json"));
  test::write_file(tmp.file("config.json"), config.dump(2));
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  try {
    SmolVLM::load(tmp.path(), ModelOptions{});
    FAIL() << "a 10^9-wide model loaded from tiny weights";
  } catch (const WeightError& e) {
    EXPECT_THAT(e.what(), HasSubstr(tmp.file("model.safetensors")));
    EXPECT_THAT(e.what(), HasSubstr("1000000000"));
    EXPECT_THAT(e.what(), HasSubstr("has shape"));
  }
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 512 * 1024) << "KiB of peak memory grew while refusing the model";
}

TEST(WeightStore, ZeroCopyTensorOutlivesStoreAndNeverWritesTheFile) {
  test::TempDir tmp;
  write_safetensors(tmp.file("m.safetensors"), {{"w", DType::kF32, {3}, f32_bytes({1, 2, 3})}});
  at::Tensor t;
  {
    WeightStore store(tmp.file("m.safetensors"));
    t = store.take("w", {3});
  }
  EXPECT_EQ(t[2].item<float>(), 3.0f);  // the mapping is still alive
  t.add_(10.0f);                        // copy-on-write: allowed, private
  EXPECT_EQ(t[2].item<float>(), 13.0f);
  const SafetensorsFile again(tmp.file("m.safetensors"));
  EXPECT_EQ(again.to_float("w"), (std::vector<float>{1, 2, 3}));
}

int64_t rss_file_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("RssFile:", 0) == 0) return std::stoll(line.substr(8));
  }
  ADD_FAILURE() << "no RssFile in /proc/self/status";
  return 0;
}

// A converted tensor does not leave its file pages resident in this process.
TEST(WeightStore, ConversionReleasesFilePages) {
  test::TempDir tmp;
  const int64_t n = 8 << 20;  // 32 MB of float32
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i % 1000);
  write_safetensors(tmp.file("big.safetensors"), {{"w", DType::kF32, {n}, f32_bytes(v)}});
  v.clear();
  v.shrink_to_fit();
  WeightStore store(tmp.file("big.safetensors"), {at::kBFloat16});
  const int64_t before = rss_file_kb();
  const at::Tensor t = store.take("w", {n});
  const int64_t grown = rss_file_kb() - before;
  EXPECT_LT(grown, 8 * 1024) << "file pages still resident after conversion: " << grown << " kB";
  EXPECT_EQ(t[100].item<float>(), 100.0f);  // exact in bfloat16
  // The data is still there for a later zero-copy take (re-read from the file).
  const at::Tensor f = store.take("w", {n}, at::kFloat);
  EXPECT_EQ(f[n - 1].item<float>(), static_cast<float>((n - 1) % 1000));
}

TEST(WeightStore, ShardedDirectory) {
  test::TempDir tmp;
  write_safetensors(tmp.file("model-00001-of-00002.safetensors"), {{"a", DType::kBF16, {1}, {0x80, 0x3F}}});
  write_safetensors(tmp.file("model-00002-of-00002.safetensors"), {{"b", DType::kF32, {1}, f32_bytes({4})}});
  test::write_file(tmp.file("model.safetensors.index.json"),
                   R"({"metadata": {"total_size": 6}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                      "b": "model-00002-of-00002.safetensors"}})");
  WeightStore store(tmp.path(), {at::kBFloat16});
  EXPECT_EQ(store.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(store.stored_dtype("a"), at::kBFloat16);
  EXPECT_EQ(store.take("a", {1}).to(at::kFloat).item<float>(), 1.0f);
  EXPECT_EQ(store.take("b", {1}).to(at::kFloat).item<float>(), 4.0f);
  EXPECT_EQ(store.zero_copy_count(), 1);
  EXPECT_EQ(store.converted_count(), 1);
  EXPECT_NO_THROW(store.check_all_used());
}

TEST(Threads, AvailableCoresMatchesNproc) {
  // nproc(1) reports the CPUs this process may use.
  const test::CommandResult r = test::run_command("nproc");
  ASSERT_EQ(r.exit_code, 0);
  const int nproc = std::stoi(r.output);
  EXPECT_EQ(available_cores(), nproc);
  const int before = at::get_num_threads();
  EXPECT_EQ(set_num_threads(0), nproc);
  EXPECT_EQ(at::get_num_threads(), nproc);
  EXPECT_EQ(set_num_threads(1), 1);
  EXPECT_EQ(at::get_num_threads(), 1);
  EXPECT_THROW(set_num_threads(-1), std::invalid_argument);
  at::set_num_threads(before);
}

}  // namespace
}  // namespace smolvid::model
