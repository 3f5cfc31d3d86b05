// `smolvid debug preprocess` and `smolvid debug video-prompt` run as a user would, compared with
// the transformers fixtures (golden/tiny-smolvlm, golden/video).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "model/safetensors.h"
#include "tests/test_files.h"
#include "tests/test_support.h"

namespace smolvid::model {
namespace {

// Runs the smolvid binary with `args`; returns stdout and the exit status.
std::pair<std::string, int> run_smolvid(const std::vector<std::string>& args) {
  const test::CommandResult r = test::run_command(test::shell_words({test::smolvid_binary()}) + " " + test::shell_words(args));
  return {r.output, r.exit_code};
}

std::string temp_path(const std::string& name) {
  return (testing::TempDir().empty() ? std::string("/tmp/") : testing::TempDir()) + "smolvid_" + std::to_string(getpid()) + "_" + name;
}

std::string decode_tiny_ids(const std::vector<int64_t>& ids) {
  // golden README: byte b -> id 3 + b; fixed ids for the special tokens.
  std::string out;
  for (int64_t id : ids) {
    if (id >= 3 && id < 259) out += static_cast<char>(id - 3);
    else if (id == 1) out += "<|im_start|>";
    else if (id == 259) out += "<global-img>";
    else if (id >= 260 && id < 296) out += "<row_" + std::to_string((id - 260) / 6 + 1) + "_col_" + std::to_string((id - 260) % 6 + 1) + ">";
    else if (id == 296) out += "<fake_token_around_image>";
    else if (id == 297) out += "<image>";
    else if (id == 299) out += "<end_of_utterance>";
    else out += "<id " + std::to_string(id) + ">";
  }
  return out;
}

TEST(DebugPreprocess, MatchesTinyModelCaseB) {
  const std::string dir = test::golden("tiny-smolvlm");
  const std::string out = temp_path("pre.safetensors");
  const std::string prompt = "<|im_start|>User:<image>Describe this image.<end_of_utterance>\nAssistant:";
  const auto [stdout_text, rc] =
      run_smolvid({"debug", "preprocess", "--model", dir, dir + "/inputs/img_80x60.png", "--no-split", "--prompt", prompt, "--out", out});
  ASSERT_EQ(rc, 0) << stdout_text;
  const nlohmann::json j = nlohmann::json::parse(stdout_text);
  EXPECT_EQ(j.at("rows"), 0);
  EXPECT_EQ(j.at("cols"), 0);

  const SafetensorsFile ours(out);
  const SafetensorsFile ref(dir + "/cases.safetensors");
  EXPECT_EQ(ours.at("pixel_values").shape, ref.at("b_one_image_nosplit.pixel_values").shape);
  EXPECT_EQ(ours.to_float("pixel_values"), ref.to_float("b_one_image_nosplit.pixel_values"));
  EXPECT_EQ(ours.to_int64("pixel_attention_mask"), ref.to_int64("b_one_image_nosplit.pixel_attention_mask"));
  const std::string expanded = decode_tiny_ids(ref.to_int64("b_one_image_nosplit.input_ids"));
  EXPECT_EQ(ours.metadata().at("expanded_prompt"), expanded);
  EXPECT_EQ(j.at("expanded_prompt").get<std::string>(), expanded);
  std::remove(out.c_str());
}

TEST(DebugPreprocess, FailsCleanlyOnAMissingImage) {
  const auto [text, rc] = run_smolvid({"debug", "preprocess", "--model", test::golden("tiny-smolvlm"), "/nonexistent.png"});
  EXPECT_EQ(rc, 1);
  EXPECT_TRUE(text.empty());
}

TEST(DebugVideoPrompt, MatchesVideoFixtures) {
  std::ifstream in(test::golden("video/video.json"));
  const nlohmann::json golden = nlohmann::json::parse(in);
  const SafetensorsFile ids(test::golden("video/frames.safetensors"));
  // The fixtures used the SmolVLM2-256M processor settings (image_seq_len 64, video size 512) and
  // the tiny tokenizer.
  const std::string model = test::reference("configs/SmolVLM2-256M-Video-Instruct/reconstructed");
  for (const auto& f : golden.at("files")) {
    const std::string file = f.at("file").get<std::string>();
    SCOPED_TRACE(file);
    const std::string question = f.at("messages").at(0).at("content").at(1).at("text").get<std::string>();
    const auto [text, rc] = run_smolvid({"debug", "video-prompt", "--model", model, "--tokenizer", test::golden("tiny-smolvlm"),
                                         test::golden("video/" + file), question});
    ASSERT_EQ(rc, 0) << text;
    const nlohmann::json j = nlohmann::json::parse(text);
    EXPECT_EQ(j.at("rendered_chat_prompt"), f.at("rendered_chat_prompt"));
    EXPECT_EQ(j.at("expanded_prompt"), f.at("expanded_prompt"));
    const std::string stem = file.substr(file.rfind('/') + 1, file.size() - file.rfind('/') - 5);
    EXPECT_EQ(j.at("input_ids").get<std::vector<int64_t>>(), ids.to_int64(stem + ".input_ids"));
    EXPECT_EQ(j.at("pixel_values_shape"), f.at("pixel_values_shape"));
    // Frame means depend on the decoder (libavcodec in both); allow a small difference.
    const auto& ours = j.at("frame_mean_rgb");
    const auto& ref = f.at("frame_mean_rgb");
    ASSERT_EQ(ours.size(), ref.size());
    for (size_t t = 0; t < ref.size(); ++t)
      for (size_t c = 0; c < 3; ++c) EXPECT_NEAR(ours[t][c].get<double>(), ref[t][c].get<double>(), 0.02) << t << " " << c;
  }
}

}  // namespace
}  // namespace smolvid::model
