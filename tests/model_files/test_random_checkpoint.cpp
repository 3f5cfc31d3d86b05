// `debug random-checkpoint` (write_random_checkpoint): every published layout is reproduced
// exactly (names, shapes, dtype, shards, file sizes from tensors.json, the reconstructed index
// file), and a random 256M checkpoint loads back through ModelFiles + WeightStore.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/config.h"
#include "model/nn/random_checkpoint.h"
#include "model/nn/weights.h"
#include "model/safetensors.h"
#include "tests/test_files.h"
#include "tests/test_support.h"
#include "util/file.h"

namespace smolvid::model {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using nlohmann::json;

std::string refcfg(const std::string& p) { return test::reference("configs/" + p); }

struct Layout {
  const char* dir;
  const char* config_dir;  // where config.json lives
};

const Layout kLayouts[] = {
    {"SmolVLM-256M-Instruct", "SmolVLM-256M-Instruct"},
    {"SmolVLM-500M-Instruct/reconstructed", "SmolVLM-500M-Instruct/reconstructed"},
    {"SmolVLM-Instruct/reconstructed", "SmolVLM-Instruct/reconstructed"},
    {"SmolVLM2-256M-Video-Instruct/reconstructed", "SmolVLM2-256M-Video-Instruct/reconstructed"},
    {"SmolVLM2-500M-Video-Instruct/reconstructed", "SmolVLM2-500M-Video-Instruct/reconstructed"},
    {"SmolVLM2-2.2B-Instruct/reconstructed", "SmolVLM2-2.2B-Instruct/reconstructed"},
};

// Checks `out` against the tensor list: every tensor in its shard with its shape and dtype, and
// each shard's exact file size.
void expect_layout(const std::string& out, const TensorList& list, DType dtype) {
  const SafetensorsCheckpoint ck(out);
  ASSERT_EQ(ck.names().size(), list.tensors.size());
  for (const TensorSpec& t : list.tensors) {
    ASSERT_TRUE(ck.contains(t.name)) << t.name;
    EXPECT_EQ(ck.at(t.name).shape, t.shape) << t.name;
    EXPECT_EQ(ck.at(t.name).dtype, dtype) << t.name;
  }
  for (const TensorListShard& shard : list.shards) {
    const std::string path = out + "/" + shard.file;
    for (const std::string& n : shard.tensors) EXPECT_EQ(ck.file_of(n).path(), path) << n;
    if (dtype == list.dtype) {
      EXPECT_EQ(fs::file_size(path), static_cast<uintmax_t>(shard.file_bytes)) << path;
    }
  }
  if (list.shards.size() == 1) {
    EXPECT_TRUE(ck.index_path().empty());
    EXPECT_EQ(ck.files()[0]->path(), out + "/model.safetensors");
  }
}

TEST(RandomCheckpoint, AllPublishedLayoutsSparse) {
  for (const Layout& l : kLayouts) {
    SCOPED_TRACE(l.dir);
    test::TempDir tmp;
    RandomCheckpointOptions o;
    o.config_path = refcfg(std::string(l.config_dir) + "/config.json");
    o.tensors_path = refcfg(std::string(l.dir) + "/tensors.json");
    o.out_dir = tmp.file("model");
    o.zeros = true;  // sparse files: the layout without 0.5-9 GB of disk
    const RandomCheckpointResult r = write_random_checkpoint(o);
    const TensorList list = read_tensor_list(o.tensors_path);
    EXPECT_EQ(r.tensor_count, static_cast<int64_t>(list.tensors.size()));
    EXPECT_EQ(r.parameter_count, list.parameter_count);
    EXPECT_EQ(r.weight_files.size(), list.shards.size());
    expect_layout(o.out_dir, list, list.dtype);

    // The model directory is complete and readable; side files are byte copies.
    const ModelFiles files = ModelFiles::load(o.out_dir);
    EXPECT_EQ(files.weight_files.size(), list.shards.size());
    EXPECT_EQ(util::read_file(o.out_dir + "/config.json"), util::read_file(o.config_path));
    for (const std::string& side : model_side_files()) {
      const std::string src = refcfg(std::string(l.config_dir) + "/" + side);
      EXPECT_EQ(fs::exists(o.out_dir + "/" + side), fs::exists(src)) << side;
      if (fs::exists(src)) {
        EXPECT_EQ(util::read_file(o.out_dir + "/" + side), util::read_file(src)) << side;
      }
    }
    // The sharded layout's index is the one save_pretrained writes (reconstructed copy).
    const std::string ref_index = refcfg(std::string(l.dir) + "/model.safetensors.index.json");
    if (fs::exists(ref_index)) {
      ASSERT_FALSE(r.index_file.empty());
      EXPECT_EQ(util::read_file(r.index_file), util::read_file(ref_index));
    }
  }
}

TEST(RandomCheckpoint, DtypeOverrideAndExtraFiles) {
  test::TempDir tmp;
  RandomCheckpointOptions o;
  o.config_path = refcfg("SmolVLM-500M-Instruct/reconstructed/config.json");
  o.tensors_path = refcfg("SmolVLM-500M-Instruct/reconstructed/tensors.json");
  o.out_dir = tmp.file("m");
  o.dtype = DType::kF32;
  o.zeros = true;
  o.extra_files_dir = refcfg("SmolVLM-256M-Instruct");  // tokenizer/preprocessor shared with 256M (README)
  write_random_checkpoint(o);
  const TensorList list = read_tensor_list(o.tensors_path);
  expect_layout(o.out_dir, list, DType::kF32);
  EXPECT_EQ(util::read_file(o.out_dir + "/tokenizer.json"), util::read_file(refcfg("SmolVLM-256M-Instruct/tokenizer.json")));
  // Files next to the config win over the extra directory.
  EXPECT_EQ(util::read_file(o.out_dir + "/chat_template.json"),
            util::read_file(refcfg("SmolVLM-500M-Instruct/reconstructed/chat_template.json")));
  const ModelFiles f = ModelFiles::load(o.out_dir);
  ASSERT_TRUE(f.preprocessor.has_value());
  EXPECT_EQ(f.preprocessor->max_image_size.longest_edge, 512);
}

TEST(RandomCheckpoint, WrongTokenizerIsAnError) {
  // SmolVLM-Instruct (2.2B v1) has its own tokenizer (spec 1.5: <image> = 49153, vocab 49155).
  test::TempDir tmp;
  RandomCheckpointOptions o;
  o.config_path = refcfg("SmolVLM-Instruct/reconstructed/config.json");
  o.tensors_path = refcfg("SmolVLM-Instruct/reconstructed/tensors.json");
  o.out_dir = tmp.file("m");
  o.zeros = true;
  o.extra_files_dir = refcfg("SmolVLM-256M-Instruct");
  try {
    write_random_checkpoint(o);
    FAIL();
  } catch (const SafetensorsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("tokenizer.json"));
    EXPECT_THAT(e.what(), HasSubstr("49155"));
  }
}

TEST(RandomCheckpoint, ConfigTensorMismatchIsAnError) {
  test::TempDir tmp;
  RandomCheckpointOptions o;
  o.config_path = refcfg("SmolVLM-256M-Instruct/config.json");
  o.tensors_path = refcfg("SmolVLM-500M-Instruct/reconstructed/tensors.json");
  o.out_dir = tmp.file("m");
  o.zeros = true;
  try {
    write_random_checkpoint(o);
    FAIL();
  } catch (const SafetensorsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("lm_head.weight"));
    EXPECT_THAT(e.what(), HasSubstr("[49280, 960]"));
    EXPECT_THAT(e.what(), HasSubstr("[49280, 576]"));
  }
}

// A small sharded layout built from the golden tiny model, written with real random data.
class TinyRandom : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string golden = test::golden("tiny-idefics3");
    config_ = golden + "/config.json";
    const SafetensorsFile f(golden + "/model.safetensors");
    json list;
    list["checkpoint"] = "tiny";
    list["dtype"] = "F32";
    json shard1 = {{"file", "model-00001-of-00002.safetensors"}, {"tensors", json::array()}};
    json shard2 = {{"file", "model-00002-of-00002.safetensors"}, {"tensors", json::array()}};
    for (const std::string& n : f.names()) {
      list["tensors"].push_back({{"name", n}, {"shape", f.at(n).shape}});
      (n.find("vision") != std::string::npos ? shard1 : shard2)["tensors"].push_back(n);
    }
    list["shards"] = {shard1, shard2};
    tensors_ = tmp_.file("tensors.json");
    test::write_file(tensors_, list.dump());
  }
  RandomCheckpointResult write(const std::string& out, uint64_t seed, std::optional<DType> dtype = std::nullopt) {
    RandomCheckpointOptions o;
    o.config_path = config_;
    o.tensors_path = tensors_;
    o.out_dir = tmp_.file(out);
    o.seed = seed;
    o.dtype = dtype;
    return write_random_checkpoint(o);
  }
  test::TempDir tmp_;
  std::string config_, tensors_;
};

TEST_F(TinyRandom, DeterministicPerSeedAndLoadable) {
  write("a", 1);
  write("b", 1);
  write("c", 2);
  for (const char* shard : {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}) {
    EXPECT_EQ(util::read_file(tmp_.file("a/") + shard), util::read_file(tmp_.file("b/") + shard));
    EXPECT_NE(util::read_file(tmp_.file("a/") + shard), util::read_file(tmp_.file("c/") + shard));
  }
  const ModelFiles files = ModelFiles::load(tmp_.file("a"));
  WeightStore store(tmp_.file("a"));
  for (const ExpectedTensor& e : expected_checkpoint_tensors(files.config)) {
    const at::Tensor t = store.take(e.name, e.shape);
    EXPECT_TRUE(t.isfinite().all().item<bool>()) << e.name;
  }
  EXPECT_NO_THROW(store.check_all_used());
}

TEST_F(TinyRandom, InitScales) {
  write("f", 3);
  write("h", 3, DType::kBF16);
  WeightStore f32(tmp_.file("f"));
  WeightStore bf16(tmp_.file("h"));
  const auto stats = [&](const std::string& name) {
    const at::Tensor t = f32.take(name, f32.shape(name));
    // The bf16 file holds the same draws rounded to bf16.
    const at::Tensor r = bf16.take(name, bf16.shape(name));
    EXPECT_TRUE(at::equal(t.to(at::kBFloat16).to(at::kFloat), r)) << name;
    return std::make_pair(t.mean().item<double>(), t.std().item<double>());
  };
  // fc1: [64, 32], fan_in 32 -> std 1/sqrt(32); 2048 draws.
  auto [m1, s1] = stats("model.vision_model.encoder.layers.0.mlp.fc1.weight");
  EXPECT_NEAR(m1, 0.0, 0.02);
  EXPECT_NEAR(s1, 1.0 / std::sqrt(32.0), 0.1 / std::sqrt(32.0));
  // lm_head: [300, 64] -> 1/8.
  auto [m2, s2] = stats("lm_head.weight");
  EXPECT_NEAR(s2, 0.125, 0.0125);
  // Norm gains around 1, embeddings N(0, 1), biases small.
  auto [m3, s3] = stats("model.text_model.norm.weight");
  EXPECT_NEAR(m3, 1.0, 0.1);
  auto [m4, s4] = stats("model.text_model.embed_tokens.weight");
  EXPECT_NEAR(s4, 1.0, 0.05);
  auto [m5, s5] = stats("model.vision_model.encoder.layers.1.mlp.fc1.bias");
  EXPECT_LT(s5, 0.05);
  (void)m2;
  (void)s3;
  (void)m4;
  (void)m5;
}

// The full-size SmolVLM-256M-Instruct layout with random bf16 data (513 MB, deleted afterwards)
// loads through ModelFiles and WeightStore, every tensor taken with its config shape.
TEST(RandomCheckpoint, Full256MLoadsBack) {
  test::TempDir tmp;
  RandomCheckpointOptions o;
  o.config_path = refcfg("SmolVLM-256M-Instruct/config.json");
  o.tensors_path = refcfg("SmolVLM-256M-Instruct/tensors.json");
  o.out_dir = tmp.file("m");
  o.seed = 7;
  write_random_checkpoint(o);
  const TensorList list = read_tensor_list(o.tensors_path);
  expect_layout(o.out_dir, list, DType::kBF16);
  const ModelFiles files = ModelFiles::load(o.out_dir);
  WeightStore store(o.out_dir, {at::kBFloat16});
  for (const ExpectedTensor& e : expected_checkpoint_tensors(files.config)) {
    const at::Tensor t = store.take(e.name, e.shape);
    ASSERT_EQ(t.scalar_type(), at::kBFloat16);
  }
  EXPECT_NO_THROW(store.check_all_used());
  EXPECT_EQ(store.zero_copy_count(), 471);
  const at::Tensor q = store.take("model.text_model.layers.0.self_attn.q_proj.weight", {576, 576}).to(at::kFloat);
  EXPECT_NEAR(q.std().item<double>(), 1.0 / std::sqrt(576.0), 0.02 / std::sqrt(576.0));
  const at::Tensor lm = store.take("lm_head.weight", {49280, 576}, at::kFloat);
  EXPECT_TRUE(lm.isfinite().all().item<bool>());
}

}  // namespace
}  // namespace smolvid::model
