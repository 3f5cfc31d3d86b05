// ask / summarize / index / batch jobs on real media with the fake model: the frames and times
// the model is given are checked against ffprobe's frame list and the hand-checked facts in
// ../shared/media/MEDIA.md (oa4_launch.webm: cut at 3.09 s, 8.09 s long; tree.avi: a hand in
// front of the lens from about 24 s to the end; bottle-detection.mp4: hands in view about 12-16,
// 22 and 28-34 s).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <map>
#include <sstream>
#include <stdexcept>

#include "pipeline/jobs.h"
#include "tests/pipeline/fake_vlm.h"
#include "tests/pipeline/test_util.h"
#include "tests/test_support.h"

namespace smolvid::pipeline {
namespace {

using smolvid::test::FakeVlm;
using smolvid::test::run_command;
using smolvid::test::shell_quote;
using smolvid::test::TempDir;

std::vector<double> ffprobe_frame_times(const std::string& path) {
  auto r = run_command("ffprobe -v error -select_streams v:0 -show_entries frame=pts_time -of csv=p=0 " + shell_quote(path));
  EXPECT_EQ(r.exit_code, 0);
  std::vector<double> times;
  std::istringstream in(r.output);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line != "N/A") times.push_back(std::stod(line));
  }
  return times;
}

double ffprobe_duration(const std::string& path) {
  auto r = run_command("ffprobe -v error -show_entries format=duration -of csv=p=0 " + shell_quote(path));
  return std::stod(r.output);
}

bool is_frame_time(const std::vector<double>& frames, double t) {
  for (double f : frames) {
    if (std::abs(f - t) < 1e-3) return true;
  }
  return false;
}

bool overlaps(double a, double b, double lo, double hi) { return a < hi && b > lo; }

TEST(Jobs, AskShowsDecodedFramesAndEncodesThemOnceForAllQuestions) {
  const std::string video = smolvid::test::media("oa4_launch.webm");
  const std::vector<double> truth = ffprobe_frame_times(video);
  ASSERT_GT(truth.size(), 100u);
  FakeVlm vlm;
  std::string streamed;
  const AskResult r = ask(vlm, video, {"What happens?", "Is it night?"}, AskOptions{},
                          [&](size_t q, const std::string& piece) { streamed += std::to_string(q) + piece; });
  ASSERT_EQ(vlm.calls.size(), 1u);
  EXPECT_EQ(vlm.calls[0].kind, MediaKind::kVideo);
  EXPECT_EQ(vlm.calls[0].prompts, (std::vector<std::string>{"What happens?", "Is it night?"}));
  EXPECT_EQ(vlm.calls[0].frame_times_s, r.frame_times_s);
  EXPECT_NEAR(vlm.calls[0].duration_s, 8.087, 0.05);  // the whole clip (MEDIA.md: 8.09 s)
  ASSERT_GE(r.frame_times_s.size(), 4u);
  for (size_t i = 0; i < r.frame_times_s.size(); ++i) {
    EXPECT_TRUE(is_frame_time(truth, r.frame_times_s[i])) << r.frame_times_s[i] << " is not a frame time";
    if (i > 0) {
      EXPECT_GT(r.frame_times_s[i], r.frame_times_s[i - 1]);
    }
  }
  EXPECT_GE(r.frame_times_s.back() - r.frame_times_s.front(), 5.0);  // spread over the 8 s clip
  ASSERT_EQ(r.answers.size(), 2u);
  EXPECT_EQ(r.answers[1].text, FakeVlm::default_answer(vlm.calls[0], 1));
  EXPECT_NE(streamed.find("1Is "), std::string::npos);
  const nlohmann::json j = ask_to_json(r);
  EXPECT_EQ(j["frames"].size(), r.frame_times_s.size());
  EXPECT_EQ(j["answers"][0]["question"], "What happens?");
  EXPECT_THROW(ask(vlm, video, {}, AskOptions{}), JobError);
}

TEST(Jobs, AskOnVariableFrameRateAviTakesTheReferenceFramesWithTheirTrueTimes) {
  // MEDIA.md: tree.avi declares 15 fps and 444 frames but holds 68 real frames spread over 29.6 s.
  // The reference sampling picks frame indices; the model must get those frames, stamped with their
  // true presentation times (ffprobe's frame list), over the whole clip.
  const std::string video = smolvid::test::media("tree.avi");
  const std::vector<double> truth = ffprobe_frame_times(video);
  ASSERT_EQ(truth.size(), 68u);
  FakeVlm vlm;
  const AskResult r = ask(vlm, video, {"What moves?"}, AskOptions{});
  ASSERT_GE(r.frame_times_s.size(), 2u);
  for (double t : r.frame_times_s) EXPECT_TRUE(is_frame_time(truth, t)) << t << " is not a frame time";
  EXPECT_NEAR(r.frame_times_s.front(), truth.front(), 1e-3);
  EXPECT_NEAR(r.frame_times_s.back(), truth.back(), 1e-3);  // linspace ends on the last frame
  EXPECT_GT(r.frame_times_s.back(), 25.0);                 // true times, not index / 15 fps
}

TEST(Jobs, AskRangeKeepsFramesInsideIt) {
  const std::string video = smolvid::test::media("oa4_launch.webm");
  for (const std::string policy : {"smolvlm2", "uniform", "scenes"}) {
    FakeVlm vlm;
    AskOptions o;
    o.sampling.policy = policy;
    o.start_s = 4.0;
    o.end_s = 7.5;
    const AskResult r = ask(vlm, video, {"q"}, o);
    // A range of the variable-frame-rate tree.avi gives frames by time inside it too.
    AskOptions vfr = o;
    vfr.start_s = 5.0;
    vfr.end_s = 20.0;
    const AskResult v = ask(vlm, smolvid::test::media("tree.avi"), {"q"}, vfr);
    ASSERT_FALSE(v.frame_times_s.empty()) << policy;
    for (double t : v.frame_times_s) {
      EXPECT_GE(t, 4.3) << policy;  // tree.avi's frames are up to 0.67 s apart
      EXPECT_LT(t, 20.0) << policy;
    }
    ASSERT_FALSE(r.frame_times_s.empty()) << policy;
    for (double t : r.frame_times_s) {
      EXPECT_GE(t, 3.95) << policy;  // the frame shown at 4.0 s may start a little earlier
      EXPECT_LT(t, 7.5) << policy;
    }
  }
  FakeVlm vlm;
  AskOptions outside;
  outside.start_s = 20.0;
  EXPECT_THROW(ask(vlm, video, {"q"}, outside), JobError);
}

// The smolvlm2 policy takes the model checkpoint's video_sampling (fps, max_frames) unless the
// caller sets them, as transformers' SmolVLMVideoProcessor does.
TEST(Jobs, AskSmolvlm2TakesTheCheckpointVideoSampling) {
  const std::string video = smolvid::test::media("oa4_launch.webm");  // 8.09 s (MEDIA.md)
  FakeVlm vlm;
  const AskResult reference = ask(vlm, video, {"q"}, AskOptions{});
  EXPECT_EQ(reference.frame_times_s.size(), 8u);  // no video_sampling: 1 fps (8 s, under 64)
  vlm.checkpoint_sampling = VideoSampling{2.0, 5};
  const AskResult capped = ask(vlm, video, {"q"}, AskOptions{});
  EXPECT_EQ(capped.frame_times_s.size(), 5u);  // round(8.09 s * 2 fps) = 16, capped at 5
  vlm.checkpoint_sampling = VideoSampling{0.5, 64};
  EXPECT_EQ(ask(vlm, video, {"q"}, AskOptions{}).frame_times_s.size(), 4u);  // round(8.09 * 0.5) = 4
  AskOptions chosen;
  chosen.sampling.max_frames = 3;
  chosen.sampling.fps = 1.0;
  EXPECT_EQ(ask(vlm, video, {"q"}, chosen).frame_times_s.size(), 3u);  // the caller's choice wins
}

// --dedup on a part of the video: classroom.gif (MEDIA.md: four people who barely move, 15 fps)
// spends 16 uniform frames on 2 s without it and only a few with it.
TEST(Jobs, AskRangeHonoursDedup) {
  const std::string video = smolvid::test::media("classroom.gif");
  const std::vector<double> truth = ffprobe_frame_times(video);
  FakeVlm vlm;
  AskOptions o;
  o.sampling.policy = "uniform";
  o.sampling.max_frames = 16;
  o.start_s = 0.5;
  o.end_s = 2.5;
  const AskResult all = ask(vlm, video, {"q"}, o);
  EXPECT_EQ(all.frame_times_s.size(), 16u);
  o.sampling.dedup = true;
  const AskResult kept = ask(vlm, video, {"q"}, o);
  EXPECT_GE(kept.frame_times_s.size(), 1u);
  EXPECT_LE(kept.frame_times_s.size(), 4u);
  for (double t : kept.frame_times_s) {
    EXPECT_TRUE(is_frame_time(truth, t)) << t;
    EXPECT_GT(t, 0.5 - 1.0 / 15);  // the frame shown at 0.5 s may start a little earlier
    EXPECT_LT(t, 2.5);
  }
}

TEST(Jobs, AskImageIsOneStill) {
  const std::string image = smolvid::test::golden("tiny-smolvlm/inputs/img_120x90.png");
  FakeVlm vlm;
  const AskResult r = ask(vlm, image, {"What is this?"}, AskOptions{});
  EXPECT_EQ(r.kind, MediaKind::kImages);
  ASSERT_EQ(vlm.calls.size(), 1u);
  EXPECT_EQ(vlm.calls[0].kind, MediaKind::kImages);
  EXPECT_EQ(vlm.calls[0].frame_times_s.size(), 1u);
}

// Segments tile [first frame, end of video): the first starts at the first frame's pts (0.003 s
// in oa4_launch.webm, per ffprobe) and the last ends at the container duration.
void expect_contiguous_within(const Summary& s, double first_frame, double duration) {
  ASSERT_FALSE(s.segments.empty());
  EXPECT_NEAR(s.segments.front().start_s, first_frame, 1e-6);
  EXPECT_NEAR(s.segments.back().end_s, duration, 0.05);
  for (size_t i = 0; i < s.segments.size(); ++i) {
    const SummarySegment& seg = s.segments[i];
    EXPECT_GT(seg.end_s, seg.start_s);
    if (i > 0) {
      EXPECT_DOUBLE_EQ(seg.start_s, s.segments[i - 1].end_s) << i;
    }
    for (double t : seg.frame_times_s) {
      EXPECT_GE(t, seg.start_s - 0.05) << "segment " << i;
      EXPECT_LT(t, seg.end_s) << "segment " << i;
    }
  }
}

TEST(Jobs, SummarizeByScenesFindsTheLaunchCut) {
  const std::string video = smolvid::test::media("oa4_launch.webm");
  const double duration = ffprobe_duration(video);
  const std::vector<double> truth = ffprobe_frame_times(video);
  FakeVlm vlm;
  std::vector<size_t> progress;
  const Summary s = summarize(vlm, video, SummarizeOptions{}, [&](size_t done, size_t total, const std::string&) {
    progress.push_back(done);
    EXPECT_EQ(total, 3u);
  });
  ASSERT_EQ(s.segments.size(), 2u);
  EXPECT_NEAR(s.segments[1].start_s, 3.09, 0.05);  // MEDIA.md: cut at 3.09 s
  expect_contiguous_within(s, truth.front(), duration);
  EXPECT_EQ(progress, (std::vector<size_t>{1, 2, 3}));
  // Map: one video call per segment with its own decoded frames; reduce: one text-only call.
  ASSERT_EQ(vlm.calls.size(), 3u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(vlm.calls[i].kind, MediaKind::kVideo);
    EXPECT_EQ(vlm.calls[i].prompts[0], SummarizeOptions{}.caption_prompt);
    EXPECT_EQ(vlm.calls[i].frame_times_s, s.segments[i].frame_times_s);
    EXPECT_DOUBLE_EQ(vlm.calls[i].duration_s, s.segments[i].end_s - s.segments[i].start_s);  // the intro's duration
    EXPECT_EQ(s.segments[i].frame_times_s.size(), 4u);
    for (double t : s.segments[i].frame_times_s) EXPECT_TRUE(is_frame_time(truth, t)) << t;
    EXPECT_EQ(s.segments[i].caption, FakeVlm::default_answer(vlm.calls[i], 0));
    EXPECT_FALSE(s.segments[i].thumbnail_jpeg.empty());
  }
  EXPECT_EQ(vlm.calls[2].kind, MediaKind::kNone);
  EXPECT_TRUE(vlm.calls[2].frame_times_s.empty());
  const std::string& reduce = vlm.calls[2].prompts[0];
  const size_t first = reduce.find("[00:00 - 00:03] " + s.segments[0].caption);
  const size_t second = reduce.find("[00:03 - 00:08] " + s.segments[1].caption);
  EXPECT_NE(first, std::string::npos) << reduce;
  EXPECT_NE(second, std::string::npos) << reduce;
  EXPECT_LT(first, second);
  EXPECT_EQ(s.summary, FakeVlm::default_answer(vlm.calls[2], 0));
  EXPECT_EQ(s.model, "fake/vlm");
  EXPECT_NEAR(s.duration_s, duration, 0.05);

  // The real summary passes the schema and ffmpeg takes its subtitles.
  TempDir dir;
  std::ostringstream json, srt;
  write_json(s, json);
  write_srt(s, srt);
  smolvid::test::write_file(dir.file("s.json"), json.str());
  smolvid::test::write_file(dir.file("s.srt"), srt.str());
  auto v = run_command("/usr/bin/python3 -c 'import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))' " +
                       shell_quote(smolvid::test::source_dir() + "/pipeline/summary.schema.json") + " " + shell_quote(dir.file("s.json")) + " 2>&1");
  EXPECT_EQ(v.exit_code, 0) << v.output;
  auto f = run_command("ffmpeg -nostdin -v error -i " + shell_quote(dir.file("s.srt")) + " -f srt - 2>&1");
  EXPECT_EQ(f.exit_code, 0) << f.output;
  EXPECT_NE(f.output.find("00:00:03,"), std::string::npos) << f.output;
}

TEST(Jobs, SummarizeFixedWindowsAndChunkedReduce) {
  const std::string video = smolvid::test::media("oa4_launch.webm");
  const double duration = ffprobe_duration(video);
  const std::vector<double> truth = ffprobe_frame_times(video);
  SummarizeOptions o;
  o.segmenter = "fixed";
  o.segment_s = 3.0;
  o.frames_per_segment = 2;
  EXPECT_EQ(summary_segments(video, o).size(), 3u);
  FakeVlm vlm;
  Summary s = summarize(vlm, video, o);
  ASSERT_EQ(s.segments.size(), 3u);
  EXPECT_DOUBLE_EQ(s.segments[1].start_s, truth.front() + 3.0);  // windows count from the first frame
  EXPECT_DOUBLE_EQ(s.segments[2].start_s, truth.front() + 6.0);
  expect_contiguous_within(s, truth.front(), duration);

  // 1 s windows and a tiny reduce budget: captions are condensed in chunks, then once more.
  o.segment_s = 1.0;
  o.max_reduce_chars = 200;
  FakeVlm chunked;
  s = summarize(chunked, video, o);
  ASSERT_EQ(s.segments.size(), 9u);
  size_t reduces = 0;
  for (const auto& c : chunked.calls) reduces += c.kind == MediaKind::kNone;
  EXPECT_GT(reduces, 2u);
  EXPECT_EQ(chunked.calls.back().kind, MediaKind::kNone);
  EXPECT_EQ(s.summary, FakeVlm::default_answer(chunked.calls.back(), 0));
  o.segmenter = "shots";
  EXPECT_THROW(summary_segments(video, o), JobError);
}

TEST(Jobs, WallclockFromFileName) {
  auto r = run_command("date -u -d '2019-12-20 17:08:32' +%s");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(*wallclock_from_filename("/x/VID_20191220_170832.mp4"), std::stod(r.output));
  r = run_command("date -u -d '2024-05-01 10:00:00' +%s");
  EXPECT_EQ(*wallclock_from_filename("cam1_2024-05-01_10-00-00.mkv"), std::stod(r.output));
  EXPECT_FALSE(wallclock_from_filename("tree.avi").has_value());
}

TEST(Jobs, IndexTakesTheWallClockFromTheContainerCreationTime) {
  // one-by-one-person-detection.mp4 carries a creation_time tag (ffprobe reads it independently;
  // `date` turns it into Unix seconds); its file name holds no date.
  const std::string video = smolvid::test::media("one-by-one-person-detection.mp4");
  const auto tag = run_command("ffprobe -v error -show_entries format_tags=creation_time -of csv=p=0 " + shell_quote(video));
  ASSERT_EQ(tag.exit_code, 0);
  ASSERT_FALSE(tag.output.empty());
  const auto unix = run_command("date -u -d " + shell_quote(tag.output.substr(0, tag.output.find_last_not_of("\n") + 1)) + " +%s");
  ASSERT_EQ(unix.exit_code, 0);
  TempDir dir;
  EventIndex db(dir.file("cams.sqlite"));
  FakeVlm vlm;
  const IndexVideoResult r = index_video(vlm, db, video, IndexOptions{});
  ASSERT_TRUE(r.start_wallclock.has_value());
  EXPECT_NEAR(*r.start_wallclock, std::stod(unix.output), 1e-3);
  // An explicit start wins over the tag.
  TempDir dir2;
  EventIndex db2(dir2.file("cams.sqlite"));
  IndexOptions o;
  o.start_wallclock = 1.0e9;
  EXPECT_EQ(*index_video(vlm, db2, video, o).start_wallclock, 1.0e9);
}

TEST(Jobs, IndexFindsTheEventsByTimeAndReindexIsNoOp) {
  TempDir dir;
  EventIndex db(dir.file("cams.sqlite"));
  struct Case {
    std::string file;
    std::vector<std::pair<double, double>> activity;  // MEDIA.md
  };
  const std::vector<Case> cases = {{"tree.avi", {{24.0, 29.6}}}, {"bottle-detection.mp4", {{12.0, 16.0}, {28.0, 34.0}}}};
  for (const Case& c : cases) {
    FakeVlm vlm([](const FakeVlm::Call& call, size_t) {
      return fmt::format("movement seen from {:.1f} to {:.1f}", call.frame_times_s.front(), call.frame_times_s.back());
    });
    IndexOptions o;
    o.camera = c.file == "tree.avi" ? "garden" : "table";
    const IndexVideoResult r = index_video(vlm, db, smolvid::test::media(c.file), o);
    EXPECT_FALSE(r.already_indexed);
    EXPECT_GE(r.events, c.activity.size()) << c.file;
    EXPECT_EQ(vlm.calls.size(), r.events);
    EXPECT_EQ(r.content_hash, run_command("sha256sum " + shell_quote(smolvid::test::media(c.file))).output.substr(0, 64));
    for (const auto& [lo, hi] : c.activity) {
      SearchQuery q;
      q.text = "movement";
      q.camera = o.camera;
      q.from_video = lo;
      q.to_video = hi;
      const auto hits = db.search(q);
      ASSERT_FALSE(hits.empty()) << c.file << ": no event in [" << lo << ", " << hi << "]";
      for (const auto& h : hits) {
        EXPECT_TRUE(overlaps(h.start_s, h.end_s, lo, hi));
        EXPECT_FALSE(h.thumbnail_jpeg.empty());
        EXPECT_GE(h.thumbnail_time_s, h.start_s - 0.1);
        EXPECT_LE(h.thumbnail_time_s, h.end_s);
      }
    }
    // Same content, same options: nothing is decoded or captioned again.
    FakeVlm again;
    EXPECT_TRUE(index_video(again, db, smolvid::test::media(c.file), o).already_indexed);
    EXPECT_TRUE(again.calls.empty());
  }
  // tree.avi is still at the start (MEDIA.md): no event covers its first 10 s.
  SearchQuery early;
  early.camera = "garden";
  early.to_video = 10.0;
  EXPECT_TRUE(db.search(early).empty());
}

TEST(Jobs, BatchRunnerRunsAskAndSummarizeItems) {
  TempDir dir;
  const std::string video = smolvid::test::media("oa4_launch.webm");
  std::istringstream manifest(
      "{\"id\": \"ask\", \"video\": " + nlohmann::json(video).dump() + ", \"questions\": [\"a?\", \"b?\"], \"start\": 4, "
      "\"sampling\": {\"policy\": \"uniform\", \"max_frames\": 3}}\n"
      "{\"id\": \"sum\", \"video\": " + nlohmann::json(video).dump() + ", \"task\": \"summarize\", \"sampling\": {\"segmenter\": \"fixed\", \"segment_s\": 4}}\n"
      "{\"id\": \"gone\", \"video\": \"/no/such/video.mp4\", \"question\": \"?\"}\n"
      "{\"id\": \"bad\", \"video\": " + nlohmann::json(video).dump() + ", \"question\": \"?\", \"sampling\": {\"colour\": 1}}\n");
  const auto items = parse_manifest(manifest, "m.jsonl");
  FakeVlm vlm;
  BatchOptions opts;
  opts.out_path = dir.file("results.jsonl");
  const BatchReport report = run_batch(items, opts, make_batch_runner(vlm, AskOptions{}, SummarizeOptions{}));
  EXPECT_EQ(report.ok, 2u);
  EXPECT_EQ(report.failed, 2u);
  std::vector<nlohmann::json> lines;
  std::istringstream in(smolvid::test::read_file(opts.out_path));
  for (std::string l; std::getline(in, l);) lines.push_back(nlohmann::json::parse(l));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["status"], "ok");
  ASSERT_EQ(lines[0]["frames"].size(), 3u);
  for (const auto& f : lines[0]["frames"]) EXPECT_GE(f["pts_s"].get<double>(), 3.95);
  EXPECT_EQ(lines[0]["answers"][1]["question"], "b?");
  EXPECT_EQ(lines[1]["status"], "ok");
  EXPECT_EQ(lines[1]["summary"]["segments"].size(), 3u);
  EXPECT_EQ(lines[2]["status"], "error");
  EXPECT_NE(lines[2]["error"].get<std::string>().find("/no/such/video.mp4"), std::string::npos) << lines[2]["error"];
  EXPECT_EQ(lines[2]["error_type"], "input");
  EXPECT_EQ(lines[3]["status"], "error");
  EXPECT_NE(lines[3]["error"].get<std::string>().find("sampling.colour"), std::string::npos);
  EXPECT_EQ(lines[3]["error_type"], "options");
}

TEST(Jobs, BatchRunnerGivesEachFailureItsKind) {
  TempDir dir;
  const std::string video = nlohmann::json(smolvid::test::media("oa4_launch.webm")).dump();  // 8.09 s (MEDIA.md)
  const std::string not_video = dir.file("notes.mp4");
  smolvid::test::write_file(not_video, "these are not video bytes\n");
  std::istringstream manifest(
      "{\"id\": \"not-a-video\", \"video\": " + nlohmann::json(not_video).dump() + ", \"question\": \"?\"}\n"
      "{\"id\": \"after-the-end\", \"video\": " + video + ", \"question\": \"?\", \"start\": 60}\n"
      "{\"id\": \"bad-policy\", \"video\": " + video + ", \"question\": \"?\", \"sampling\": {\"policy\": \"nonsense\"}}\n"
      "{\"id\": \"model-fails\", \"video\": " + video + ", \"question\": \"tokenize this\"}\n"
      "{\"id\": \"summary-model-fails\", \"video\": " + video + ", \"task\": \"summarize\", "
      "\"sampling\": {\"segmenter\": \"fixed\", \"segment_s\": 4}}\n"
      "{\"id\": \"slow\", \"video\": " + video + ", \"question\": \"a b c d e f g h\"}\n");
  const auto items = parse_manifest(manifest, "m.jsonl");
  // A model that fails the way a tokenizer does (std::invalid_argument, which outside the model
  // would be an options error) and streams the slow item word by word past its deadline.
  FakeVlm vlm([](const FakeVlm::Call& call, size_t i) -> std::string {
    if (call.prompts[i] != "a b c d e f g h") throw std::invalid_argument("tokenizer: no token for byte 0xff");
    return call.prompts[i];
  });
  vlm.delay_per_piece = std::chrono::milliseconds(150);
  BatchOptions opts;
  opts.out_path = dir.file("results.jsonl");
  opts.item_timeout_s = 0.5;
  const BatchReport report = run_batch(items, opts, make_batch_runner(vlm, AskOptions{}, SummarizeOptions{}));
  EXPECT_EQ(report.failed, items.size());
  std::map<std::string, std::string> kinds;
  std::istringstream in(smolvid::test::read_file(opts.out_path));
  for (std::string l; std::getline(in, l);) {
    const nlohmann::json line = nlohmann::json::parse(l);
    EXPECT_EQ(line["status"], "error") << l;
    kinds[line["id"]] = line.value("error_type", "");
  }
  EXPECT_EQ(kinds, (std::map<std::string, std::string>{{"not-a-video", "input"},
                                                       {"after-the-end", "options"},
                                                       {"bad-policy", "options"},
                                                       {"model-fails", "model"},
                                                       {"summary-model-fails", "model"},
                                                       {"slow", "timeout"}}));
}

}  // namespace
}  // namespace smolvid::pipeline
