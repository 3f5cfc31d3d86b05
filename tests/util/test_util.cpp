// util/: time formatting, duration parsing and whole-file reading.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/test_files.h"
#include "tests/test_support.h"
#include "util/duration.h"
#include "util/file.h"
#include "util/time_format.h"

namespace smolvid::util {
namespace {

TEST(TimeFormat, MinutesSecondsAsTheSmolvlm2Label) {
  EXPECT_EQ(format_mmss(0.0), "00:00");
  EXPECT_EQ(format_mmss(59.999), "00:59");
  EXPECT_EQ(format_mmss(61.5), "01:01");
  EXPECT_EQ(format_mmss(3725.0), "62:05");  // minutes are not wrapped
  EXPECT_EQ(format_mmss(6000.0), "100:00");
}

TEST(TimeFormat, HoursMinutesSecondsAsPythonTimedelta) {
  // str(datetime.timedelta(seconds=int(t))) for each t.
  EXPECT_EQ(format_hmmss(0.5), "0:00:00");
  EXPECT_EQ(format_hmmss(10.0), "0:00:10");
  EXPECT_EQ(format_hmmss(3907.9), "1:05:07");
  EXPECT_EQ(format_hmmss(36000), "10:00:00");
  EXPECT_EQ(format_hmmss(86399.9), "23:59:59");
  EXPECT_EQ(format_hmmss(90000), "1 day, 1:00:00");
  EXPECT_EQ(format_hmmss(2 * 86400 + 3 * 3600 + 4 * 60 + 5), "2 days, 3:04:05");
}

TEST(TimeFormat, ElapsedAndClock) {
  EXPECT_EQ(format_elapsed(0.0), "00:00");
  EXPECT_EQ(format_elapsed(75.6), "01:16");  // rounded
  EXPECT_EQ(format_elapsed(3599.4), "59:59");
  EXPECT_EQ(format_elapsed(3599.6), "1:00:00");
  EXPECT_EQ(format_elapsed(90061), "1 day, 1:01:01");
  EXPECT_EQ(format_clock(0.0), "00:00:00.000");
  EXPECT_EQ(format_clock(3725.5), "01:02:05.500");
  EXPECT_EQ(format_clock(59.9996, ','), "00:01:00,000");
  EXPECT_EQ(format_clock(100 * 3600.0), "100:00:00.000");  // hours are not wrapped at 24
}

TEST(TimeFormat, RejectsWhatIsNotATime) {
  for (double bad : {-1.0, -0.001, std::nan(""), std::numeric_limits<double>::infinity(), 1e13}) {
    EXPECT_THROW(format_mmss(bad), std::invalid_argument) << bad;
    EXPECT_THROW(format_hmmss(bad), std::invalid_argument) << bad;
    EXPECT_THROW(format_elapsed(bad), std::invalid_argument) << bad;
    EXPECT_THROW(format_clock(bad), std::invalid_argument) << bad;
  }
  try {
    format_mmss(-1.0);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("got -1"), std::string::npos) << e.what();
  }
}

// Every sampled frame label and intro duration of the transformers fixture (video.json).
TEST(TimeFormatGolden, Smolvlm2PromptStrings) {
  const nlohmann::json j = nlohmann::json::parse(test::read_file(test::golden("video/video.json")));
  ASSERT_FALSE(j.at("sampling").empty());
  for (const auto& c : j.at("sampling")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const double fps = c.at("native_fps").get<double>();
    const auto indices = c.at("skip_secs=1").at("indices").get<std::vector<int64_t>>();
    const auto stamps = c.at("skip_secs=1").at("timestamps").get<std::vector<std::string>>();
    ASSERT_EQ(indices.size(), stamps.size());
    for (size_t i = 0; i < indices.size(); ++i) EXPECT_EQ(format_mmss(indices[i] / fps), stamps[i]) << i;
    const std::string intro = c.at("intro_text");
    const size_t from = intro.find(" from a ") + 8;
    EXPECT_EQ(format_hmmss(c.at("duration_s").get<double>()), intro.substr(from, intro.find(" [H:MM:SS]") - from));
  }
}

TEST(Duration, AcceptsEveryDocumentedForm) {
  EXPECT_DOUBLE_EQ(parse_duration("90"), 90.0);
  EXPECT_DOUBLE_EQ(parse_duration("12.5"), 12.5);
  EXPECT_DOUBLE_EQ(parse_duration("12.5s"), 12.5);
  EXPECT_DOUBLE_EQ(parse_duration(" 30s "), 30.0);
  EXPECT_DOUBLE_EQ(parse_duration(".5"), 0.5);
  EXPECT_DOUBLE_EQ(parse_duration("1.5m"), 90.0);
  EXPECT_DOUBLE_EQ(parse_duration("1m30s"), 90.0);
  EXPECT_DOUBLE_EQ(parse_duration("1m30"), 90.0);
  EXPECT_DOUBLE_EQ(parse_duration("1m 30s"), 90.0);
  EXPECT_DOUBLE_EQ(parse_duration("2h"), 7200.0);
  EXPECT_DOUBLE_EQ(parse_duration("1h2m3s"), 3723.0);
  EXPECT_DOUBLE_EQ(parse_duration("90m"), 5400.0);  // a single unit is not capped at 60
  EXPECT_DOUBLE_EQ(parse_duration("01:30"), 90.0);
  EXPECT_DOUBLE_EQ(parse_duration("0:59.5"), 59.5);
  EXPECT_DOUBLE_EQ(parse_duration("1:02:03"), 3723.0);
  EXPECT_DOUBLE_EQ(parse_duration("1:02:03.250"), 3723.25);
  EXPECT_DOUBLE_EQ(parse_duration("100:00:00"), 360000.0);
  EXPECT_DOUBLE_EQ(parse_duration("0"), 0.0);
}

TEST(Duration, RejectsWithTheTextAndTheProblem) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"99:99", "below 60"},       // not 6,039 s
      {"1:60", "below 60"},        {"1:75:00", "below 60"},     {"1h75m", "below 60"},
      {"1m90s", "below 60"},       {"-5", "negative"},          {"nan", "expected"},
      {"inf", "expected"},         {"1e9", "expected"},         {"", "empty"},
      {"  ", "empty"},             {"abc", "expected"},         {"5x", "expected"},
      {"1s2m", "order"},           {"1m1m", "order"},           {"1h30", "needs its unit"},
      {"1:2:3:4", "three fields"}, {"1.5:00", "expected"},      {"1::2", "expected"},
      {":30", "expected"},         {"1:", "expected"},          {"9999h", "maximum"},
      {"99999999999999999999", "maximum"}};
  for (const auto& [text, problem] : bad) {
    try {
      parse_duration(text);
      ADD_FAILURE() << "'" << text << "' was accepted";
    } catch (const DurationError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("'" + text + "'"), std::string::npos) << what;
      EXPECT_NE(what.find(problem), std::string::npos) << text << ": " << what;
    }
  }
}

TEST(ReadFile, ReturnsTheBytesAndNamesWhatFailed) {
  test::TempDir dir;
  const std::string bytes = std::string("a\r\nb\0c\xff", 7);
  test::write_file(dir.file("x.bin"), bytes);
  EXPECT_EQ(read_file(dir.file("x.bin")), bytes);
  test::write_file(dir.file("empty"), "");
  EXPECT_EQ(read_file(dir.file("empty")), "");
  const std::string big(300000, 'z');  // more than one read buffer
  test::write_file(dir.file("big"), big);
  EXPECT_EQ(read_file(dir.file("big")), big);
  for (const auto& [path, reason] : std::vector<std::pair<std::string, std::string>>{
           {dir.file("missing"), "No such file"}, {dir.path(), "Is a directory"}}) {
    try {
      read_file(path);
      ADD_FAILURE() << path << " was read";
    } catch (const FileError& e) {
      EXPECT_NE(std::string(e.what()).find("'" + path + "'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace smolvid::util
