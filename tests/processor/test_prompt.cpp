// Prompt building vs golden/video/video.json (SmolVLM2 video prompts, transformers 4.50 +
// num2words 0.5.10) and the spec's examples.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/prompt.h"
#include "model/safetensors.h"
#include "tests/test_support.h"
#include "util/time_format.h"

namespace smolvid::model {
namespace {

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

nlohmann::json video_json() {
  std::ifstream in(test::golden("video/video.json"));
  if (!in) throw std::runtime_error("cannot open video.json");
  return nlohmann::json::parse(in);
}

TEST(ImagePrompt, SpecTwoByTwoExample) {
  const std::string I = repeat("<image>", 64);
  const std::string expected =
      "<fake_token_around_image><row_1_col_1>" + I + "<fake_token_around_image><row_1_col_2>" + I + "\n" +
      "<fake_token_around_image><row_2_col_1>" + I + "<fake_token_around_image><row_2_col_2>" + I + "\n\n" +
      "<fake_token_around_image><global-img>" + I + "<fake_token_around_image>";
  EXPECT_EQ(image_prompt_string(2, 2, 64), expected);
  EXPECT_EQ(image_prompt_string(0, 0, 3),
            "<fake_token_around_image><global-img><image><image><image><fake_token_around_image>");
}

TEST(ImagePrompt, PlacementKeepsSurroundingTextVerbatim) {
  const std::string single = image_prompt_string(0, 0, 2);
  EXPECT_EQ(expand_image_tokens("a <image>b<image>", {{0, 0}, {0, 0}}, 2), "a " + single + "b" + single);
  EXPECT_EQ(expand_image_tokens("no images", {}, 2), "no images");
  EXPECT_THROW(expand_image_tokens("<image><image>", {{0, 0}}, 2), PromptError);
  EXPECT_THROW(expand_image_tokens("text", {{0, 0}}, 2), PromptError);
  EXPECT_THROW(image_prompt_string(1, 0, 2), PromptError);
}

TEST(VideoPrompt, NumberWords) {
  EXPECT_EQ(number_to_words(0), "zero");
  EXPECT_EQ(number_to_words(1), "one");
  EXPECT_EQ(number_to_words(13), "thirteen");
  EXPECT_EQ(number_to_words(21), "twenty-one");
  EXPECT_EQ(number_to_words(40), "forty");
  EXPECT_EQ(number_to_words(64), "sixty-four");
  EXPECT_EQ(number_to_words(100), "one hundred");
  EXPECT_EQ(number_to_words(101), "one hundred and one");
  EXPECT_EQ(number_to_words(1000), "one thousand");
  EXPECT_EQ(number_to_words(1005), "one thousand and five");
  EXPECT_EQ(number_to_words(1234), "one thousand, two hundred and thirty-four");
  EXPECT_THROW(number_to_words(-1), PromptError);
}

// The intro and frame times themselves are util/time_format (tests/util); here: no frames.
TEST(VideoPrompt, NoFramesIsAnError) { EXPECT_THROW(video_content_pieces(VideoPromptInfo{3.0, {}}), PromptError); }

// Every sampling case of video.json: the intro sentence for the sampled frame count and the
// MM:SS of each sampled index (timestamp = index / native fps, which is what the decoder's
// presentation times are for these constant-rate cases).
TEST(VideoPromptGolden, SamplingCasesIntroAndTimestamps) {
  const nlohmann::json j = video_json();
  ASSERT_FALSE(j.at("sampling").empty());
  for (const auto& c : j.at("sampling")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const double fps = c.at("native_fps").get<double>();
    const double duration = c.at("duration_s").get<double>();
    for (const char* skip : {"skip_secs=1", "skip_secs=0"}) {
      const auto indices = c.at(skip).at("indices").get<std::vector<int64_t>>();
      const auto stamps = c.at(skip).at("timestamps").get<std::vector<std::string>>();
      ASSERT_EQ(indices.size(), stamps.size());
      for (size_t i = 0; i < indices.size(); ++i) EXPECT_EQ(util::format_mmss(indices[i] / fps), stamps[i]) << skip << " " << i;
    }
    const size_t n = c.at("skip_secs=1").at("indices").size();
    EXPECT_EQ(video_intro_text(static_cast<int>(n), duration), c.at("intro_text").get<std::string>());
  }
}

// The reference frame choice of spec 5.3 (NumPy linspace order of operations), only to know
// which frames the fixture files used; the sampler module owns the product's implementation.
std::vector<int64_t> reference_indices(int64_t total, double fps, double duration) {
  const int64_t desired = std::max<int64_t>(1, std::min<int64_t>(64, static_cast<int64_t>(std::nearbyint(duration))));
  int64_t start = 0, end = total - 1;
  if (duration - 2 > 64) {
    start = static_cast<int64_t>(fps);
    end = static_cast<int64_t>(total - fps);
  }
  std::vector<int64_t> out;
  if (desired == 1) return {start};
  const double step = static_cast<double>(end - start) / (desired - 1);
  for (int64_t i = 0; i < desired; ++i) out.push_back(static_cast<int64_t>(std::floor(i * step + start)));
  out.back() = end;
  return out;
}

TEST(VideoPromptGolden, FilesRenderedAndExpandedPrompts) {
  const nlohmann::json j = video_json();
  const int seq_len = j.at("settings").at("image_seq_len").get<int>();
  ASSERT_EQ(j.at("files").size(), 2u);
  for (const auto& f : j.at("files")) {
    SCOPED_TRACE(f.at("file").get<std::string>());
    const int64_t frames = f.at("container_info_seen_by_pyav").at("frames").get<int64_t>();
    const std::string rate = f.at("container_info_seen_by_pyav").at("average_rate").get<std::string>();
    const size_t slash = rate.find('/');
    const double fps = slash == std::string::npos ? std::stod(rate) : std::stod(rate.substr(0, slash)) / std::stod(rate.substr(slash + 1));
    const double duration = frames / fps;  // PyAV path: total frames / average rate
    VideoPromptInfo info;
    info.duration_s = duration;
    for (int64_t idx : reference_indices(frames, fps, duration)) info.timestamps_s.push_back(idx / fps);

    const nlohmann::json& msg = f.at("messages").at(0);
    const std::string question = msg.at("content").at(1).at("text").get<std::string>();
    // The chat template (rendered by the chat module) writes "User: " + the content items; the
    // video item became text and <image> items.
    const std::string rendered = "<|im_start|>User: " + video_prompt_text(info) + question + "<end_of_utterance>\nAssistant:";
    EXPECT_EQ(rendered, f.at("rendered_chat_prompt").get<std::string>());
    const std::vector<std::pair<int, int>> grid(info.timestamps_s.size(), {0, 0});
    EXPECT_EQ(expand_image_tokens(rendered, grid, seq_len), f.at("expanded_prompt").get<std::string>());
    const auto shape = f.at("pixel_values_shape").get<std::vector<int64_t>>();
    EXPECT_EQ(shape[1], static_cast<int64_t>(info.timestamps_s.size()));
  }
}

TEST(VideoPrompt, PiecesAlternateTextAndImages) {
  const VideoPromptInfo info{2.0, {0.0, 1.0}};
  const std::vector<PromptPiece> p = video_content_pieces(info);
  ASSERT_EQ(p.size(), 6u);
  EXPECT_EQ(p[0].text, "You are provided the following series of two frames from a 0:00:02 [H:MM:SS] video.\n");
  EXPECT_EQ(p[1].text, "\nFrame from 00:00:");
  EXPECT_EQ(p[2].kind, PromptPiece::Kind::kImage);
  EXPECT_EQ(p[3].text, "\nFrame from 00:01:");
  EXPECT_EQ(p[5].text, "\n\n");
}

}  // namespace
}  // namespace smolvid::model
