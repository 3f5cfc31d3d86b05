// The frames and sample-indices commands, run as a user would: outputs checked against the
// transformers goldens (video.json), MEDIA.md facts, and frames extracted by the ffmpeg CLI.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <string>

#include "tests/test_files.h"
#include "tests/test_support.h"

namespace {

namespace test = smolvid::test;

struct Result {
  int rc = -1;
  std::string out;  // stdout and stderr
};

Result run(const std::string& args) {
  const test::CommandResult r = test::run_command(test::smolvid_binary() + " " + args + " 2>&1");
  return {r.exit_code, r.output};
}

TEST(SampleIndicesCli, MatchesEveryGoldenCase) {
  std::ifstream in(test::golden("video/video.json"));
  const auto golden = nlohmann::json::parse(in);
  for (const auto& c : golden.at("sampling")) {
    for (const char* skip : {"1", "0"}) {
      // skip_secs only matters above 66 s; one process per case costs ~1 s (libtorch loading).
      if (std::string(skip) == "0" && c.at("duration_s").get<double>() <= 66.0) continue;
      SCOPED_TRACE(c.at("name").get<std::string>() + " skip " + skip);
      const Result r = run("debug sample-indices --strategy smolvlm2 --duration " + nlohmann::json(c.at("duration_s")).dump() +
                           " --fps " + nlohmann::json(c.at("native_fps")).dump() + " --frames " +
                           c.at("total_num_frames").dump() + " --skip-secs " + skip);
      ASSERT_EQ(r.rc, 0) << r.out;
      const auto j = nlohmann::json::parse(r.out);
      const std::string key = std::string("skip_secs=") + skip;
      EXPECT_EQ(j.at(key).at("indices"), c.at(key).at("indices"));
      EXPECT_EQ(j.at(key).at("timestamps"), c.at(key).at("timestamps"));
      const std::string intro = c.at("intro_text");
      EXPECT_NE(intro.find(" from a " + j.at("video_duration").get<std::string>() + " [H:MM:SS]"), std::string::npos);
    }
  }
}

TEST(FramesCli, ScenesJsonImagesAndContactSheet) {
  const std::string dir = (std::filesystem::temp_directory_path() / "smolvid_test_frames_cli").string();
  std::filesystem::remove_all(dir);
  const std::string sheet = dir + "_sheet.jpg";
  const Result r = run("frames " + test::media("oa4_launch.webm") + " --strategy scenes --max-frames 4 --json --out " + dir +
                       " --contact-sheet " + sheet);
  ASSERT_EQ(r.rc, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.at("shots").size(), 2u);
  const double cut = j["shots"][1]["start_s"].get<double>() - j["shots"][0]["start_s"].get<double>();
  EXPECT_NEAR(cut, 3.09, 1.0 / 24 + 1e-6);  // MEDIA.md: cut at 3.09 s
  ASSERT_EQ(j.at("boundaries").size(), 1u);  // the cut, as a boundary of its kind
  EXPECT_EQ(j["boundaries"][0]["kind"], "cut");
  EXPECT_DOUBLE_EQ(j["boundaries"][0]["start_s"].get<double>(), j["shots"][1]["start_s"].get<double>());
  EXPECT_DOUBLE_EQ(j["boundaries"][0]["end_s"].get<double>(), j["shots"][1]["start_s"].get<double>());
  ASSERT_EQ(j.at("frames").size(), 4u);
  for (const auto& f : j.at("frames")) {
    EXPECT_FALSE(f.at("reason").get<std::string>().empty());
    const cv::Mat img = cv::imread(f.at("image").get<std::string>());
    ASSERT_FALSE(img.empty()) << f.at("image");
    EXPECT_EQ(img.cols, 640);
    EXPECT_EQ(img.rows, 360);
    // The image is the frame it claims to be: compare with the ffmpeg CLI's frame of that index.
    const std::string ref = dir + "/ref.png";
    const std::string cmd = "ffmpeg -nostdin -v error -y -i " + test::media("oa4_launch.webm") + " -vf 'select=eq(n\\," +
                            std::to_string(f.at("index").get<int64_t>()) + ")' -frames:v 1 " + ref;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const cv::Mat want = cv::imread(ref);
    ASSERT_EQ(want.size(), img.size());
    cv::Mat diff;
    cv::absdiff(img, want, diff);
    EXPECT_LT(cv::mean(diff)[0], 4.0) << "frame " << f.at("index");  // JPEG at quality 92
  }
  const cv::Mat s = cv::imread(sheet);
  ASSERT_FALSE(s.empty());
  EXPECT_GT(s.cols, 2 * 320);  // 2x2 grid of 320 px thumbnails
  std::filesystem::remove_all(dir);
  std::filesystem::remove(sheet);
}

TEST(FramesCli, MotionEventsInJson) {
  const Result r = run("frames " + test::media("tree.avi") + " --strategy motion --max-frames 3 --json");
  ASSERT_EQ(r.rc, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_FALSE(j.at("events").empty());
  EXPECT_NEAR(j["events"].back()["start_s"].get<double>(), 24.0, 2.0);  // MEDIA.md: hand from about 24 s
  EXPECT_LE(j.at("frames").size(), 3u);
}

TEST(FramesCli, ErrorsAndExitCodes) {
  Result r = run("frames " + test::media("vtest.avi") + " --strategy nonsense");
  EXPECT_EQ(r.rc, 2) << r.out;
  r = run("frames " + test::media("edge/not_a_video.mp4") + " --strategy uniform");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("smolvid: error:"), std::string::npos) << r.out;
}

}  // namespace
