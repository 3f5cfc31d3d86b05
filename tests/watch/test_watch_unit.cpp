// Unit and media tests of the parts of `smolvid watch` that need no server: the online motion
// tracker against the batch motion policy on real footage, the ignore mask, the live tables of
// the index database, and the camera list parsing.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "decode/video_reader.h"
#include "pipeline/index.h"
#include "pipeline/watch.h"
#include "sampler/detect.h"
#include "sampler/motion_tracker.h"
#include "tests/test_files.h"
#include "tests/test_support.h"

namespace smolvid::test {
namespace {

// Every `step`-th frame of a video, small and grey, as the analysis sees them.
std::vector<decode::Frame> analysis_frames(const std::string& path, int step) {
  decode::ReaderOptions ro;
  ro.pixel_format = decode::PixelFormat::kGray8;
  ro.max_side = 128;
  ro.threads = 1;
  decode::VideoReader reader(path, ro);
  std::vector<decode::Frame> frames;
  int64_t n = 0;
  reader.decode_all([&](const decode::Frame& f) {
    if (n++ % step == 0) frames.push_back(f);
    return true;
  });
  return frames;
}

struct Span {
  double start_s, end_s;
};

std::vector<Span> batch_events(const std::vector<decode::Frame>& frames, const sampler::MotionOptions& mo) {
  sampler::FrameAnalyzer analyzer;
  std::vector<sampler::FrameFeatures> feats;
  for (const auto& f : frames) feats.push_back(analyzer.push(f));
  std::vector<Span> out;
  for (const auto& s : sampler::detect_motion(feats, mo).segments) out.push_back({s.start_s, s.end_s});
  return out;
}

std::vector<Span> online_events(const std::vector<decode::Frame>& frames, const sampler::MotionOptions& mo,
                                const sampler::IgnoreMask& mask = {}, int* opened = nullptr) {
  sampler::MotionTracker tracker(mo, {}, mask);
  std::vector<Span> out;
  auto take = [&](const std::vector<sampler::MotionTracker::Update>& updates) {
    for (const auto& u : updates) {
      if (u.kind == sampler::MotionTracker::Update::kOpened && opened) ++*opened;
      if (u.kind == sampler::MotionTracker::Update::kClosed) out.push_back({u.event.start_s, u.event.end_s});
    }
  };
  for (const auto& f : frames) take(tracker.push(f));
  take(tracker.finish());
  return out;
}

void expect_same_events(const std::vector<Span>& batch, const std::vector<Span>& online) {
  ASSERT_EQ(batch.size(), online.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_DOUBLE_EQ(batch[i].start_s, online[i].start_s) << "event " << i;
    EXPECT_DOUBLE_EQ(batch[i].end_s, online[i].end_s) << "event " << i;
  }
}

// The online tracker finds exactly the events detect_motion finds on the same frames: every frame,
// and every 5th frame (the reduced analysis rate of watch), with the default thresholds and with a
// long merge gap that joins events.
TEST(MotionTracker, SameEventsAsTheBatchPolicyOnRealFootage) {
  for (const char* clip : {"bottle-detection.mp4", "car-detection.mp4"}) {
    const auto all = analysis_frames(media(clip), 1);
    for (int step : {1, 5}) {
      std::vector<decode::Frame> frames;
      for (size_t i = 0; i < all.size(); i += static_cast<size_t>(step)) frames.push_back(all[i]);
      for (double merge : {0.5, 3.0}) {
        sampler::MotionOptions mo;
        mo.merge_gap_s = merge;
        const auto batch = batch_events(frames, mo);
        SCOPED_TRACE(std::string(clip) + " step " + std::to_string(step) + " merge " + std::to_string(merge));
        if (std::string(clip) == "bottle-detection.mp4" && merge < 1) {
          EXPECT_GE(batch.size(), 2u);  // MEDIA.md: hands in view about 12-16, 22 and 28-34 s
        }
        expect_same_events(batch, online_events(frames, mo));
      }
    }
  }
}

TEST(MotionTracker, DropsEventsShorterThanTheMinimumAfterOpeningThem) {
  const auto frames = analysis_frames(media("bottle-detection.mp4"), 5);
  sampler::MotionOptions mo;
  mo.min_event_s = 2.5;
  int opened = 0;
  const auto online = online_events(frames, mo, {}, &opened);
  expect_same_events(batch_events(frames, mo), online);
  sampler::MotionOptions all = mo;
  all.min_event_s = 0.0;
  EXPECT_GT(static_cast<size_t>(opened), online.size());  // some opened, then dropped
  EXPECT_EQ(static_cast<size_t>(opened), batch_events(frames, all).size());
}

TEST(MotionTracker, IgnoreMaskOverTheWholeFrameSeesNoMotion) {
  const auto frames = analysis_frames(media("bottle-detection.mp4"), 5);
  ASSERT_FALSE(online_events(frames, {}).empty());
  const sampler::IgnoreMask everything = {{{0.0, 0.0}, {1.0, 0.0}, {1.0, 1.0}, {0.0, 1.0}}};
  EXPECT_TRUE(online_events(frames, {}, everything).empty());
  EXPECT_THROW(sampler::MotionTracker({}, {}, {{{0.0, 0.0}, {1.0, 0.0}}}), sampler::SamplerError);
  EXPECT_THROW(sampler::MotionTracker({}, {}, {{{0.0, 0.0}, {1.5, 0.0}, {1.0, 1.0}}}), sampler::SamplerError);
}

int64_t sql_int(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(h);
  int64_t v = -1;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(h);
  return v;
}

TEST(LiveIndex, EventsGapsAndCaptionUpdatesAreSearchable) {
  TempDir dir;
  const std::string path = dir.file("cams.sqlite");
  pipeline::EventIndex db(path);
  EXPECT_EQ(sql_int(path, "PRAGMA user_version"), 2);
  pipeline::LiveStream ls;
  ls.url = "rtsp://127.0.0.1:8554/door";
  ls.camera = "door";
  ls.run_id = "run1";
  ls.start_wallclock = 1714557600.0;  // 2024-05-01T10:00:00Z
  const int64_t stream = db.begin_live_stream(ls);
  pipeline::LiveEvent e;
  e.stream_id = stream;
  e.start_s = 5.0;
  e.end_s = 9.0;
  e.wall_start = 1714557605.0;
  e.wall_end = 1714557609.0;
  e.time_source = "receive";
  const int64_t id = db.add_live_event(e);
  pipeline::SearchQuery q;
  q.text = "courier";
  EXPECT_TRUE(db.search(q).empty());  // caption pending
  db.set_caption(id, "A courier leaves a parcel at the door.", "done");
  const auto hits = db.search(q);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].camera, "door");
  EXPECT_EQ(hits[0].file, ls.url);
  EXPECT_DOUBLE_EQ(*hits[0].wall_start, 1714557605.0);
  EXPECT_EQ(sql_int(path, "SELECT count(*) FROM events WHERE caption_status = 'done' AND time_source = 'receive'"), 1);
  EXPECT_EQ(sql_int(path, "SELECT count(*) FROM files WHERE source_kind = 'live'"), 1);

  db.add_gap({stream, "", 9.5, 16.0, 1714557609.5, 1714557616.0, "connection lost: End of file"});
  const auto gaps = db.gaps("door");
  ASSERT_EQ(gaps.size(), 1u);
  EXPECT_EQ(gaps[0].camera, "door");
  EXPECT_DOUBLE_EQ(gaps[0].end_s - gaps[0].start_s, 6.5);
  EXPECT_EQ(gaps[0].cause, "connection lost: End of file");
  EXPECT_THROW(db.add_gap({stream + 100, "", 0, 1, std::nullopt, std::nullopt, "x"}), pipeline::IndexError);
  e.start_s = 3.0;
  e.end_s = 2.0;
  EXPECT_THROW(db.add_live_event(e), pipeline::IndexError);
  // A second connection (as smolvid search would open) sees the same rows.
  pipeline::EventIndex reader(path);
  EXPECT_EQ(reader.counts().events, 1);
}

TEST(WatchOptions, CameraArgumentsAndCameraList) {
  const pipeline::CameraConfig d;
  EXPECT_EQ(pipeline::camera_from_argument("door=rtsp://10.0.0.2/live?a=b", 1, d).name, "door");
  EXPECT_EQ(pipeline::camera_from_argument("door=rtsp://10.0.0.2/live?a=b", 1, d).url, "rtsp://10.0.0.2/live?a=b");
  EXPECT_EQ(pipeline::camera_from_argument("rtsp://u:p@10.0.0.2:554/yard", 1, d).name, "yard");
  EXPECT_EQ(pipeline::camera_from_argument("rtsp://10.0.0.2", 3, d).name, "cam3");
  EXPECT_EQ(pipeline::camera_from_argument("/media/lobby.mp4", 1, d).name, "lobby");
  EXPECT_EQ(decode::LiveSource::redact("rtsp://admin:secret@10.0.0.2:554/live"), "rtsp://10.0.0.2:554/live");

  TempDir dir;
  write_file(dir.file("cams.json"), R"({"cameras": [
      {"name": "door", "url": "rtsp://127.0.0.1/door", "rtsp_transport": "udp", "start_fraction": 0.05,
       "stay_fraction": 0.02, "min_event_s": 1, "merge_gap_s": 2, "frames_per_caption": 4,
       "ignore_mask": [[[0, 0], [0.5, 0], [0.5, 0.25]]]},
      {"url": "rtsp://127.0.0.1/yard"}]})");
  const auto cams = pipeline::load_cameras_json(dir.file("cams.json"), d);
  ASSERT_EQ(cams.size(), 2u);
  EXPECT_EQ(cams[0].rtsp_transport, "udp");
  EXPECT_DOUBLE_EQ(cams[0].motion.start_fraction, 0.05);
  EXPECT_DOUBLE_EQ(cams[0].motion.merge_gap_s, 2.0);
  EXPECT_EQ(cams[0].frames_per_caption, 4);
  ASSERT_EQ(cams[0].ignore_mask.size(), 1u);
  EXPECT_EQ(cams[0].ignore_mask[0].size(), 3u);
  EXPECT_EQ(cams[1].name, "yard");
  EXPECT_DOUBLE_EQ(cams[1].motion.start_fraction, d.motion.start_fraction);

  write_file(dir.file("bad.json"), R"({"cameras": [{"url": "rtsp://x/y", "start_fration": 0.1}]})");
  try {
    pipeline::load_cameras_json(dir.file("bad.json"), d);
    ADD_FAILURE() << "a misspelt key was accepted";
  } catch (const pipeline::WatchError& e) {
    EXPECT_NE(std::string(e.what()).find("start_fration"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace smolvid::test
