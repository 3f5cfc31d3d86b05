// SmolVLM's public API on the tiny golden models: module tree vs checkpoint keys, pixel shuffle vs
// the spec's index formula, single-prompt generation (pixels, cached features, precomputed
// features) against the transformers generated_ids, eos / stop strings / callback stops, sampling
// properties, and clear errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "model/nn/blocks.h"
#include "model/nn/smolvlm.h"
#include "model/safetensors.h"
#include "tests/test_support.h"

namespace {

using smolvid::model::GenerationOptions;
using smolvid::model::ModelError;
using smolvid::model::Prompt;
using smolvid::model::SafetensorsFile;
using smolvid::model::SmolVLM;
using smolvid::model::StopReason;

at::Tensor load_f32(const SafetensorsFile& f, const std::string& name) {
  const auto& v = f.at(name);
  std::vector<float> data = f.to_float(name);
  return at::tensor(data, at::kFloat).view(v.shape);
}

at::Tensor load_i64(const SafetensorsFile& f, const std::string& name) {
  const auto& v = f.at(name);
  std::vector<int64_t> data = f.to_int64(name);
  return at::tensor(data, at::kLong).view(v.shape);
}

std::vector<int64_t> row(const at::Tensor& t, int64_t b = 0) {
  const at::Tensor r = t[b].contiguous();
  return std::vector<int64_t>(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel());
}

class TinySmolVLM : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = smolvid::test::golden("tiny-smolvlm");
    smolvid::model::ModelOptions o;
    o.threads = 2;
    vlm_ = SmolVLM::load(dir_, o).release();
    cases_ = new SafetensorsFile(dir_ + "/cases.safetensors");
  }
  static void TearDownTestSuite() {
    delete vlm_;
    delete cases_;
  }

  // Case b (one image, batch 1): prompt ids, the image's pixels [1, 3, 64, 64], expected new ids.
  static Prompt case_b() {
    Prompt p;
    p.input_ids = row(load_i64(*cases_, "b_one_image_nosplit.input_ids"));
    p.pixel_values = load_f32(*cases_, "b_one_image_nosplit.pixel_values")[0];
    return p;
  }
  static std::vector<int64_t> expected_b() { return row(load_i64(*cases_, "b_one_image_nosplit.generated_ids")); }

  static std::string dir_;
  static SmolVLM* vlm_;
  static SafetensorsFile* cases_;
};

std::string TinySmolVLM::dir_;
SmolVLM* TinySmolVLM::vlm_ = nullptr;
SafetensorsFile* TinySmolVLM::cases_ = nullptr;

TEST_F(TinySmolVLM, ModuleTreeIsTheCheckpointKeyTree) {
  const SafetensorsFile weights(dir_ + "/model.safetensors");
  std::set<std::string> file_names;
  for (const auto& n : weights.names()) file_names.insert(n);
  std::set<std::string> module_names;
  for (const auto& [name, t] : vlm_->named_parameters()) {
    EXPECT_TRUE(module_names.insert(name).second) << "registered twice: " << name;
    EXPECT_EQ(t.sizes().vec(), weights.at(name).shape) << name;
  }
  EXPECT_EQ(module_names, file_names);
  EXPECT_TRUE(module_names.count("model.vision_model.encoder.layers.1.self_attn.q_proj.weight"));
  EXPECT_TRUE(module_names.count("model.connector.modality_projection.proj.weight"));
}

TEST(PixelShuffle, MatchesTheSpecIndexFormula) {
  // Y[b, R*(P/r) + C, (j*r + i)*D + d] = X[b, (r*R + j)*P + (r*C + i), d]   (spec section 3.5)
  for (int64_t r : {2, 3, 4}) {
    const int64_t p = 12, d = 5, n = 2, q = p / r;
    const at::Tensor x = at::arange(n * p * p * d, at::kFloat).view({n, p * p, d});
    const at::Tensor y = smolvid::model::nn::pixel_shuffle(x, r);
    ASSERT_EQ(y.sizes().vec(), (std::vector<int64_t>{n, q * q, r * r * d}));
    const auto X = x.accessor<float, 3>();
    const at::Tensor yc = y.contiguous();
    const auto Y = yc.accessor<float, 3>();
    for (int64_t b = 0; b < n; ++b)
      for (int64_t R = 0; R < q; ++R)
        for (int64_t C = 0; C < q; ++C)
          for (int64_t j = 0; j < r; ++j)
            for (int64_t i = 0; i < r; ++i)
              for (int64_t e = 0; e < d; ++e)
                ASSERT_EQ(Y[b][R * q + C][(j * r + i) * d + e], X[b][(r * R + j) * p + (r * C + i)][e]);
  }
}

TEST_F(TinySmolVLM, GreedyFromPixelsMatchesTransformersAndReusesCachedFeatures) {
  vlm_->clear_vision_cache();
  GenerationOptions g;
  g.max_new_tokens = 12;
  g.eos_token_ids = std::vector<int64_t>{};
  std::vector<int64_t> streamed;
  const auto first = vlm_->generate(case_b(), g, [&](int64_t t) {
    streamed.push_back(t);
    return true;
  });
  EXPECT_EQ(first.tokens, expected_b());
  EXPECT_EQ(streamed, first.tokens);
  EXPECT_EQ(first.stop_reason, StopReason::kMaxNewTokens);
  EXPECT_EQ(first.timings.images_encoded, 1);
  EXPECT_EQ(first.timings.prompt_tokens, static_cast<int64_t>(case_b().input_ids.size()));
  EXPECT_EQ(first.timings.decode_s.size(), 11u);

  const auto second = vlm_->generate(case_b(), g);
  EXPECT_EQ(second.tokens, expected_b());
  EXPECT_EQ(second.timings.images_encoded, 0);
  EXPECT_EQ(second.timings.images_from_cache, 1);
  EXPECT_EQ(vlm_->vision_cache_size(), 1);

  Prompt with_features = case_b();
  with_features.image_features = vlm_->encode_images(with_features.pixel_values);
  with_features.pixel_values = at::Tensor();
  EXPECT_EQ(with_features.image_features.sizes().vec(), (std::vector<int64_t>{1, 16, 64}));
  EXPECT_EQ(vlm_->generate(with_features, g).tokens, expected_b());
}

TEST_F(TinySmolVLM, TextOnlyGreedyMatchesTransformers) {
  GenerationOptions g;
  g.max_new_tokens = 12;
  g.eos_token_ids = std::vector<int64_t>{};
  Prompt p;
  p.input_ids = row(load_i64(*cases_, "a_text_only.input_ids"));
  EXPECT_EQ(vlm_->generate(p, g).tokens, row(load_i64(*cases_, "a_text_only.generated_ids")));
}

TEST_F(TinySmolVLM, StopsOnEosIncludingIt) {
  const std::vector<int64_t> expected = expected_b();  // 98 71 241 ...
  GenerationOptions g;
  g.max_new_tokens = 12;
  g.eos_token_ids = std::vector<int64_t>{expected[2]};
  const auto r = vlm_->generate(case_b(), g);
  EXPECT_EQ(r.stop_reason, StopReason::kEos);
  EXPECT_EQ(r.tokens, std::vector<int64_t>(expected.begin(), expected.begin() + 3));
}

TEST_F(TinySmolVLM, StopsOnStopStringAndOnCallback) {
  const std::vector<int64_t> expected = expected_b();
  GenerationOptions g;
  g.max_new_tokens = 12;
  g.eos_token_ids = std::vector<int64_t>{};
  g.stop_strings = {"<" + std::to_string(expected[1]) + ">"};
  auto detok = [](const std::vector<int64_t>& ids) {
    std::string s;
    for (int64_t id : ids) s += "<" + std::to_string(id) + ">";
    return s;
  };
  const auto r = vlm_->generate(case_b(), g, {}, detok);
  EXPECT_EQ(r.stop_reason, StopReason::kStopString);
  EXPECT_EQ(r.stop_string, g.stop_strings[0]);
  EXPECT_EQ(r.tokens, std::vector<int64_t>(expected.begin(), expected.begin() + 2));
  EXPECT_THROW(vlm_->generate(case_b(), g), ModelError);  // stop strings without a detokenizer

  GenerationOptions c;
  c.max_new_tokens = 12;
  c.eos_token_ids = std::vector<int64_t>{};
  int calls = 0;
  const auto s = vlm_->generate(case_b(), c, [&](int64_t) { return ++calls < 4; });
  EXPECT_EQ(s.stop_reason, StopReason::kCallback);
  EXPECT_EQ(s.tokens, std::vector<int64_t>(expected.begin(), expected.begin() + 4));
}

TEST_F(TinySmolVLM, SamplingIsSeededAndDegeneratesToGreedy) {
  GenerationOptions g;
  g.max_new_tokens = 12;
  g.eos_token_ids = std::vector<int64_t>{};
  g.do_sample = true;
  g.seed = 7;
  const auto a = vlm_->generate(case_b(), g).tokens;
  EXPECT_EQ(vlm_->generate(case_b(), g).tokens, a);
  bool any_diff = false;
  for (uint64_t seed = 8; seed < 12 && !any_diff; ++seed) {
    g.seed = seed;
    any_diff = vlm_->generate(case_b(), g).tokens != a;
  }
  EXPECT_TRUE(any_diff) << "temperature-1 sampling over 300 tokens gave the same 12 tokens for 5 seeds";

  GenerationOptions k1 = g;
  k1.top_k = 1;  // only the argmax survives
  EXPECT_EQ(vlm_->generate(case_b(), k1).tokens, expected_b());
  GenerationOptions p0 = g;
  p0.top_p = 1e-9;  // only the most likely token survives
  EXPECT_EQ(vlm_->generate(case_b(), p0).tokens, expected_b());
}

TEST_F(TinySmolVLM, RepetitionPenaltyFollowsTransformersRule) {
  // First token with penalty 3: argmax over logits where every prompt id's logit is divided by 3
  // when positive, multiplied by 3 when negative (computed here from the full forward pass).
  const Prompt p = case_b();
  smolvid::model::BatchInputs in;
  in.input_ids = at::tensor(p.input_ids, at::kLong).view({1, -1});
  in.pixel_values = p.pixel_values.unsqueeze(0);
  const at::Tensor logits = vlm_->forward(in).logits[0][-1].to(at::kFloat).clone();
  for (int64_t id : std::set<int64_t>(p.input_ids.begin(), p.input_ids.end())) {
    const float v = logits[id].item<float>();
    logits[id] = v < 0 ? v * 3 : v / 3;
  }
  GenerationOptions g;
  g.max_new_tokens = 1;
  g.repetition_penalty = 3;
  EXPECT_EQ(vlm_->generate(p, g).tokens, std::vector<int64_t>{logits.argmax().item<int64_t>()});
}

TEST_F(TinySmolVLM, ClearErrors) {
  Prompt p = case_b();
  p.pixel_values = at::Tensor();  // image tokens without images
  GenerationOptions g;
  g.max_new_tokens = 2;
  try {
    vlm_->generate(p, g);
    FAIL() << "expected ModelError";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("16 image tokens"), std::string::npos) << e.what();
  }
  GenerationOptions bad;
  bad.top_p = 0;
  EXPECT_THROW(vlm_->generate(case_b(), bad), ModelError);
  GenerationOptions zero;
  zero.max_new_tokens = 0;
  EXPECT_TRUE(vlm_->generate(case_b(), zero).tokens.empty());
  smolvid::model::ModelOptions o;
  o.dtype = "float16";
  EXPECT_THROW(SmolVLM::load(dir_, o), ModelError);
}

}  // namespace
