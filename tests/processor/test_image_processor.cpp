// The image processor vs the transformers 4.50 + Pillow 9.4 fixtures (golden/processor,
// golden/tiny-smolvlm) and the worked examples of spec section 4.10.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fmt/core.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/image_processor.h"
#include "model/prompt.h"
#include "model/safetensors.h"
#include "tests/processor/image_io.h"
#include "tests/test_support.h"

namespace smolvid::model {
namespace {

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(in);
}

// One normalized unit is 2/255 of a uint8 level with mean = std = 0.5.
constexpr double kLevel = 2.0 / 255.0;

// Agreement of our float pixel values with the reference's, counted over many comparisons.
struct Agreement {
  int64_t total = 0;
  int64_t identical = 0;
  double max_diff = 0.0;
  std::string first_diff;

  void add(float ours, float ref, const std::string& where) {
    ++total;
    if (ours == ref) {
      ++identical;
      return;
    }
    const double d = std::fabs(static_cast<double>(ours) - ref);
    if (first_diff.empty()) first_diff = fmt::format("{}: ours {} ref {}", where, ours, ref);
    max_diff = std::max(max_diff, d);
  }
  double identical_pct() const { return total ? 100.0 * identical / total : 0.0; }
  std::string summary() const {
    return fmt::format("{} values, {:.4f}% identical, max diff {:.6f} ({:.2f} uint8 levels){}", total, identical_pct(),
                       max_diff, max_diff / kLevel, first_diff.empty() ? "" : "; first: " + first_diff);
  }
  // The bar: >= 99.9 % identical and never more than 2 uint8 levels apart.
  void expect_within_bar(const std::string& name) const {
    EXPECT_GT(total, 0) << name;
    EXPECT_GE(identical_pct(), 99.9) << name << ": " << summary();
    EXPECT_LE(max_diff, 2 * kLevel + 1e-6) << name << ": " << summary();
  }
};

PreprocessorConfig settings_config(const nlohmann::json& settings) {
  return parse_preprocessor_config(settings.dump(), "processor.json settings");
}

// ---- spec 4.10 worked examples: step 1 / step 2 sizes and the grid ------------------------------

struct SizeCase {
  int w, h, L, M;
  int w1, h1, w2, h2, rows, cols;
};

TEST(ImageProcessorGeometry, SpecWorkedExamples) {
  // Spec section 4.10 table (w x h): step1 -> step2 -> rows x cols.
  const SizeCase cases[] = {
      {640, 480, 2048, 512, 2048, 1536, 2048, 1536, 3, 4},   {480, 640, 2048, 512, 1536, 2048, 1536, 2048, 4, 3},
      {1024, 1024, 2048, 512, 2048, 2048, 2048, 2048, 4, 4}, {1920, 1080, 2048, 512, 2048, 1152, 2048, 1536, 3, 4},
      {2000, 500, 2048, 512, 2048, 512, 2048, 512, 1, 4},    {100, 100, 2048, 512, 2048, 2048, 2048, 2048, 4, 4},
      {640, 427, 2048, 512, 2048, 1366, 2048, 1536, 3, 4},   {640, 480, 1536, 384, 1536, 1152, 1536, 1152, 3, 4},
      {1920, 1080, 1536, 384, 1536, 864, 1536, 1152, 3, 4},  {2000, 500, 1536, 384, 1536, 384, 1536, 384, 1, 4},
      {640, 427, 1536, 384, 1536, 1024, 1536, 1152, 3, 4},
  };
  for (const SizeCase& c : cases) {
    SCOPED_TRACE(fmt::format("{}x{} L={} M={}", c.w, c.h, c.L, c.M));
    const auto s1 = longest_edge_size(c.h, c.w, c.L);
    EXPECT_EQ(s1[1], c.w1);
    EXPECT_EQ(s1[0], c.h1);
    const auto s2 = tile_multiple_size(s1[0], s1[1], c.M);
    EXPECT_EQ(s2[1], c.w2);
    EXPECT_EQ(s2[0], c.h2);
    EXPECT_EQ(s2[0] / c.M, c.rows);
    EXPECT_EQ(s2[1] / c.M, c.cols);
  }
}

TEST(ImageProcessorGeometry, SplitProducesTilesThenGlobalOfTileSize) {
  ImageProcessorConfig cfg;
  cfg.longest_edge = 96;
  cfg.max_image_size = 32;
  Image8 img(50, 20, 3);
  for (size_t i = 0; i < img.data.size(); ++i) img.data[i] = static_cast<uint8_t>(i * 7);
  const SplitImage sp = ImageProcessor(cfg).split(img);
  // 50x20 -> 96x38 (trunc 38.4, even) -> 96x64 -> 2 rows x 3 cols + global.
  EXPECT_EQ(sp.rows, 2);
  EXPECT_EQ(sp.cols, 3);
  ASSERT_EQ(sp.images.size(), 7u);
  for (const Image8& t : sp.images) {
    EXPECT_EQ(t.width, 32);
    EXPECT_EQ(t.height, 32);
    EXPECT_EQ(t.channels, 3);
  }
  const std::vector<std::array<int, 2>> calls = {{38, 96}, {64, 96}, {32, 32}};
  EXPECT_EQ(sp.resize_calls_hw, calls);
}

TEST(ImageProcessorGeometry, RejectsBadInput) {
  ImageProcessor proc{ImageProcessorConfig{}};
  Image8 two;
  two.width = 4;
  two.height = 4;
  two.channels = 2;
  two.data.assign(32, 0);
  EXPECT_THROW(proc.split(two), ImageError);
  EXPECT_THROW(proc.preprocess({}), ImageError);
  EXPECT_THROW(ImageProcessorConfig::from_file("/nonexistent/preprocessor_config.json"), std::exception);
}

TEST(ImageProcessorNormalize, RescaleThenNormalizeInFloat) {
  ImageProcessorConfig cfg;
  cfg.rescale_factor = 0.00392156862745098;
  Image8 img(3, 1, 3);
  img.data = {0, 0, 0, 255, 255, 255, 128, 1, 254};
  const std::vector<float> v = rescale_normalize(img, cfg);
  ASSERT_EQ(v.size(), 9u);
  // channel-first: v[c*3 + x]
  EXPECT_EQ(v[0], -1.0f);
  EXPECT_EQ(v[1], 1.0f);
  const float x128 = static_cast<float>(128 * 0.00392156862745098);
  EXPECT_EQ(v[2], (x128 - 0.5f) / 0.5f);
  const float x1 = static_cast<float>(1 * 0.00392156862745098);
  EXPECT_EQ(v[3 + 2], (x1 - 0.5f) / 0.5f);
}

// ---- golden/processor ---------------------------------------------------------------------------

class ProcessorGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    json_ = new nlohmann::json(read_json(test::golden("processor/processor.json")));
    tensors_ = new SafetensorsFile(test::golden("processor/processor.safetensors"));
  }
  static void TearDownTestSuite() {
    delete json_;
    delete tensors_;
  }
  static nlohmann::json* json_;
  static SafetensorsFile* tensors_;
};
nlohmann::json* ProcessorGolden::json_ = nullptr;
SafetensorsFile* ProcessorGolden::tensors_ = nullptr;

TEST_F(ProcessorGolden, EveryImageAndSetting) {
  const nlohmann::json& j = *json_;
  const std::string prompt = j.at("prompt").get<std::string>();
  std::map<std::string, Agreement> agreement;  // per setting
  Agreement means;
  for (const auto& [name, image_info] : j.at("images").items()) {
    const Image8 img = test::read_png(test::golden("processor/" + image_info.at("file").get<std::string>()));
    ASSERT_EQ(img.width, image_info.at("width").get<int>()) << name;
    ASSERT_EQ(img.height, image_info.at("height").get<int>()) << name;
    for (const std::string size_name : {"real", "small"}) {
      const ImageProcessorConfig cfg = ImageProcessorConfig::from_preprocessor(settings_config(j.at(size_name + "_settings")));
      // image_seq_len of the fixtures: 64 for the real settings, 4 for the small ones (README).
      const int seq_len = size_name == "real" ? 64 : 4;
      const ImageProcessor proc(cfg);
      for (const bool split : {true, false}) {
        const std::string setting = size_name + (split ? ".split" : ".nosplit");
        const std::string key = name + "." + setting;
        SCOPED_TRACE(key);
        const nlohmann::json& ref = image_info.at("smolvlm." + setting);
        ImageProcessOptions opts;
        opts.do_image_splitting = split;
        const SplitImage sp = proc.split(img, opts);
        EXPECT_EQ(sp.rows, ref.at("rows").get<int>());
        EXPECT_EQ(sp.cols, ref.at("cols").get<int>());
        EXPECT_EQ(static_cast<int>(sp.images.size()), ref.at("num_tiles").get<int>());
        std::vector<std::array<int, 2>> calls;
        for (const auto& c : ref.at("resize_calls_hw")) calls.push_back({c[0].get<int>(), c[1].get<int>()});
        EXPECT_EQ(sp.resize_calls_hw, calls);
        EXPECT_EQ(expand_image_tokens(prompt, {{sp.rows, sp.cols}}, seq_len), ref.at("expanded_prompt").get<std::string>());
        // Idefics3 and SmolVLM give identical prompts.
        EXPECT_EQ(ref.at("expanded_prompt"), image_info.at("idefics3." + setting).at("expanded_prompt"));

        const PixelBatch b = proc.preprocess({{img}}, opts);
        std::vector<int64_t> shape;
        for (const auto& v : ref.at("pixel_values_shape")) shape.push_back(v.get<int64_t>());
        EXPECT_EQ(b.pixel_values_shape(), shape);
        EXPECT_TRUE(std::all_of(b.pixel_attention_mask.begin(), b.pixel_attention_mask.end(), [](uint8_t m) { return m == 1; }));
        const int64_t n = b.num_images, h = b.height, w = b.width;
        auto at = [&](int64_t t, int64_t c, int64_t y, int64_t x) { return b.pixel_values[((t * 3 + c) * h + y) * w + x]; };
        Agreement& agree = agreement[setting];
        if (size_name == "small") {
          const std::vector<float> ref_pv = tensors_->to_float(key + ".pixel_values");
          ASSERT_EQ(static_cast<int64_t>(ref_pv.size()), n * 3 * h * w);
          for (size_t i = 0; i < ref_pv.size(); ++i) agree.add(b.pixel_values[i], ref_pv[i], fmt::format("{}[{}]", key, i));
        } else {
          const std::vector<int64_t> idx = tensors_->to_int64(key + ".sample_index");
          const std::vector<float> val = tensors_->to_float(key + ".sample_value");
          ASSERT_EQ(idx.size(), val.size() * 4);
          for (size_t i = 0; i < val.size(); ++i) {
            agree.add(at(idx[4 * i], idx[4 * i + 1], idx[4 * i + 2], idx[4 * i + 3]), val[i],
                      fmt::format("{} sample {} (t{} c{} y{} x{})", key, i, idx[4 * i], idx[4 * i + 1], idx[4 * i + 2],
                                  idx[4 * i + 3]));
          }
          const std::vector<float> first = tensors_->to_float(key + ".first_tile_row0");
          const std::vector<float> last = tensors_->to_float(key + ".last_tile_row0");
          ASSERT_EQ(static_cast<int64_t>(first.size()), 3 * w);
          for (int64_t c = 0; c < 3; ++c) {
            for (int64_t x = 0; x < w; ++x) {
              agree.add(at(0, c, 0, x), first[c * w + x], fmt::format("{} first tile row0 c{} x{}", key, c, x));
              agree.add(at(n - 1, c, 0, x), last[c * w + x], fmt::format("{} global row0 c{} x{}", key, c, x));
            }
          }
        }
        // Per tile, per channel means (float64 in the fixture) over every pixel.
        const nlohmann::json& ref_means = ref.at("tile_channel_mean");
        ASSERT_EQ(static_cast<int64_t>(ref_means.size()), n);
        for (int64_t t = 0; t < n; ++t) {
          for (int64_t c = 0; c < 3; ++c) {
            double sum = 0;
            for (int64_t y = 0; y < h; ++y)
              for (int64_t x = 0; x < w; ++x) sum += at(t, c, y, x);
            const double d = std::fabs(sum / (h * w) - ref_means[t][c].get<double>());
            means.max_diff = std::max(means.max_diff, d);
            EXPECT_LT(d, 1e-4) << "tile " << t << " channel " << c;
          }
        }
      }
    }
  }
  for (const auto& [setting, a] : agreement) {
    std::printf("[pixel agreement] %-13s %s\n", setting.c_str(), a.summary().c_str());
    a.expect_within_bar(setting);
  }
  std::printf("[pixel agreement] tile channel means: max abs diff %.3g\n", means.max_diff);
}

TEST_F(ProcessorGolden, BatchPaddingWithZeroImages) {
  const nlohmann::json& j = *json_;
  const nlohmann::json& info = j.at("batch.smolvlm.small");
  const ImageProcessorConfig cfg = ImageProcessorConfig::from_preprocessor(settings_config(j.at("small_settings")));
  std::vector<std::vector<Image8>> samples;
  for (const auto& sample : info.at("images")) {
    samples.emplace_back();
    for (const auto& name : sample) {
      const std::string file = j.at("images").at(name.get<std::string>()).at("file").get<std::string>();
      samples.back().push_back(test::read_png(test::golden("processor/" + file)));
    }
  }
  const PixelBatch b = ImageProcessor(cfg).preprocess(samples);
  std::vector<int64_t> shape;
  for (const auto& v : info.at("pixel_values_shape")) shape.push_back(v.get<int64_t>());
  EXPECT_EQ(b.pixel_values_shape(), shape);
  EXPECT_EQ(b.rows, info.at("rows").get<std::vector<std::vector<int>>>());
  EXPECT_EQ(b.cols, info.at("cols").get<std::vector<std::vector<int>>>());
  const std::vector<float> ref_pv = tensors_->to_float("batch.small.pixel_values");
  const std::vector<int64_t> ref_mask = tensors_->to_int64("batch.small.pixel_attention_mask");
  ASSERT_EQ(ref_pv.size(), b.pixel_values.size());
  ASSERT_EQ(ref_mask.size(), b.pixel_attention_mask.size());
  Agreement a;
  for (size_t i = 0; i < ref_pv.size(); ++i) a.add(b.pixel_values[i], ref_pv[i], fmt::format("batch[{}]", i));
  a.expect_within_bar("batch.small");
  int64_t mask_mismatch = 0;
  for (size_t i = 0; i < ref_mask.size(); ++i) mask_mismatch += ref_mask[i] != b.pixel_attention_mask[i];
  EXPECT_EQ(mask_mismatch, 0);
  // Sample 0 has 13 real images and 13 padding ones: all zero, mask 0.
  const size_t img_len = static_cast<size_t>(3 * b.height * b.width);
  EXPECT_EQ(b.images_per_sample[0], 13);
  for (int64_t t = 13; t < b.num_images; ++t) {
    EXPECT_TRUE(std::all_of(b.pixel_values.begin() + t * img_len, b.pixel_values.begin() + (t + 1) * img_len,
                            [](float v) { return v == 0.0f; }));
  }
}

// ---- golden/tiny-smolvlm: the processor inputs of the model cases -------------------------------

// The tiny tokenizer is byte-level with fixed ids (golden README): decoding input_ids by hand is
// an independent view of the exact prompt string the reference processor built.
std::string decode_tiny_ids(const std::vector<int64_t>& ids, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    const int64_t id = ids[i];
    if (id >= 3 && id < 259) {
      out += static_cast<char>(id - 3);
    } else if (id == 259) {
      out += "<global-img>";
    } else if (id >= 260 && id < 296) {
      out += fmt::format("<row_{}_col_{}>", (id - 260) / 6 + 1, (id - 260) % 6 + 1);
    } else if (id == 296) {
      out += "<fake_token_around_image>";
    } else if (id == 297) {
      out += "<image>";
    } else if (id == 299) {
      out += "<end_of_utterance>";
    } else if (id == 1) {
      out += "<|im_start|>";
    } else {
      out += fmt::format("<id {}>", id);
    }
  }
  return out;
}

class TinyModelCases : public ::testing::TestWithParam<const char*> {};

TEST_P(TinyModelCases, PixelValuesAndExpandedPrompts) {
  const std::string dir = test::golden(std::string(GetParam()) + "/");
  const nlohmann::json cases = read_json(dir + "cases.json");
  const SafetensorsFile tensors(dir + "cases.safetensors");
  const ImageProcessorConfig cfg = ImageProcessorConfig::from_file(dir + "preprocessor_config.json");
  const int seq_len = static_cast<int>(load_processor_config(dir + "processor_config.json").image_seq_len);
  const ImageProcessor proc(cfg);
  struct Case {
    const char* name;
    bool split;
  };
  Agreement a;
  for (const Case c : {Case{"b_one_image_nosplit", false}, Case{"c_split_batch2", true}, Case{"e_left_padding_batch2", false}}) {
    SCOPED_TRACE(c.name);
    const nlohmann::json* info = nullptr;
    for (const auto& k : cases.at("cases"))
      if (k.at("name") == c.name) info = &k;
    ASSERT_NE(info, nullptr);
    const auto files = info->at("input_images").get<std::vector<std::string>>();
    const auto prompts = info->at("prompts_expanded").get<std::vector<std::string>>();
    // One image per prompt in these cases.
    ASSERT_EQ(files.size(), prompts.size());
    std::vector<std::vector<Image8>> samples;
    for (const std::string& f : files) samples.push_back({test::read_png(dir + f)});
    ImageProcessOptions opts;
    opts.do_image_splitting = c.split;
    const PixelBatch b = proc.preprocess(samples, opts);
    const std::string base = std::string(c.name) + ".";
    const TensorView& pv = tensors.at(base + "pixel_values");
    EXPECT_EQ(b.pixel_values_shape(), pv.shape);
    const std::vector<float> ref_pv = tensors.to_float(base + "pixel_values");
    const std::vector<int64_t> ref_mask = tensors.to_int64(base + "pixel_attention_mask");
    ASSERT_EQ(ref_pv.size(), b.pixel_values.size());
    for (size_t i = 0; i < ref_pv.size(); ++i) a.add(b.pixel_values[i], ref_pv[i], fmt::format("{}[{}]", base, i));
    ASSERT_EQ(ref_mask.size(), b.pixel_attention_mask.size());
    for (size_t i = 0; i < ref_mask.size(); ++i) ASSERT_EQ(ref_mask[i], b.pixel_attention_mask[i]) << i;

    const std::vector<int64_t> ids = tensors.to_int64(base + "input_ids");
    const std::vector<int64_t> mask = tensors.to_int64(base + "attention_mask");
    const size_t len = ids.size() / prompts.size();
    for (size_t s = 0; s < prompts.size(); ++s) {
      size_t first = s * len;
      while (first < (s + 1) * len && mask[first] == 0) ++first;  // left padding
      const std::string expanded = expand_image_tokens(prompts[s], {{b.rows[s][0], b.cols[s][0]}}, seq_len);
      EXPECT_EQ(expanded, decode_tiny_ids(ids, first, (s + 1) * len)) << "sample " << s;
    }
  }
  std::printf("[pixel agreement] %s cases b/c/e: %s\n", GetParam(), a.summary().c_str());
  a.expect_within_bar("tiny cases");
}

INSTANTIATE_TEST_SUITE_P(AllTinyModels, TinyModelCases,
                         ::testing::Values("tiny-idefics3", "tiny-idefics3-sf4", "tiny-smolvlm", "tiny-smolvlm-sf4"));

}  // namespace
}  // namespace smolvid::model
