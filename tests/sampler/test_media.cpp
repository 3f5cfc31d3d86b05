// The sampler on real footage, against facts in ../shared/media/MEDIA.md (cuts, events,
// keyframes) and the transformers goldens for the two clips in ../shared/golden/video/inputs.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>

#include "sampler/sampler.h"
#include "tests/test_support.h"

namespace smolvid::sampler {
namespace {

Selection run(const std::string& file, const std::string& policy, int max_frames = 0, bool dedup = false) {
  SamplerOptions o;
  o.policy = policy;
  o.max_frames = max_frames;
  o.dedup = dedup;
  return select_frames(test::media(file), o);
}

// Cut times in MEDIA.md are seconds from the first frame (as the ffmpeg CLI reports them).
std::vector<double> cuts_from_start(const Selection& sel) {
  std::vector<double> cuts;
  for (size_t i = 1; i < sel.segments.size(); ++i) cuts.push_back(sel.segments[i].start_s - sel.segments[0].start_s);
  return cuts;
}

void expect_cuts(const std::string& file, const std::vector<double>& want, double fps) {
  SCOPED_TRACE(file);
  const Selection sel = run(file, "scenes", 8);
  const auto cuts = cuts_from_start(sel);
  ASSERT_EQ(cuts.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(cuts[i], want[i], 1.0 / fps + 1e-6) << "cut " << i;
  // Every shot gets a frame inside it; the budget holds.
  EXPECT_LE(sel.picks.size(), 8u);
  for (const auto& s : sel.segments) {
    int inside = 0;
    for (const auto& p : sel.picks) inside += p.time_s >= s.start_s && p.time_s < s.end_s;
    EXPECT_GE(inside, 1) << "shot [" << s.start_s << ", " << s.end_s << ")";
  }
}

TEST(ScenesMedia, FindsTheKnownCutsWithinOneFrame) {
  expect_cuts("oa4_launch.webm", {3.09}, 24.0);
  expect_cuts("cityCC0.mpg", {4.64}, 25.0);
  // edge/av1_opus.webm is oa4_launch.webm from 1 s (MEDIA.md section 4, item 9)
  expect_cuts("edge/av1_opus.webm", {2.09}, 24.0);
  // edge/sar_16x15.mp4 is cityCC0.mpg rescaled to 720x576 with SAR 16:15 (item 21)
  expect_cuts("edge/sar_16x15.mp4", {4.64}, 25.0);
}

TEST(ScenesMedia, NoCutInSingleShots) {
  for (const char* file : {"chaplin.mp4", "VID_20191220_170832.mp4", "vtest.avi", "diver.mov"}) {
    SCOPED_TRACE(file);
    const Selection sel = run(file, "scenes", 4);
    EXPECT_EQ(sel.segments.size(), 1u);
    EXPECT_EQ(sel.picks.size(), 4u);
  }
}

bool overlaps(const Selection& sel, double a, double b) {
  for (const auto& s : sel.segments)
    if (s.start_s < b && s.end_s > a) return true;
  return false;
}

TEST(MotionMedia, TreeHandFromAbout24s) {
  const Selection sel = run("tree.avi", "motion", 6);
  ASSERT_FALSE(sel.segments.empty());
  EXPECT_FALSE(overlaps(sel, 0.0, 20.0)) << "the tree alone is not an event";
  const auto& last = sel.segments.back();
  EXPECT_GT(last.start_s, 21.0);
  EXPECT_LT(last.start_s, 26.0);
  EXPECT_GT(last.end_s, 29.0);  // the hand stays to the end (29.6 s)
  ASSERT_FALSE(sel.picks.empty());
  EXPECT_LE(sel.picks.size(), 6u);
  for (const auto& p : sel.picks) EXPECT_GE(p.time_s, last.start_s);
}

TEST(MotionMedia, BottleHandEvents) {
  const Selection sel = run("bottle-detection.mp4", "motion", 12);
  EXPECT_FALSE(overlaps(sel, 0.0, 5.0)) << "three bottles, nothing moves";
  EXPECT_TRUE(overlaps(sel, 12.0, 16.0));
  EXPECT_TRUE(overlaps(sel, 21.5, 22.5));
  EXPECT_TRUE(overlaps(sel, 28.0, 34.0));
  // The hand periods are separate events, not one long one.
  for (const auto& e : sel.segments) {
    EXPECT_FALSE(e.start_s <= 14.0 && e.end_s > 22.0) << "[" << e.start_s << ", " << e.end_s << ")";
    EXPECT_FALSE(e.start_s <= 22.0 && e.end_s > 31.0) << "[" << e.start_s << ", " << e.end_s << ")";
  }
  EXPECT_LE(sel.picks.size(), 12u);
  for (const auto& p : sel.picks) EXPECT_TRUE(overlaps(sel, p.time_s, p.time_s + 1e-6)) << p.time_s;
}

TEST(KeyframesMedia, VtestHasFourKeyframes) {
  const Selection sel = run("vtest.avi", "keyframes", 16);
  ASSERT_EQ(sel.picks.size(), 4u);  // MEDIA.md: 0, 25, 50, 75
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(sel.picks[i].time_s, 25.0 * i, 0.05);
  decode::VideoReader reader(test::media("vtest.avi"));
  const auto frames = fetch_frames(reader, sel, decode::SeekMode::kNearestKeyframe);
  ASSERT_EQ(frames.size(), 4u);
  for (const auto& f : frames) {
    EXPECT_TRUE(f.keyframe);
    EXPECT_EQ(f.width, 768);
    EXPECT_EQ(f.height, 576);
  }
}

TEST(Smolvlm2Media, GoldenClipsGiveTheReferenceTimestamps) {
  std::ifstream in(test::golden("video/video.json"));
  const auto golden = nlohmann::json::parse(in);
  for (const auto& c : golden.at("files")) {
    const std::string file = test::golden("video/" + c.at("file").get<std::string>());
    SCOPED_TRACE(file);
    // The rendered prompt lists "Frame from MM:SS:" once per sampled frame.
    const std::string prompt = c.at("rendered_chat_prompt");
    std::vector<std::string> want;
    for (size_t at = prompt.find("Frame from "); at != std::string::npos; at = prompt.find("Frame from ", at + 1))
      want.push_back(prompt.substr(at + 11, 5));
    SamplerOptions o;
    o.policy = "smolvlm2";
    const Selection sel = select_frames(file, o);
    std::vector<std::string> got;
    for (const auto& p : sel.picks) got.push_back(p.label);
    EXPECT_EQ(got, want);
    // The decoder, counting frames on its own, returns exactly the chosen indices.
    decode::VideoReader reader(file);
    const auto frames = fetch_frames(reader, sel);
    ASSERT_EQ(frames.size(), sel.picks.size());
    for (size_t i = 0; i < frames.size(); ++i) {
      EXPECT_EQ(frames[i].index, sel.picks[i].index);
      EXPECT_EQ(frames[i].channels, 3);
    }
  }
}

TEST(Smolvlm2Media, VariableFrameRateFetchesByIndex) {
  // edge/vfr.mp4 keeps all frames for 0-4 s, every 3rd for 4-8 s (MEDIA.md section 4, item 5):
  // index / fps is not the time there, and the reference decodes by index.
  SamplerOptions o;
  o.policy = "smolvlm2";
  const Selection sel = select_frames(test::media("edge/vfr.mp4"), o);
  decode::VideoReader reader(test::media("edge/vfr.mp4"));
  ASSERT_TRUE(reader.probe().variable_frame_rate);
  const auto frames = fetch_frames(reader, sel);
  ASSERT_EQ(frames.size(), sel.picks.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].index, sel.picks[i].index);
    EXPECT_NEAR(sel.picks[i].time_s, frames[i].pts_seconds, 1e-6);  // picks report the true time
  }
}

TEST(Smolvlm2Media, VariableFrameRateAviPicksCarryTheirFramesTrueTimes) {
  // MEDIA.md: tree.avi declares 15 fps but its 68 real frames come every 0.33-0.67 s over 29.6 s.
  // The reference indices run over the 68 frames; each pick reports that frame's time, which
  // ffprobe lists independently.
  SamplerOptions o;
  o.policy = "smolvlm2";
  const Selection sel = select_frames(test::media("tree.avi"), o);
  const std::string cmd = "ffprobe -v error -select_streams v:0 -show_entries frame=pts_time -of csv=p=0 '" +
                          test::media("tree.avi") + "'";
  std::vector<double> truth;
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  double t;
  while (fscanf(pipe, "%lf", &t) == 1) truth.push_back(t);
  pclose(pipe);
  ASSERT_EQ(truth.size(), 68u);
  ASSERT_FALSE(sel.picks.empty());
  for (const Pick& p : sel.picks) {
    ASSERT_GE(p.index, 0);
    ASSERT_LT(p.index, 68);
    EXPECT_NEAR(p.time_s, truth[static_cast<size_t>(p.index)], 1e-6) << "frame " << p.index;
  }
  EXPECT_EQ(sel.picks.back().index, 67);  // linspace ends on the last frame
  EXPECT_GT(sel.picks.back().time_s, 25.0);
}

TEST(DedupMedia, StaticFootageDoesNotSpendTheBudget) {
  // classroom.gif: four people who barely move; oa4_launch.webm: two different shots.
  EXPECT_EQ(run("classroom.gif", "uniform", 16).picks.size(), 16u);
  EXPECT_LE(run("classroom.gif", "uniform", 16, true).picks.size(), 4u);
  const Selection rocket = run("oa4_launch.webm", "uniform", 16, true);
  bool before = false, after = false;
  for (const auto& p : rocket.picks) (p.offset_s < 3.0 ? before : after) = true;
  EXPECT_TRUE(before && after);
}

// A part of the video: the metadata policy spends its budget there, picks times (not the part's
// nominal indices), and near-duplicate suppression still applies.
TEST(DedupMedia, HonouredOnAPartOfTheVideo) {
  SamplerOptions o;
  o.policy = "uniform";
  o.max_frames = 16;
  o.start_s = 0.5;
  o.end_s = 2.5;
  const Selection all = select_frames(test::media("classroom.gif"), o);
  ASSERT_EQ(all.picks.size(), 16u);
  for (const auto& p : all.picks) {
    EXPECT_GE(p.time_s, 0.5);
    EXPECT_LT(p.time_s, 2.5);
    EXPECT_EQ(p.index, -1);
  }
  o.dedup = true;
  const Selection kept = select_frames(test::media("classroom.gif"), o);
  EXPECT_GE(kept.picks.size(), 1u);
  EXPECT_LE(kept.picks.size(), 4u);
  ASSERT_FALSE(kept.notes.empty());
  EXPECT_NE(kept.notes[0].find("near-duplicates"), std::string::npos) << kept.notes[0];
  o.start_s = 10.0;  // classroom.gif is 2.99 s long
  o.end_s = std::nullopt;
  EXPECT_THROW(select_frames(test::media("classroom.gif"), o), SamplerError);
}

TEST(ScenesMedia, TruncatedFileKeepsWhatDecodes) {
  // edge/truncated_moov_front.mp4: the first 40% of car-detection.mp4 (MEDIA.md section 4).
  const Selection sel = run("edge/truncated_moov_front.mp4", "scenes", 4);
  ASSERT_FALSE(sel.picks.empty());
  EXPECT_LT(sel.picks.back().time_s, 30.21 * 0.6);
}

TEST(SamplerMedia, ClearErrors) {
  EXPECT_THROW(run("vtest.avi", "nonsense"), SamplerError);
  EXPECT_THROW(run("edge/empty.mp4", "uniform"), decode::DecodeError);
}

}  // namespace
}  // namespace smolvid::sampler
