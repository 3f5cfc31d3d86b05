// The real model behind the Vlm interface, on the tiny SmolVLM2 fixture: token ids identical to
// transformers' greedy generation (../shared/golden/tiny-smolvlm/cases.json), then the jobs end to
// end with real (meaningless) text.
#include <gtest/gtest.h>

#include <fstream>

#include "model/prompt.h"
#include "pipeline/jobs.h"
#include "pipeline/model_smolvlm.h"
#include "tests/pipeline/test_util.h"
#include "tests/test_files.h"
#include "tests/test_support.h"
#include "util/time_format.h"

namespace smolvid::pipeline {
namespace {

const std::string kTiny = smolvid::test::golden("tiny-smolvlm");

std::vector<int64_t> golden_ids(const std::string& case_name, size_t row = 0) {
  std::ifstream in(kTiny + "/cases.json");
  const nlohmann::json cases = nlohmann::json::parse(in);
  for (const auto& c : cases["cases"]) {
    if (c["name"] == case_name) return c["generated_ids"][row].get<std::vector<int64_t>>();
  }
  throw std::runtime_error("no case " + case_name);
}

class TinyModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SmolVlmOptions o;
    o.threads = 1;
    o.image_splitting = false;
    vlm_ = load_smolvlm(kTiny, o).release();
  }
  static void TearDownTestSuite() {
    delete vlm_;
    vlm_ = nullptr;
  }
  static Vlm* vlm_;
};
Vlm* TinyModel::vlm_ = nullptr;

TEST_F(TinyModel, TextOnlyPromptGeneratesTheReferenceTokens) {
  GenerationOptions g;
  g.max_new_tokens = 12;  // the fixture's generation length (its config has no eos)
  std::string streamed;
  const Generation out = vlm_->generate_one(VisualInput{MediaKind::kNone, {}, 0.0}, "Hello, who are you?", g,
                                            [&](const std::string& piece) { streamed += piece; });
  EXPECT_EQ(out.token_ids, golden_ids("a_text_only"));
  EXPECT_EQ(out.prompt_tokens, 38);  // cases.json: input_ids [1, 38]
  EXPECT_EQ(streamed, out.text);
  EXPECT_EQ(out.stop_reason, "max_new_tokens");
}

TEST_F(TinyModel, UnsplitImageGeneratesTheReferenceTokens) {
  AskOptions o;
  o.generation.max_new_tokens = 12;
  const AskResult r = ask(*vlm_, kTiny + "/inputs/img_80x60.png", {"Describe this image."}, o);
  ASSERT_EQ(r.answers.size(), 1u);
  EXPECT_EQ(r.answers[0].token_ids, golden_ids("b_one_image_nosplit"));
  EXPECT_EQ(r.answers[0].prompt_tokens, 57);  // cases.json: logits [1, 57, 300]
}

TEST(TinyModelSplitting, SplitImageGeneratesTheReferenceTokens) {
  // Case c, sample 0: the 120x90 image split into 2x2 tiles + the global image (5 images, one
  // <image> placeholder). It is the longer prompt of the batch, so it carries no left padding and
  // greedy decoding alone must give the batch's tokens.
  SmolVlmOptions so;
  so.threads = 1;
  so.image_splitting = true;
  const std::unique_ptr<Vlm> vlm = load_smolvlm(kTiny, so);
  AskOptions o;
  o.generation.max_new_tokens = 12;
  const AskResult r = ask(*vlm, kTiny + "/inputs/img_120x90.png", {"What is in this picture?"}, o);
  ASSERT_EQ(r.answers.size(), 1u);
  EXPECT_EQ(r.answers[0].prompt_tokens, 136);  // cases.json: input_ids [2, 136], row 0 unpadded
  EXPECT_EQ(r.answers[0].token_ids, golden_ids("c_split_batch2", 0));
}

TEST_F(TinyModel, SeveralQuestionsShareTheFramesAndDeadlinesStopGeneration) {
  AskOptions o;
  o.generation.max_new_tokens = 6;
  o.sampling.max_frames = 4;
  const std::string video = smolvid::test::media("oa4_launch.webm");
  const AskResult two = ask(*vlm_, video, {"What happens?", "Where?"}, o);
  ASSERT_EQ(two.answers.size(), 2u);
  EXPECT_EQ(two.frame_times_s.size(), 4u);
  const AskResult one = ask(*vlm_, video, {"Where?"}, o);
  EXPECT_EQ(one.answers[0].token_ids, two.answers[1].token_ids);  // greedy: same frames, same answer
  o.generation.deadline = Deadline::after_seconds(1e-9);
  EXPECT_THROW(ask(*vlm_, video, {"Where?"}, o), TimeoutError);
}

TEST_F(TinyModel, SummarizeEndToEnd) {
  SummarizeOptions o;
  o.caption_generation.max_new_tokens = 8;
  o.summary_generation.max_new_tokens = 8;
  const Summary s = summarize(*vlm_, smolvid::test::media("oa4_launch.webm"), o);
  ASSERT_EQ(s.segments.size(), 2u);
  EXPECT_NEAR(s.segments[1].start_s, 3.09, 0.05);
  EXPECT_EQ(s.model, kTiny);
  EXPECT_NO_THROW(summary_to_json(s));
}

// Keeps what the jobs hand the model adapter.
class RecordingVlm final : public Vlm {
 public:
  std::vector<Generation> generate(const VisualInput& input, const std::vector<std::string>& prompts, const GenerationOptions&,
                                   const TextCallback&) override {
    inputs.push_back(input);
    return std::vector<Generation>(prompts.size());
  }
  std::string model_name() const override { return "recording"; }
  std::vector<VisualInput> inputs;
};

double ffprobe_number(const std::string& entry, const std::string& path) {
  const auto r = smolvid::test::run_command("ffprobe -v error -select_streams v:0 -show_entries stream=" + entry +
                                            " -of default=nw=1:nk=1 " + smolvid::test::shell_quote(path));
  if (r.exit_code != 0) throw std::runtime_error("ffprobe failed on " + path);
  const size_t slash = r.output.find('/');
  return slash == std::string::npos ? std::stod(r.output) : std::stod(r.output.substr(0, slash)) / std::stod(r.output.substr(slash + 1));
}

// The reference states frame index / fps (seconds since the first frame) in the video prompt. An
// MPEG-TS stream starts at pts 1.6 s (MEDIA.md), so the decoded times must be taken from there:
// what `ask` hands the adapter must give the same "Frame from MM:SS" as index / fps.
TEST(VideoPromptTimes, CountFromTheFirstFrameOnAStreamThatStartsLate) {
  const std::string video = smolvid::test::media("edge/vtest_h264.ts");
  const double start = ffprobe_number("start_time", video);
  const double fps = ffprobe_number("r_frame_rate", video);
  ASSERT_GT(start, 1.0);  // the property under test
  RecordingVlm vlm;
  const AskResult r = ask(vlm, video, {"What happens?"}, AskOptions{});
  ASSERT_EQ(vlm.inputs.size(), 1u);
  const VisualInput& input = vlm.inputs[0];
  ASSERT_EQ(input.frames.size(), 20u);  // smolvlm2: round(20 s * 1 fps) frames
  const model::VideoPromptInfo info = video_prompt_info(input);
  ASSERT_EQ(info.timestamps_s.size(), input.frames.size());
  for (size_t i = 0; i < input.frames.size(); ++i) {
    const double reference = static_cast<double>(input.frames[i].index) / fps;
    EXPECT_NEAR(info.timestamps_s[i], reference, 1e-3) << "frame " << input.frames[i].index;
    EXPECT_NEAR(info.timestamps_s[i], input.frames[i].pts_seconds - start, 1e-3) << "frame " << input.frames[i].index;
    EXPECT_EQ(util::format_mmss(info.timestamps_s[i]), util::format_mmss(reference));
  }
  EXPECT_EQ(util::format_mmss(info.timestamps_s.front()), "00:00");
  EXPECT_NEAR(info.duration_s, 20.0, 0.05);  // ffprobe duration (MEDIA.md: 20.00 s)
}

}  // namespace
}  // namespace smolvid::pipeline
