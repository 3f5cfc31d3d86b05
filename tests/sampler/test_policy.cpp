// The metadata-only policies: smolvlm2 against the transformers goldens (video.json), uniform
// and keyframes against hand-checked arithmetic.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "sampler/policy.h"
#include "tests/test_support.h"
#include "util/time_format.h"

namespace smolvid::sampler {
namespace {

nlohmann::json load_video_golden() {
  std::ifstream in(test::golden("video/video.json"));
  EXPECT_TRUE(in.good()) << "cannot open " << test::golden("video/video.json");
  return nlohmann::json::parse(in);
}

TEST(Smolvlm2, MatchesEveryGoldenCaseBothSkipSettings) {
  const auto golden = load_video_golden();
  const auto& settings = golden.at("settings");
  ASSERT_EQ(golden.at("sampling").size(), 12u);
  for (const auto& c : golden.at("sampling")) {
    for (double skip : {1.0, 0.0}) {
      SCOPED_TRACE(c.at("name").get<std::string>() + (skip > 0 ? " skip_secs=1" : " skip_secs=0"));
      const auto& want = c.at(skip > 0 ? "skip_secs=1" : "skip_secs=0");
      Smolvlm2Options o;
      o.target_fps = settings.at("video_sampling").at("fps").get<double>();
      o.max_frames = settings.at("video_sampling").at("max_frames").get<int>();
      o.skip_secs = skip;
      VideoMeta meta;
      meta.duration_s = c.at("duration_s").get<double>();
      meta.fps = c.at("native_fps").get<double>();
      meta.frame_count = c.at("total_num_frames").get<int64_t>();
      EXPECT_EQ(smolvlm2_indices(meta.frame_count, meta.fps, meta.duration_s, o),
                want.at("indices").get<std::vector<int64_t>>());
      const Selection sel = sample_smolvlm2(meta, o);
      std::vector<std::string> labels;
      for (const auto& p : sel.picks) {
        labels.push_back(p.label);
        EXPECT_FALSE(p.reason.empty());
      }
      EXPECT_EQ(labels, want.at("timestamps").get<std::vector<std::string>>());
      EXPECT_DOUBLE_EQ(sel.duration_s, meta.duration_s);
    }
  }
}

TEST(Smolvlm2, IntroDurationMatchesGolden) {
  const auto golden = load_video_golden();
  for (const auto& c : golden.at("sampling")) {
    const std::string intro = c.at("intro_text");
    const std::string want = intro.substr(intro.find(" from a ") + 8, intro.find(" [H:MM:SS]") - intro.find(" from a ") - 8);
    EXPECT_EQ(util::format_hmmss(c.at("duration_s").get<double>()), want) << c.at("name");
  }
}

TEST(Smolvlm2, SpecTableExamples) {
  // spec 5.3 table: 75 frames, 30 fps, 2.5 s -> round(2.5) = 2 (half to even) -> 0, 74.
  EXPECT_EQ(smolvlm2_indices(75, 30.0, 2.5), (std::vector<int64_t>{0, 74}));
  // 3.5 s rounds up to 4 (half to even), 4.5 rounds down to 4.
  EXPECT_EQ(smolvlm2_indices(45, 10.0, 4.5).size(), 4u);
  EXPECT_EQ(smolvlm2_indices(35, 10.0, 3.5).size(), 4u);
  // a very short clip still gives one frame
  EXPECT_EQ(smolvlm2_indices(1, 25.0, 0.04), (std::vector<int64_t>{0}));
}

TEST(Smolvlm2, PicksAimInsideTheChosenFrame) {
  VideoMeta meta{10.0, 30.0, 300, 0.54, {}};
  const auto sel = sample_smolvlm2(meta);
  ASSERT_EQ(sel.picks.size(), 10u);
  for (const auto& p : sel.picks) {
    const double frame_start = 0.54 + static_cast<double>(p.index) / 30.0;
    EXPECT_GT(p.time_s, frame_start);
    EXPECT_LT(p.time_s, frame_start + 1.0 / 30.0);
    EXPECT_DOUBLE_EQ(p.offset_s, static_cast<double>(p.index) / 30.0);
  }
}

TEST(Smolvlm2, RejectsBadMetadata) {
  EXPECT_THROW(sample_smolvlm2(VideoMeta{0.0, 25.0, 10, 0, {}}), SamplerError);
  EXPECT_THROW(sample_smolvlm2(VideoMeta{1.0, 0.0, 10, 0, {}}), SamplerError);
  EXPECT_THROW(smolvlm2_indices(0, 25.0, 1.0), SamplerError);
}

TEST(Uniform, NFramesAtPartCentres) {
  VideoMeta meta{10.0, 25.0, 250, 1.0, {}};
  UniformOptions o;
  o.max_frames = 4;
  const auto sel = sample_uniform(meta, o);
  ASSERT_EQ(sel.picks.size(), 4u);
  const double want[] = {1.25, 3.75, 6.25, 8.75};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_DOUBLE_EQ(sel.picks[i].offset_s, want[i]);
    EXPECT_DOUBLE_EQ(sel.picks[i].time_s, 1.0 + want[i]);
    EXPECT_NE(sel.picks[i].reason.find("uniform"), std::string::npos);
  }
}

TEST(Uniform, NeverMoreFramesThanTheVideoHolds) {
  VideoMeta meta{0.2, 10.0, 2, 0.0, {}};
  UniformOptions o;
  o.max_frames = 16;
  EXPECT_EQ(sample_uniform(meta, o).picks.size(), 2u);
}

TEST(Uniform, EverySecondsCappedByBudget) {
  VideoMeta meta{10.0, 25.0, 250, 0.0, {}};
  UniformOptions o;
  o.every_s = 2.0;
  o.max_frames = 100;
  auto sel = sample_uniform(meta, o);
  ASSERT_EQ(sel.picks.size(), 5u);  // 0 2 4 6 8
  EXPECT_DOUBLE_EQ(sel.picks[4].offset_s, 8.0);
  EXPECT_TRUE(sel.notes.empty());
  o.every_s = 0.5;  // 20 candidates
  o.max_frames = 4;
  sel = sample_uniform(meta, o);
  ASSERT_EQ(sel.picks.size(), 4u);
  EXPECT_DOUBLE_EQ(sel.picks[0].offset_s, 1.0);  // candidate 2 of 0..19 (centre of the first fifth)
  EXPECT_EQ(sel.notes.size(), 1u);
}

TEST(Keyframes, ThinnedToBudget) {
  VideoMeta meta{139.4, 10.0, 1394, 0.0, {}};
  for (int i = 0; i < 140; ++i) meta.keyframe_times.push_back(i * 1.0);
  KeyframeOptions o;
  o.max_frames = 7;
  const auto sel = sample_keyframes(meta, o);
  ASSERT_EQ(sel.picks.size(), 7u);
  for (size_t i = 0; i < sel.picks.size(); ++i) EXPECT_DOUBLE_EQ(sel.picks[i].time_s, 10.0 + 20.0 * i);
  o.max_frames = 200;
  EXPECT_EQ(sample_keyframes(meta, o).picks.size(), 140u);
  meta.keyframe_times.clear();
  EXPECT_THROW(sample_keyframes(meta, o), SamplerError);
}

TEST(SpreadEvenly, CentresOfEqualParts) {
  EXPECT_EQ(spread_evenly(3, 5), (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(spread_evenly(10, 2), (std::vector<size_t>{2, 7}));
  EXPECT_EQ(spread_evenly(10, 1), (std::vector<size_t>{5}));
}

}  // namespace
}  // namespace smolvid::sampler
