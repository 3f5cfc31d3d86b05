// Summary output formats, checked by the tools that consume them: the ffmpeg CLI parses the
#include <algorithm>
#include <cctype>
// SRT/VTT/chapters files, python's jsonschema validates the JSON against the documented schema.
#include <gtest/gtest.h>

#include <cmath>
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "pipeline/media_util.h"
#include "sampler/image.h"
#include "pipeline/outputs.h"
#include "pipeline/progress.h"
#include "tests/test_support.h"
#include "tests/pipeline/test_util.h"

namespace smolvid::pipeline {
namespace {

using smolvid::test::run_command;
using smolvid::test::shell_quote;
using smolvid::test::TempDir;
using smolvid::test::tag_balance_problem;

decode::Frame gradient_frame(int w, int h, double pts) {
  decode::Frame f;
  f.width = w;
  f.height = h;
  f.channels = 3;
  f.pts_seconds = pts;
  f.pixels.resize(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &f.pixels[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<uint8_t>(x * 255 / w);
      p[1] = static_cast<uint8_t>(y * 255 / h);
      p[2] = 128;
    }
  return f;
}

// Two segments of oa4_launch.webm (8.09 s, cut at 3.09 s per MEDIA.md), with captions that need
// escaping in every format.
Summary launch_summary() {
  Summary s;
  s.video = "oa4_launch.webm";
  s.duration_s = 8.087;
  s.model = "fake/vlm";
  s.summary = "An Atlas V rocket launches; smoke & flame.";
  s.options = {{"segment", "scenes"}, {"frames_per_segment", 4}};
  s.timings_s = {{"total", 1.25}, {"decode", 0.5}};
  SummarySegment a{0.0, 3.09, "Wide shot: rocket on the pad <b>between</b> towers & smoke; #1 = ignition", {0.0, 1.0, 2.0, 3.0}, {}, 1.0};
  a.thumbnail_jpeg = sampler::encode_jpeg(gradient_frame(64, 36, 1.0), 32);
  SummarySegment b{3.09, 8.04, "Lift-off --> bright flame\nunder an overcast sky.\n\nSecond paragraph.", {3.2, 5.0, 7.9}, {}, 5.0};
  b.thumbnail_jpeg = sampler::encode_jpeg(gradient_frame(640, 360, 5.0), 160);
  s.segments = {a, b};
  return s;
}

std::string write_to(const Summary& s, SummaryFormat format, const std::string& path) {
  std::ostringstream out;
  write_summary(s, format, out);
  smolvid::test::write_file(path, out.str());
  return out.str();
}

// (start_ms, end_ms, text) of each cue of an SRT document as ffmpeg re-emits it.
struct Cue {
  int64_t start_ms, end_ms;
  std::string text;
};
std::vector<Cue> parse_srt(const std::string& srt) {
  std::vector<Cue> cues;
  std::regex time_line(R"((\d+):(\d\d):(\d\d),(\d\d\d) --> (\d+):(\d\d):(\d\d),(\d\d\d))");
  std::istringstream in(srt);
  std::string line;
  Cue* cur = nullptr;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, time_line)) {
      auto ms = [&](int k) {
        return std::stoll(m[k]) * 3600000 + std::stoll(m[k + 1]) * 60000 + std::stoll(m[k + 2]) * 1000 + std::stoll(m[k + 3]);
      };
      cues.push_back({ms(1), ms(5), ""});
      cur = &cues.back();
    } else if (cur && !line.empty()) {
      cur->text += (cur->text.empty() ? "" : "\n") + line;
    } else if (line.empty()) {
      cur = nullptr;
    }
  }
  return cues;
}

TEST(MediaUtil, Base64MatchesRfc4648Vectors) {
  auto b64 = [](const std::string& s) { return base64_encode(std::vector<uint8_t>(s.begin(), s.end())); };
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foob"), "Zm9vYg==");
  EXPECT_EQ(b64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(b64("foobar"), "Zm9vYmFy");
}

TEST(MediaUtil, JpegThumbnailIsScaledJpeg) {
  TempDir dir;
  const std::vector<uint8_t> jpg = sampler::encode_jpeg(gradient_frame(640, 360, 0.0), 160);
  ASSERT_GT(jpg.size(), 4u);
  EXPECT_EQ(jpg[0], 0xFF);
  EXPECT_EQ(jpg[1], 0xD8);
  smolvid::test::write_file(dir.file("t.jpg"), std::string(jpg.begin(), jpg.end()));
  auto r = run_command("ffprobe -v error -show_entries stream=codec_name,width,height -of csv=p=0 " + shell_quote(dir.file("t.jpg")));
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "mjpeg,160,90\n");
  decode::Frame bad = gradient_frame(4, 4, 0.0);
  bad.pixels.resize(10);
  EXPECT_THROW(sampler::encode_jpeg(bad), sampler::SamplerError);
}

TEST(Outputs, ValidateRejectsBadTimes) {
  Summary s = launch_summary();
  s.segments[1].start_s = -0.5;
  EXPECT_THROW(validate_summary(s), OutputError);
  s = launch_summary();
  s.segments[1].end_s = s.segments[1].start_s;
  EXPECT_THROW(validate_summary(s), OutputError);
  s = launch_summary();
  std::swap(s.segments[0], s.segments[1]);
  EXPECT_THROW(validate_summary(s), OutputError);
  s = launch_summary();
  s.segments[0].frame_times_s = {2.0, 1.0};
  EXPECT_THROW(validate_summary(s), OutputError);
  EXPECT_THROW(parse_summary_format("pdf"), OutputError);
  EXPECT_EQ(parse_summary_format("chapters"), SummaryFormat::kChapters);
}

TEST(Outputs, JsonValidatesAgainstDocumentedSchema) {
  TempDir dir;
  const Summary s = launch_summary();
  write_to(s, SummaryFormat::kJson, dir.file("s.json"));
  const std::string schema = smolvid::test::source_dir() + "/pipeline/summary.schema.json";
  const std::string validate =
      "/usr/bin/python3 -c 'import json,sys,jsonschema; jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))"
      ".validate(json.load(open(sys.argv[2]))); print(\"valid\")' ";
  auto r = run_command(validate + shell_quote(schema) + " " + shell_quote(dir.file("s.json")) + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "valid\n");

  const nlohmann::json doc = nlohmann::json::parse(smolvid::test::read_file(dir.file("s.json")));
  ASSERT_EQ(doc["segments"].size(), 2u);
  EXPECT_DOUBLE_EQ(doc["segments"][1]["start_s"].get<double>(), 3.09);
  EXPECT_EQ(doc["segments"][1]["frame_times_s"], nlohmann::json({3.2, 5.0, 7.9}));
  EXPECT_EQ(doc["segments"][0]["caption"], s.segments[0].caption);
  EXPECT_EQ(doc["timings_s"]["total"], 1.25);

  // The validator is not a rubber stamp: a document without a segment's start is rejected.
  nlohmann::json broken = doc;
  broken["segments"][0].erase("start_s");
  smolvid::test::write_file(dir.file("broken.json"), broken.dump());
  r = run_command(validate + shell_quote(schema) + " " + shell_quote(dir.file("broken.json")) + " 2>&1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("start_s"), std::string::npos) << r.output;
}

TEST(Outputs, SrtIsParsedByFfmpegWithOurTimes) {
  TempDir dir;
  const Summary s = launch_summary();
  write_to(s, SummaryFormat::kSrt, dir.file("s.srt"));
  auto r = run_command("ffmpeg -nostdin -v error -i " + shell_quote(dir.file("s.srt")) + " -f srt -");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<Cue> cues = parse_srt(r.output);
  ASSERT_EQ(cues.size(), s.segments.size()) << r.output;
  for (size_t i = 0; i < cues.size(); ++i) {
    EXPECT_EQ(cues[i].start_ms, to_millis(s.segments[i].start_s)) << i;
    EXPECT_EQ(cues[i].end_ms, to_millis(s.segments[i].end_s)) << i;
    if (i > 0) {
      EXPECT_GE(cues[i].start_ms, cues[i - 1].start_ms);
    }
  }
  EXPECT_NE(cues[1].text.find("Second paragraph."), std::string::npos) << cues[1].text;
  EXPECT_NE(cues[1].text.find("under an overcast sky."), std::string::npos) << cues[1].text;
}

TEST(Outputs, VttIsParsedByFfmpegWithOurTimesAndText) {
  TempDir dir;
  const Summary s = launch_summary();
  const std::string vtt = write_to(s, SummaryFormat::kVtt, dir.file("s.vtt"));
  EXPECT_EQ(vtt.rfind("WEBVTT\n", 0), 0u);
  auto r = run_command("ffmpeg -nostdin -v error -i " + shell_quote(dir.file("s.vtt")) + " -f srt -");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<Cue> cues = parse_srt(r.output);
  ASSERT_EQ(cues.size(), s.segments.size()) << r.output;
  for (size_t i = 0; i < cues.size(); ++i) {
    EXPECT_EQ(cues[i].start_ms, to_millis(s.segments[i].start_s)) << i;
    EXPECT_EQ(cues[i].end_ms, to_millis(s.segments[i].end_s)) << i;
  }
  // ffmpeg decodes the escaped entities back to the caption's characters.
  EXPECT_NE(cues[0].text.find("& smoke"), std::string::npos) << cues[0].text;
}

TEST(Outputs, ChaptersAreMuxedByFfmpeg) {
  TempDir dir;
  const Summary s = launch_summary();
  write_to(s, SummaryFormat::kChapters, dir.file("chapters.txt"));
  const std::string mkv = dir.file("out.mkv");
  auto r = run_command("ffmpeg -nostdin -v error -i " + shell_quote(smolvid::test::media("oa4_launch.webm")) + " -i " +
                       shell_quote(dir.file("chapters.txt")) + " -map_metadata 1 -codec copy " + shell_quote(mkv) + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command("ffprobe -v error -show_chapters -of json " + shell_quote(mkv));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const nlohmann::json probe = nlohmann::json::parse(r.output);
  const nlohmann::json& chapters = probe["chapters"];
  ASSERT_EQ(chapters.size(), s.segments.size()) << r.output;
  for (size_t i = 0; i < chapters.size(); ++i) {
    EXPECT_NEAR(std::stod(chapters[i]["start_time"].get<std::string>()), s.segments[i].start_s, 0.0005) << i;
    EXPECT_NEAR(std::stod(chapters[i]["end_time"].get<std::string>()), s.segments[i].end_s, 0.0005) << i;
  }
  // Escaped '=', ';' and '#' come back as written; the newlines became spaces.
  EXPECT_EQ(chapters[0]["tags"]["title"], s.segments[0].caption);
  EXPECT_EQ(chapters[1]["tags"]["title"], "Lift-off --> bright flame under an overcast sky.  Second paragraph.");
}

TEST(Outputs, HtmlIsWellFormedSelfContainedAndEscaped) {
  const Summary s = launch_summary();
  std::ostringstream out;
  write_html(s, out);
  const std::string html = out.str();
  EXPECT_EQ(html.rfind("<!DOCTYPE html>\n", 0), 0u);
  EXPECT_EQ(tag_balance_problem(html.substr(std::string("<!DOCTYPE html>\n").size())), "");
  EXPECT_EQ(html.find("<b>between</b>"), std::string::npos);
  EXPECT_NE(html.find("&lt;b&gt;between&lt;/b&gt; towers &amp; smoke"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  // One embedded JPEG per segment, holding exactly the thumbnail bytes.
  const std::string prefix = "<img src=\"data:image/jpeg;base64,";
  std::vector<std::string> uris;
  for (size_t p = html.find(prefix); p != std::string::npos; p = html.find(prefix, p + 1)) {
    const size_t begin = p + prefix.size();
    const size_t end = html.find('"', begin);
    ASSERT_NE(end, std::string::npos);
    uris.push_back(html.substr(begin, end - begin));
    EXPECT_EQ(uris.back().find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="), std::string::npos);
  }
  ASSERT_EQ(uris.size(), 2u);
  for (size_t i = 0; i < uris.size(); ++i) {
    auto r = run_command("printf %s " + shell_quote(uris[i]) + " | base64 -d | od -An -tx1 -v | tr -d ' \\n'");
    ASSERT_EQ(r.exit_code, 0);
    std::string hex;
    for (uint8_t b : s.segments[i].thumbnail_jpeg) hex += fmt::format("{:02x}", b);
    EXPECT_EQ(r.output, hex) << "segment " << i;
  }
  // Time ranges in order.
  EXPECT_LT(html.find("00:00:00.000 &ndash; 00:00:03.090"), html.find("00:00:03.090 &ndash; 00:00:08.040"));
  // The checker itself catches a broken page.
  EXPECT_NE(tag_balance_problem("<html><body><p>x</body></html>"), "");
}

TEST(Outputs, TextListsSegmentsInOrder) {
  const Summary s = launch_summary();
  std::ostringstream out;
  write_text(s, out);
  const std::string text = out.str();
  EXPECT_NE(text.find(s.summary), std::string::npos);
  const size_t a = text.find("[00:00:00.000 - 00:00:03.090] Wide shot");
  const size_t b = text.find("[00:00:03.090 - 00:00:08.040] Lift-off");
  ASSERT_NE(a, std::string::npos) << text;
  ASSERT_NE(b, std::string::npos) << text;
  EXPECT_LT(a, b);
}

}  // namespace
}  // namespace smolvid::pipeline

namespace smolvid::pipeline {
namespace {

TEST(Progress, RendersCountsElapsedAndEta) {
  ProgressBar bar("summarize", 4, ProgressBar::Mode::kNever);
  EXPECT_FALSE(bar.enabled());
  EXPECT_EQ(bar.render(1, 30.0, "segment 1/3"), "summarize [#####...............] 1/4  00:30 elapsed  01:30 left  segment 1/3");
  EXPECT_EQ(bar.render(4, 125.0, ""), "summarize [####################] 4/4  02:05 elapsed");
  ProgressBar open_ended("batch", 0, ProgressBar::Mode::kNever);
  EXPECT_EQ(open_ended.render(7, 3725.0, ""), "batch 7  1:02:05 elapsed");
}

// The model download's bar (pipeline/hub.cpp) is the same bar counting bytes: a resumed file
// counts its rate and time left from what this transfer received.
TEST(Progress, RendersBytesWithRateForDownloads) {
  constexpr int64_t kMiB = 1024 * 1024;
  ProgressBar dl("model.safetensors", 100 * kMiB, ProgressMode::kNever, stderr, ProgressBar::Unit::kBytes, 20 * kMiB);
  EXPECT_EQ(dl.render(60 * kMiB, 10.0, ""),
            "model.safetensors [############........] 60.0/100.0 MB  4.0 MB/s  00:10 elapsed  00:10 left");
  ProgressBar unknown("tokenizer.json", -1, ProgressMode::kNever, stderr, ProgressBar::Unit::kBytes);
  EXPECT_EQ(unknown.render(3 * kMiB, 2.0, ""), "tokenizer.json 3.0 MB  1.5 MB/s  00:02 elapsed");
}

}  // namespace
}  // namespace smolvid::pipeline
