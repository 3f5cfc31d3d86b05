// test_decode: smolvid::decode::VideoReader against independent references:
//  * facts measured with ffprobe and written down in ../shared/media/MEDIA.md (tables below cite
//    its sections 2 and 4);
//  * pixels of selected frames decoded by the ffmpeg CLI, run inside the test;
//  * frame timestamps listed by the ffprobe CLI, run inside the test.
#include <gtest/gtest.h>
#include <fmt/core.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <vector>

#include "decode/video_reader.h"
#include "tests/test_files.h"
#include "tests/test_support.h"

namespace smolvid::decode {
namespace {

using test::media;

// ---------------------------------------------------------------------------------------------
// Helpers: the ffmpeg/ffprobe CLIs as independent references.

// stdout of a shell command line (empty when it cannot run).
std::string run_capture(const std::string& cmd) { return test::run_command(cmd).output; }
using test::shell_quote;

// Frame `index` (0-based, decode output order) as the ffmpeg CLI converts it to RGB24/GRAY8, with
// the CLI's default autorotation and `pre_filters` (e.g. "yadif") ahead of the selection.
std::string cli_frame(const std::string& file, int64_t index, const std::string& pre_filters = "",
                      const char* pix_fmt = "rgb24", const char* sws_flags = "bicubic") {
  const std::string vf = (pre_filters.empty() ? "" : pre_filters + ",") + fmt::format("select=eq(n\\,{})", index);
  return run_capture(fmt::format("ffmpeg -nostdin -v error -i {} -sws_flags {} -vf {} -fps_mode passthrough -frames:v 1 "
                                 "-pix_fmt {} -f rawvideo -",
                                 shell_quote(file), sws_flags, shell_quote(vf), pix_fmt));
}

// Every frame's presentation time as ffprobe reports it.
std::vector<double> ffprobe_frame_times(const std::string& file) {
  const std::string out = run_capture(fmt::format(
      "ffprobe -v error -select_streams v:0 -show_entries frame=best_effort_timestamp_time -of csv=p=0 {}",
      shell_quote(file)));
  std::vector<double> times;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line != "N/A") times.push_back(std::stod(line));
  }
  return times;
}

::testing::AssertionResult same_pixels(const Frame& ours, const std::string& reference, const std::string& what) {
  const std::string got(reinterpret_cast<const char*>(ours.pixels.data()), ours.pixels.size());
  if (reference.size() != got.size()) {
    return ::testing::AssertionFailure() << what << ": size differs: ffmpeg CLI gave " << reference.size()
                                         << " bytes, we gave " << got.size() << " (" << ours.width << "x"
                                         << ours.height << "x" << ours.channels << ")";
  }
  size_t differing = 0, first = std::string::npos;
  int max_diff = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const int d = std::abs(static_cast<int>(static_cast<uint8_t>(got[i])) - static_cast<uint8_t>(reference[i]));
    if (d) {
      ++differing;
      if (first == std::string::npos) first = i;
      max_diff = std::max(max_diff, d);
    }
  }
  if (differing == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": " << differing << " of " << got.size()
                                       << " bytes differ from the ffmpeg CLI, max abs diff " << max_diff
                                       << ", first at byte " << first << " (ours "
                                       << int(static_cast<uint8_t>(got[first])) << ", ffmpeg "
                                       << int(static_cast<uint8_t>(reference[first])) << ")";
}

// All frames of a file (pixels dropped unless keep_pixels) plus the reader's stats/warnings.
struct Decoded {
  std::vector<Frame> frames;
  DecodeStats stats;
  std::vector<std::string> warnings;
};
Decoded decode_all(const std::string& file, bool keep_pixels = false, ReaderOptions opts = {}) {
  VideoReader reader(file, opts);
  Decoded d;
  reader.decode_all([&](const Frame& f) {
    Frame copy = f;
    if (!keep_pixels) copy.pixels.clear();
    d.frames.push_back(std::move(copy));
    return true;
  });
  d.stats = reader.stats();
  d.warnings = reader.warnings();
  return d;
}

Frame frame_at_index(const std::string& file, int64_t index, ReaderOptions opts = {}) {
  VideoReader reader(file, opts);
  std::optional<Frame> got;
  reader.decode_all([&](const Frame& f) {
    if (f.index == index) {
      got = f;
      return false;
    }
    return true;
  });
  if (!got) ADD_FAILURE() << file << ": no frame with index " << index;
  return got.value_or(Frame{});
}

// ---------------------------------------------------------------------------------------------
// MEDIA.md section 2 ("Real clips: technical facts") and section 4 (derived edge cases), as
// measured there with ffprobe 5.1.9. duration < 0: "N/A" in MEDIA.md.

struct Fact {
  const char* file;
  const char* codec;
  int width, height;              // display size (rotation and SAR applied)
  double r_fps, avg_fps;          // avg_fps 0: same as r_fps
  double duration;                // container duration, as ffprobe prints it
  int frames;                     // frames ffmpeg decodes
  int keyframes;                  // packets with the K flag (-1: not given)
  std::vector<double> key_times;  // empty: not listed
};

const std::vector<Fact>& real_clips() {
  static const std::vector<Fact> facts = {
      {"vtest.avi", "msmpeg4v3", 768, 576, 10, 0, 79.50, 795, 4, {0, 25, 50, 75}},
      {"car-detection.mp4", "h264", 768, 432, 12.5, 0, 30.21, 377, 7, {0, 4.8, 9.6, 14.4, 19.2, 24, 28.8}},
      {"one-by-one-person-detection.mp4", "h264", 768, 432, 10, 0, 139.40, 1394, 140, {}},
      {"bottle-detection.mp4", "h264", 640, 360, 29.833, 0, 39.85, 1189, 5, {0, 8.38, 16.76, 25.14, 33.52}},
      {"tree.avi", "cinepak", 320, 240, 15, 0, 29.60, 68, 3, {0, 10.67, 21.87}},
      {"person-bicycle-car-detection.gif", "gif", 480, 270, 12, 0, 3.41, 41, 1, {0}},
      {"store-aisle-detection.gif", "gif", 480, 270, 15, 0, 4.47, 67, 1, {0}},
      {"worker-zone-detection.gif", "gif", 480, 270, 15, 0, 4.74, 71, 1, {0}},
      {"classroom.gif", "gif", 480, 270, 15, 0, 2.99, 45, 1, {0}},
      {"big_buck_bunny_0_30.webm", "vp8", 1280, 720, 24, 0, 30.00, 720, 10, {}},
      {"oa4_launch.webm", "vp8", 640, 360, 24, 0, 8.09, 194, 2, {0, 3.09}},
      {"cityCC0.mpg", "mpeg2video", 720, 405, 25, 0, 7.60, 190, 17, {}},
      {"wannaworktogether.mp4", "h264", 480, 352, 29.97, 0, 180.26, 5402, 27, {}},
      {"chaplin.mp4", "h264", 640, 360, 25, 0, 9.64, 241, 1, {0}},
      {"VID_20191220_170832.mp4", "h264", 1920, 1080, 30.01, 27.019, 1.60, 41, 2, {0, 1.15}},
      {"fire2.mp4", "h264", 1280, 720, 90000, 10.505, 2.38, 25, 1, {0}},
      {"cockatoo.mp4", "h264", 1280, 720, 20, 0, 14.00, 280, 3, {0, 3.8, 7.25}},
      {"realshort.mp4", "h264", 320, 240, 30.02, 0, 1.20, 36, 2, {0, 1}},
      {"asl_thanks.mkv", "h264", 640, 480, 30, 0, 1.70, 51, 1, {0}},
      {"diver.mov", "mjpeg", 640, 480, 25, 0, 14.04, 351, 351, {}},
      {"coin_motion.mov", "h264", 568, 320, 30, 0, 8.04, 242, 9, {}},
      {"kphotoalbum_movie.avi", "mjpeg", 160, 120, 15, 0, 4.53, 68, 68, {}},
      {"Force_constante.avi", "mpeg4", 400, 300, 25, 0, 1.04, 26, 1, {}},
      {"balle1-vp9.avi", "vp9", 320, 240, 187.35, 0, 1.60, 295, 3, {0, 0.71, 1.39}},
      {"cube.mpeg", "mpeg1video", 384, 288, 25, 0, 0.04, 79, 8, {}},
      {"no_duration.webm", "vp9", 1280, 720, 14.985, 0, -1, 74, 1, {0}},
  };
  return facts;
}

const std::vector<Fact>& edge_files() {
  static const std::vector<Fact> facts = {
      {"edge/av1.mp4", "av1", 768, 432, 12.5, 0, 10.00, 125, -1, {}},
      {"edge/av1_opus.webm", "av1", 640, 360, 24, 0, 5.01, 120, -1, {}},
      {"edge/fragmented.mp4", "h264", 768, 432, 12.5, 0, 10.01, 125, -1, {}},
      {"edge/hevc_10bit.mp4", "hevc", 768, 432, 12.5, 0, 10.00, 125, 1, {}},
      {"edge/hevc_8bit.mkv", "hevc", 768, 576, 10, 0, 10.00, 100, -1, {}},
      {"edge/interlaced_tff.mp4", "h264", 640, 480, 12.5, 0, 8.00, 100, -1, {}},
      {"edge/mkv_named.mp4", "h264", 640, 480, 30, 0, 1.70, 51, -1, {}},
      {"edge/odd_size_321x241.webm", "vp9", 321, 241, 10, 0, 10.00, 100, -1, {}},
      {"edge/one_frame.mp4", "h264", 768, 576, 10, 0, 0.10, 1, -1, {}},
      {"edge/raw_annexb.h264", "h264", 768, 432, 12.5, 0, -1, 125, -1, {}},
      {"edge/res_change_mid.ts", "h264", 768, 576, 10, 0, 9.80, 100, -1, {}},
      {"edge/rotated_90.mp4", "h264", 432, 768, 10, 0, 10.10, 101, -1, {}},
      {"edge/sar_16x15.mp4", "h264", 768, 576, 25, 0, 7.60, 190, -1, {}},
      {"edge/single_keyframe.mp4", "h264", 768, 576, 10, 0, 30.00, 300, 1, {0}},
      {"edge/vfr.mp4", "h264", 1280, 720, 20, 11.241, 13.85, 154, -1, {}},
      {"edge/vp9.webm", "vp9", 768, 576, 10, 0, 20.00, 200, -1, {}},
      {"edge/vtest_h264.ts", "h264", 768, 576, 10, 0, 20.00, 200, -1, {}},
  };
  return facts;
}

void check_fact(const Fact& f) {
  SCOPED_TRACE(f.file);
  const std::string path = media(f.file);
  VideoReader reader(path);
  const MediaInfo& info = reader.probe();
  EXPECT_EQ(info.codec, f.codec);
  EXPECT_EQ(info.display_width, f.width);
  EXPECT_EQ(info.display_height, f.height);
  EXPECT_NEAR(info.r_frame_rate, f.r_fps, 0.01);
  if (f.avg_fps > 0) {
    EXPECT_NEAR(info.avg_frame_rate, f.avg_fps, 0.01);
  }
  if (f.duration >= 0) {
    ASSERT_TRUE(info.duration_header.known());
    EXPECT_NEAR(info.duration_header.value, f.duration, 0.006);
  } else {
    EXPECT_FALSE(info.duration_header.known());
    EXPECT_TRUE(info.duration.known());
  }
  // Packets counted by the demux pass: at most one more than the frames that decode (coin_motion.mov
  // holds one packet that yields no frame).
  EXPECT_NEAR(static_cast<double>(info.frame_count.value), f.frames, 1.0);
  EXPECT_EQ(info.frame_count.source, "content");
  if (f.keyframes >= 0) {
    EXPECT_EQ(static_cast<int>(info.keyframe_times.size()), f.keyframes);
  }
  if (!f.key_times.empty()) {
    ASSERT_EQ(info.keyframe_times.size(), f.key_times.size());
    for (size_t i = 0; i < f.key_times.size(); ++i) EXPECT_NEAR(info.keyframe_times[i], f.key_times[i], 0.006) << i;
  }

  int64_t n = 0;
  double prev = -1e9;
  bool ascending = true;
  reader.decode_all([&](const Frame& fr) {
    EXPECT_EQ(fr.width, f.width);
    EXPECT_EQ(fr.height, f.height);
    EXPECT_EQ(fr.index, n);
    if (fr.pts_seconds <= prev) ascending = false;
    prev = fr.pts_seconds;
    ++n;
    return true;
  });
  EXPECT_EQ(n, f.frames);
  EXPECT_TRUE(ascending);
  EXPECT_EQ(reader.stats().frames_output, f.frames);

  // Keyframes only: one decoded frame per keyframe packet, at the keyframe times.
  if (f.keyframes >= 0) {
    const int64_t decoded_before = reader.stats().frames_decoded;
    std::vector<double> key_pts;
    reader.decode_keyframes([&](const Frame& fr) {
      EXPECT_TRUE(fr.keyframe);
      key_pts.push_back(fr.pts_seconds);
      return true;
    });
    EXPECT_EQ(static_cast<int>(key_pts.size()), f.keyframes);
    EXPECT_EQ(reader.stats().frames_decoded - decoded_before, f.keyframes);
    if (key_pts.size() == info.keyframe_times.size()) {
      for (size_t i = 0; i < key_pts.size(); ++i) EXPECT_NEAR(key_pts[i], info.keyframe_times[i], 1e-6) << i;
    }
  }
}

TEST(MediaFacts, RealClipsMatchMediaMd) {
  for (const Fact& f : real_clips()) {
    if (std::string(f.file) == "cube.mpeg") continue;  // raw stream: its own test below
    check_fact(f);
  }
}

TEST(MediaFacts, EdgeFilesMatchMediaMd) {
  for (const Fact& f : edge_files()) {
    if (std::string(f.file) == "edge/res_change_mid.ts" || std::string(f.file) == "edge/raw_annexb.h264") continue;
    check_fact(f);
  }
}

// ---------------------------------------------------------------------------------------------
// Pixels equal what the ffmpeg CLI decodes for the same frame.

struct PixelCase {
  const char* file;
  int64_t index;
  const char* cli_filters;  // added ahead of select= on the CLI side
};

TEST(Pixels, SelectedFramesEqualFfmpegCli) {
  const std::vector<PixelCase> cases = {
      {"vtest.avi", 500, ""},                   // msmpeg4v3
      {"car-detection.mp4", 100, ""},           // H.264 Baseline
      {"cockatoo.mp4", 90, ""},                 // H.264 4:4:4
      {"asl_thanks.mkv", 20, ""},               // full-range yuvj420p
      {"diver.mov", 100, ""},                   // MJPEG 4:2:2
      {"classroom.gif", 20, ""},                // GIF (bgra)
      {"tree.avi", 30, ""},                     // cinepak rgb24
      {"cityCC0.mpg", 60, ""},                  // MPEG-2 PS
      {"big_buck_bunny_0_30.webm", 200, ""},    // VP8
      {"fire2.mp4", 10, ""},                    // display matrix -180: CLI autorotates
      {"edge/rotated_90.mp4", 30, ""},          // display matrix 90: CLI autorotates
      {"edge/hevc_10bit.mp4", 60, ""},          // HEVC Main 10
      {"edge/av1.mp4", 60, ""},                 // AV1 (SVT)
      {"edge/av1_opus.webm", 50, ""},           // AV1 (libaom)
      {"edge/vp9.webm", 120, ""},               // VP9
      {"edge/odd_size_321x241.webm", 50, ""},   // odd size
      {"edge/sar_16x15.mp4", 50, "scale=768:576"},  // SAR 16:15 stretched to square pixels
      {"edge/interlaced_tff.mp4", 41, "yadif"},     // deinterlaced with yadif
      {"edge/vfr.mp4", 77, ""},
      {"edge/vtest_h264.ts", 150, ""},
      {"cube.mpeg", 40, ""},
      {"edge/raw_annexb.h264", 70, ""},
  };
  for (const PixelCase& c : cases) {
    SCOPED_TRACE(c.file);
    const std::string path = media(c.file);
    const Frame ours = frame_at_index(path, c.index);
    EXPECT_TRUE(same_pixels(ours, cli_frame(path, c.index, c.cli_filters), fmt::format("{} frame {}", c.file, c.index)));
  }
}

TEST(Pixels, UprightOrientation) {
  // MEDIA.md section 4: rotated_90.mp4 is coded 768x432 and displayed 432x768.
  const Frame f = frame_at_index(media("edge/rotated_90.mp4"), 0);
  EXPECT_EQ(f.width, 432);
  EXPECT_EQ(f.height, 768);
  VideoReader reader(media("edge/rotated_90.mp4"));
  EXPECT_EQ(reader.probe().coded_width, 768);
  EXPECT_EQ(reader.probe().coded_height, 432);
  // MEDIA.md section 2: fire2.mp4 carries a -180 degree display matrix.
  VideoReader fire(media("fire2.mp4"));
  EXPECT_EQ(fire.probe().rotation_degrees, 180);
  // Turning the rotation off gives the coded (upside-down) picture: the CLI's -noautorotate.
  ReaderOptions raw;
  raw.apply_rotation = false;
  const Frame coded = frame_at_index(media("fire2.mp4"), 5, raw);
  const std::string ref = run_capture(fmt::format(
      "ffmpeg -nostdin -v error -noautorotate -i {} -vf 'select=eq(n\\,5)' -fps_mode passthrough -frames:v 1 "
      "-pix_fmt rgb24 -f rawvideo -",
      shell_quote(media("fire2.mp4"))));
  EXPECT_TRUE(same_pixels(coded, ref, "fire2.mp4 frame 5 without rotation"));
}

TEST(Pixels, GrayAndMaxSide) {
  const std::string path = media("car-detection.mp4");
  ReaderOptions gray;
  gray.pixel_format = PixelFormat::kGray8;
  const Frame g = frame_at_index(path, 40, gray);
  EXPECT_EQ(g.channels, 1);
  EXPECT_TRUE(same_pixels(g, cli_frame(path, 40, "", "gray"), "car-detection.mp4 frame 40 gray"));

  ReaderOptions small;
  small.max_side = 160;  // 768x432 -> 160x90
  const Frame s = frame_at_index(path, 40, small);
  EXPECT_EQ(s.width, 160);
  EXPECT_EQ(s.height, 90);
  // Downscaled analysis frames use area averaging (cheaper than bicubic and alias-free).
  EXPECT_TRUE(same_pixels(s, cli_frame(path, 40, "scale=160:90", "rgb24", "area"), "car-detection.mp4 frame 40 at 160x90"));
}

// ---------------------------------------------------------------------------------------------
// Timestamps.

TEST(Timestamps, EqualFfprobeFrameTimes) {
  // VFR files keep their true timestamps (MEDIA.md: vfr.mp4, fire2.mp4, tree.avi,
  // VID_20191220_170832.mp4); cityCC0.mpg starts at 0.54 s.
  for (const char* file : {"edge/vfr.mp4", "fire2.mp4", "tree.avi", "VID_20191220_170832.mp4", "cityCC0.mpg",
                           "edge/vtest_h264.ts"}) {
    SCOPED_TRACE(file);
    const std::vector<double> ref = ffprobe_frame_times(media(file));
    const Decoded d = decode_all(media(file));
    ASSERT_EQ(d.frames.size(), ref.size());
    for (size_t i = 0; i < ref.size(); ++i) {
      EXPECT_NEAR(d.frames[i].pts_seconds, ref[i], 1e-5) << "frame " << i;
      EXPECT_FALSE(d.frames[i].pts_derived);
    }
  }
  VideoReader vfr(media("edge/vfr.mp4"));
  EXPECT_TRUE(vfr.probe().variable_frame_rate);
  VideoReader cfr(media("car-detection.mp4"));
  EXPECT_FALSE(cfr.probe().variable_frame_rate);
  VideoReader city(media("cityCC0.mpg"));
  EXPECT_NEAR(city.probe().start_time.value, 0.54, 1e-3);
}

TEST(Timestamps, RawStreamsAreDerivedFromFrameRate) {
  // MEDIA.md: cube.mpeg holds 79 frames at 25 fps (3.16 s although the header says 0.04 s);
  // raw_annexb.h264 holds 125 frames at 12.5 fps and has no duration.
  struct Raw {
    const char* file;
    int frames;
    double fps;
  };
  for (const Raw& r : {Raw{"cube.mpeg", 79, 25.0}, Raw{"edge/raw_annexb.h264", 125, 12.5}}) {
    SCOPED_TRACE(r.file);
    VideoReader reader(media(r.file));
    const MediaInfo& info = reader.probe();
    EXPECT_TRUE(info.timestamps_derived);
    EXPECT_EQ(info.frame_count.value, r.frames);
    EXPECT_NEAR(info.duration.value, r.frames / r.fps, 1e-6);
    EXPECT_EQ(info.duration.source, "derived");
    int64_t n = 0;
    reader.decode_all([&](const Frame& f) {
      EXPECT_TRUE(f.pts_derived);
      EXPECT_NEAR(f.pts_seconds, n / r.fps, 1e-9);
      ++n;
      return true;
    });
    EXPECT_EQ(n, r.frames);
  }
  VideoReader cube(media("cube.mpeg"));
  EXPECT_NEAR(cube.probe().duration_header.value, 0.04, 1e-3);  // the header lies (MEDIA.md)
  // MEDIA.md: 8 keyframes. Without timestamps a keyframe is numbered by its decode-order position,
  // which trails its display position by at most the B-frame reorder depth (1 in cube.mpeg).
  std::vector<int64_t> key_index;
  cube.decode_keyframes([&](const Frame& f) {
    EXPECT_TRUE(f.pts_derived);
    EXPECT_NEAR(f.pts_seconds, f.index / 25.0, 1e-9);
    key_index.push_back(f.index);
    return true;
  });
  ASSERT_EQ(key_index.size(), 8u);
  ASSERT_EQ(cube.probe().keyframe_times.size(), 8u);
  std::vector<int64_t> shown;  // display positions of the keyframes, from a full decode
  cube.decode_all([&](const Frame& f) {
    if (f.keyframe) shown.push_back(f.index);
    return true;
  });
  ASSERT_EQ(shown.size(), 8u);
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_LE(key_index[i], shown[i]);
    EXPECT_GE(key_index[i], shown[i] - 1);
    EXPECT_NEAR(cube.probe().keyframe_times[i], key_index[i] / 25.0, 1e-9);
  }
}

// ---------------------------------------------------------------------------------------------
// Damaged and unusable inputs.

TEST(Damaged, TruncatedReturnsDecodableFramesWithWarning) {
  // MEDIA.md section 4: 147 frames decode; the index still claims 30.21 s and 377 frames.
  const Decoded d = decode_all(media("edge/truncated_moov_front.mp4"));
  EXPECT_EQ(d.frames.size(), 147u);
  ASSERT_FALSE(d.warnings.empty());
  EXPECT_NE(d.warnings.back().find("147 frames decoded"), std::string::npos) << d.warnings.back();
  VideoReader r(media("edge/truncated_moov_front.mp4"));
  EXPECT_EQ(r.probe().frame_count_header.value, 377);
  EXPECT_EQ(r.probe().duration.source, "content");  // the header's 30.21 s is not what is there
  EXPECT_LT(r.probe().duration.value, 13.0);
}

TEST(Damaged, CorruptMiddleDecodesAround) {
  // MEDIA.md section 4: 370 of 377 frames decode.
  const Decoded d = decode_all(media("edge/corrupt_middle.mp4"));
  EXPECT_EQ(d.frames.size(), 370u);
  EXPECT_GT(d.stats.corrupt_packets + d.stats.decode_errors, 0);
  ASSERT_FALSE(d.warnings.empty());
  EXPECT_NE(d.warnings.back().find("370 frames decoded"), std::string::npos) << d.warnings.back();
}

TEST(Damaged, UnusableInputsThrowOneLineNamingTheFile) {
  struct Bad {
    const char* file;
    const char* says;
  };
  for (const Bad& b : {Bad{"edge/empty.mp4", "empty file"}, Bad{"edge/not_a_video.mp4", "not a recognised"},
                       Bad{"edge/truncated_moov_lost.mp4", "not a recognised"},
                       Bad{"edge/audio_only.m4a", "no video stream"}, Bad{"edge/does_not_exist.mp4", "no such file"}}) {
    SCOPED_TRACE(b.file);
    try {
      VideoReader reader(media(b.file));
      ADD_FAILURE() << "opened without error";
    } catch (const DecodeError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(b.file), std::string::npos) << what;
      EXPECT_NE(what.find(b.says), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
}

TEST(Damaged, ResolutionChangeMidStream) {
  // MEDIA.md section 4: 100 frames, 768x576 for 0-5 s then 384x288.
  const Decoded d = decode_all(media("edge/res_change_mid.ts"), /*keep_pixels=*/true);
  ASSERT_EQ(d.frames.size(), 100u);
  int big = 0, small = 0;
  for (const Frame& f : d.frames) {
    ASSERT_EQ(f.pixels.size(), static_cast<size_t>(f.width) * f.height * 3);
    if (f.width == 768 && f.height == 576) ++big;
    if (f.width == 384 && f.height == 288) ++small;
  }
  EXPECT_EQ(big, 50);
  EXPECT_EQ(small, 50);
  EXPECT_EQ(d.frames.front().width, 768);
  EXPECT_EQ(d.frames.back().width, 384);
  // A frame before the change against the CLI.
  EXPECT_TRUE(same_pixels(d.frames[20], cli_frame(media("edge/res_change_mid.ts"), 20), "res_change_mid.ts frame 20"));
}

TEST(Probe, StreamDetails) {
  VideoReader inter(media("edge/interlaced_tff.mp4"));
  EXPECT_TRUE(inter.probe().interlaced);
  EXPECT_EQ(inter.probe().field_order, "tt");
  EXPECT_TRUE(inter.probe().deinterlaced);
  ReaderOptions keep;
  keep.deinterlace = false;
  VideoReader inter_kept(media("edge/interlaced_tff.mp4"), keep);
  EXPECT_FALSE(inter_kept.probe().deinterlaced);

  VideoReader sar(media("edge/sar_16x15.mp4"));
  EXPECT_EQ(sar.probe().sar_num, 16);
  EXPECT_EQ(sar.probe().sar_den, 15);
  EXPECT_EQ(sar.probe().coded_width, 720);

  VideoReader hevc(media("edge/hevc_10bit.mp4"));
  EXPECT_EQ(hevc.probe().pixel_format, "yuv420p10le");
  EXPECT_EQ(hevc.probe().profile, "Main 10");

  // MEDIA.md section 2, audio column.
  VideoReader car(media("car-detection.mp4"));
  ASSERT_EQ(car.probe().audio_streams.size(), 1u);
  EXPECT_EQ(car.probe().audio_streams[0].codec, "aac");
  EXPECT_EQ(car.probe().audio_streams[0].sample_rate, 48000);
  EXPECT_EQ(car.probe().audio_streams[0].channels, 2);
  VideoReader vtest(media("vtest.avi"));
  EXPECT_TRUE(vtest.probe().audio_streams.empty());
  EXPECT_NEAR(vtest.probe().fps_measured.value, 10.0, 1e-6);
  EXPECT_EQ(vtest.probe().fps_measured.source, "content");
  // probe decodes nothing.
  EXPECT_EQ(vtest.stats().frames_decoded, 0);
}

// ---------------------------------------------------------------------------------------------
// Work counters.

TEST(Stats, KeyframesOnlyDecodesOneFramePerKeyframe) {
  // MEDIA.md section 2: 1394 frames, 140 keyframes.
  VideoReader reader(media("one-by-one-person-detection.mp4"));
  const std::vector<double> key_times = reader.probe().keyframe_times;
  std::vector<Frame> keys;
  reader.decode_keyframes([&](const Frame& f) {
    Frame c = f;
    c.pixels.clear();
    keys.push_back(std::move(c));
    return true;
  });
  EXPECT_EQ(reader.stats().frames_decoded, 140);
  EXPECT_EQ(reader.stats().frames_output, 140);
  EXPECT_EQ(reader.stats().packets_read, 1394);
  ASSERT_EQ(keys.size(), 140u);
  for (size_t i = 0; i < keys.size(); ++i) {
    EXPECT_TRUE(keys[i].keyframe);
    EXPECT_NEAR(keys[i].pts_seconds, key_times[i], 1e-9);
  }
  // The 50th keyframe's pixels against the CLI at that frame index.
  const int64_t idx = keys[50].index;
  EXPECT_NEAR(keys[50].pts_seconds * 10.0, static_cast<double>(idx), 1e-6);  // 10 fps from 0
  VideoReader again(media("one-by-one-person-detection.mp4"));
  std::optional<Frame> k50;
  int seen = 0;
  again.decode_keyframes([&](const Frame& f) {
    if (seen++ == 50) {
      k50 = f;
      return false;
    }
    return true;
  });
  ASSERT_TRUE(k50.has_value());
  EXPECT_TRUE(same_pixels(*k50, cli_frame(media("one-by-one-person-detection.mp4"), idx), "keyframe 50"));
}

TEST(Stats, DecodeAtOnShortGopSeeksAndDecodesLittle) {
  // one-by-one-person-detection.mp4: 10 fps from 0, a keyframe every ~1 s (MEDIA.md).
  const std::string path = media("one-by-one-person-detection.mp4");
  VideoReader reader(path);
  const std::vector<double> times = {12.34, 50.0, 100.05, 130.96};
  std::vector<Frame> got;
  reader.decode_at(times, SeekMode::kExact, [&](const Frame& f) {
    got.push_back(f);
    return true;
  });
  ASSERT_EQ(got.size(), times.size());
  for (size_t i = 0; i < times.size(); ++i) {
    const int64_t want = static_cast<int64_t>(std::floor(times[i] * 10.0 + 1e-9));
    EXPECT_EQ(got[i].index, want);
    EXPECT_NEAR(got[i].pts_seconds, want / 10.0, 1e-6);
  }
  EXPECT_GE(reader.stats().seeks, 3);
  EXPECT_LE(reader.stats().frames_decoded, 4 * 12 + 8);  // at most a GOP per requested time (+ pipeline)
  EXPECT_TRUE(same_pixels(got[2], cli_frame(path, got[2].index), "decode_at 100.05 s"));
}

TEST(Stats, DecodeAtOnLongGopNeverDecodesMoreThanAll) {
  // vtest.avi: 795 frames, keyframes at 0, 25, 50, 75 s (MEDIA.md): a sequential pass wins.
  const std::string path = media("vtest.avi");
  std::vector<double> times;
  for (int i = 0; i < 64; ++i) times.push_back(0.5 + i * 1.2);
  VideoReader reader(path);
  std::vector<Frame> got;
  reader.decode_at(times, SeekMode::kExact, [&](const Frame& f) {
    Frame c = f;
    if (f.index != 211) c.pixels.clear();
    got.push_back(std::move(c));
    return true;
  });
  ASSERT_EQ(got.size(), times.size());
  EXPECT_LE(reader.stats().frames_decoded, 795);
  for (size_t i = 0; i < times.size(); ++i) {
    EXPECT_EQ(got[i].index, static_cast<int64_t>(std::floor(times[i] * 10.0 + 1e-9)));
  }
  for (const Frame& f : got) {
    if (f.index == 211) {
      EXPECT_TRUE(same_pixels(f, cli_frame(path, 211), "vtest.avi decode_at frame 211"));
    }
  }
}

TEST(Stats, DecodeAtNearestKeyframe) {
  const std::string path = media("vtest.avi");
  VideoReader reader(path);
  std::vector<Frame> got;
  reader.decode_at({24.0, 26.0, 60.0, 70.0}, SeekMode::kNearestKeyframe, [&](const Frame& f) {
    got.push_back(f);
    return true;
  });
  ASSERT_EQ(got.size(), 4u);  // one per requested time
  const double want[] = {25.0, 25.0, 50.0, 75.0};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(got[i].keyframe);
    EXPECT_NEAR(got[i].pts_seconds, want[i], 1e-6);
  }
  EXPECT_LE(reader.stats().frames_decoded, 3);
  EXPECT_TRUE(same_pixels(got[2], cli_frame(path, 500), "vtest.avi keyframe at 50 s"));
}

TEST(Stats, DecodeAtOutsideTheStreamAndRepeated) {
  // car-detection.mp4: 377 frames at 12.5 fps from 0 (MEDIA.md). Before the start -> the first
  // frame, past the end -> the last; two times on one frame -> that frame twice; a second call on
  // the same reader works.
  VideoReader reader(media("car-detection.mp4"));
  std::vector<int64_t> got;
  auto collect = [&](const Frame& f) {
    got.push_back(f.index);
    return true;
  };
  reader.decode_at({1000.0, -1.0, 8.0, 8.01}, SeekMode::kExact, collect);
  EXPECT_EQ(got, (std::vector<int64_t>{0, 100, 100, 376}));
  got.clear();
  reader.decode_at({8.0}, SeekMode::kExact, collect);
  EXPECT_EQ(got, (std::vector<int64_t>{100}));
}

TEST(Stats, DecodeAtOnRawStream) {
  // No seeking without timestamps: one pass, frame 25 at 1.0 s (25 fps).
  VideoReader reader(media("cube.mpeg"));
  std::vector<Frame> got;
  reader.decode_at({1.0, 2.02}, SeekMode::kExact, [&](const Frame& f) {
    got.push_back(f);
    return true;
  });
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].index, 25);
  EXPECT_EQ(got[1].index, 50);
  EXPECT_TRUE(got[0].pts_derived);
  EXPECT_EQ(reader.stats().seeks, 0);
  EXPECT_TRUE(same_pixels(got[1], cli_frame(media("cube.mpeg"), 50), "cube.mpeg frame 50"));
}

TEST(Stats, DecodeAtEqualsSequentialDecoding) {
  // Frames reached by seeking are the frames a sequential pass produces at the same index: H.264
  // with B-frames (bottle-detection.mp4), MPEG-2 PS with open GOPs (cityCC0.mpg), MPEG-TS
  // (vtest_h264.ts, no index: FFmpeg seeks by binary search), VP8 (big_buck_bunny_0_30.webm) and an
  // interlaced stream that goes through yadif (interlaced_tff.mp4).
  for (const char* file : {"bottle-detection.mp4", "cityCC0.mpg", "edge/vtest_h264.ts", "big_buck_bunny_0_30.webm",
                           "edge/interlaced_tff.mp4"}) {
    SCOPED_TRACE(file);
    const Decoded all = decode_all(media(file), /*keep_pixels=*/true);
    ASSERT_FALSE(all.frames.empty());
    const double first = all.frames.front().pts_seconds, last = all.frames.back().pts_seconds;
    std::vector<double> times;
    for (double q : {0.97, 0.2, 0.55, 0.9, 0.35}) times.push_back(first + q * (last - first));
    VideoReader reader(media(file));
    std::vector<Frame> got;
    reader.decode_at(times, SeekMode::kExact, [&](const Frame& f) {
      got.push_back(f);
      return true;
    });
    std::sort(times.begin(), times.end());
    ASSERT_EQ(got.size(), times.size());
    for (size_t i = 0; i < times.size(); ++i) {
      // The last frame shown at or before the requested time.
      size_t want = 0;
      while (want + 1 < all.frames.size() && all.frames[want + 1].pts_seconds <= times[i] + 1e-6) ++want;
      EXPECT_EQ(got[i].index, all.frames[want].index) << "t=" << times[i];
      EXPECT_NEAR(got[i].pts_seconds, all.frames[want].pts_seconds, 1e-9);
      EXPECT_TRUE(same_pixels(got[i], std::string(all.frames[want].pixels.begin(), all.frames[want].pixels.end()),
                              fmt::format("t={:.3f}", times[i])));
    }
    EXPECT_LE(reader.stats().frames_decoded, static_cast<int64_t>(all.frames.size()));
  }
}

// ---------------------------------------------------------------------------------------------
// Network inputs, on loopback only.

int free_loopback_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool can_connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// python3's http.server on 127.0.0.1, serving the edge/ folder; stopped by the destructor.
class HttpServer {
 public:
  explicit HttpServer(const std::string& dir) : port_(free_loopback_port()) {
    pid_ = fork();
    if (pid_ == 0) {
      const std::string port = std::to_string(port_);
      const int devnull = ::open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      dup2(devnull, 2);
      execlp("python3", "python3", "-m", "http.server", port.c_str(), "--bind", "127.0.0.1", "--directory",
             dir.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 100 && !can_connect(port_); ++i) usleep(50 * 1000);
  }
  ~HttpServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  int port() const { return port_; }

 private:
  int port_;
  pid_t pid_ = -1;
};

TEST(Network, DecodesOverHttpOnLoopback) {
  HttpServer server(media("edge"));
  ASSERT_TRUE(can_connect(server.port()));
  const std::string url = fmt::format("http://127.0.0.1:{}/vtest_h264.ts", server.port());
  ReaderOptions opts;
  opts.network_timeout_s = 5;
  VideoReader reader(url, opts);
  EXPECT_EQ(reader.probe().frame_count.value, 200);  // MEDIA.md section 4
  std::vector<Frame> frames;
  reader.decode_all([&](const Frame& f) {
    Frame c = f;
    if (f.index != 150) c.pixels.clear();
    frames.push_back(std::move(c));
    return true;
  });
  ASSERT_EQ(frames.size(), 200u);
  EXPECT_TRUE(same_pixels(frames[150], cli_frame(media("edge/vtest_h264.ts"), 150), "frame 150 over http"));
}

// True when something listens on 127.0.0.1:port (read from /proc/net/tcp, without connecting: the
// ffmpeg CLI's HTTP server serves exactly one client).
bool listening(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  const std::string local = fmt::format("0100007F:{:04X}", port);
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string sl, addr, rem, state;
    ls >> sl >> addr >> rem >> state;
    if (addr == local && state == "0A") return true;
  }
  return false;
}

TEST(Network, LiveStreamProbeReadsOnlyItsFirstSeconds) {
  // An endless live stream: the ffmpeg CLI loops vtest_h264.ts in real time and serves it over HTTP
  // (no length, no duration). probe() must return after live_probe_s of stream, not wait forever.
  const int port = free_loopback_port();
  const pid_t pid = fork();
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    const std::string out = fmt::format("http://127.0.0.1:{}/live.ts", port);
    const std::string in = media("edge/vtest_h264.ts");
    execlp("ffmpeg", "ffmpeg", "-nostdin", "-re", "-stream_loop", "-1", "-i", in.c_str(), "-c", "copy", "-f", "mpegts",
           "-listen", "1", out.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 200 && !listening(port); ++i) usleep(50 * 1000);
  ASSERT_TRUE(listening(port));
  ReaderOptions opts;
  opts.network_timeout_s = 5;
  opts.live_probe_s = 2;
  auto probed = std::async(std::launch::async, [&] {
    VideoReader reader(fmt::format("http://127.0.0.1:{}/live.ts", port), opts);
    MediaInfo info = reader.probe();
    std::string at_error;
    try {
      reader.decode_at({1.0}, SeekMode::kExact, [](const Frame&) { return true; });
    } catch (const DecodeError& e) {
      at_error = e.what();
    }
    return std::make_pair(info, at_error);
  });
  // A bound on a hang, not a timing measurement: 2 s of stream arrive in about 2 s.
  const bool done = probed.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  ASSERT_TRUE(done) << "probe() of a live stream did not return";
  const auto [info, at_error] = probed.get();
  EXPECT_TRUE(info.live);
  EXPECT_FALSE(info.duration.known());
  EXPECT_EQ(info.codec, "h264");
  EXPECT_EQ(info.display_width, 768);  // MEDIA.md section 4: vtest_h264.ts is 768x576
  // About 2 s at 10 fps (MEDIA.md): far fewer than the endless stream, at least the window.
  EXPECT_GE(info.frame_count.value, 20);
  EXPECT_LE(info.frame_count.value, 40);
  EXPECT_NE(info.frame_count.source.find("live"), std::string::npos) << info.frame_count.source;
  EXPECT_NE(at_error.find("live stream"), std::string::npos) << at_error;
}

TEST(Network, UnreachablePortFailsClearly) {
  const int port = free_loopback_port();  // nothing listens there
  const std::string url = fmt::format("http://127.0.0.1:{}/clip.mp4", port);
  ReaderOptions opts;
  opts.network_timeout_s = 2;
  try {
    VideoReader reader(url, opts);
    ADD_FAILURE() << "opened an unreachable URL";
  } catch (const DecodeError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(url), std::string::npos) << what;
    EXPECT_NE(what.find("Connection refused"), std::string::npos) << what;
  }
}

TEST(Network, SilentServerTimesOut) {
  // A socket that listens but never answers: the kernel accepts the connection, nobody replies.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string url = fmt::format("http://127.0.0.1:{}/clip.mp4", ntohs(addr.sin_port));
  ReaderOptions opts;
  opts.network_timeout_s = 1;
  try {
    VideoReader reader(url, opts);
    ADD_FAILURE() << "opened a silent URL";
  } catch (const DecodeError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(url), std::string::npos) << what;
    EXPECT_NE(what.find("timed out"), std::string::npos) << what;
  }
  close(fd);
}

}  // namespace
}  // namespace smolvid::decode
