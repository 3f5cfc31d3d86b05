// End-to-end tests of the smolvid executable. The tiny golden checkpoint (a real SmolVLM2 layout
// with a tiny tokenizer) makes its text meaningless, so the tests check structure against
// independent tools: ffprobe durations, the ffmpeg CLI reading our subtitles and chapters, python3
// jsonschema for the JSON schema, python3 html.parser for the HTML, MEDIA.md facts for the events.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/cli/cli_util.h"
#include "tests/test_support.h"

extern char** environ;

namespace smolvid::test {
namespace {

using nlohmann::json;

std::string tiny_model() { return golden("tiny-smolvlm"); }
// Small generation settings that keep every tiny-model run well under a second of model time.
std::string tiny_args(int max_new_tokens = 4) {
  return "--model " + shell_quote(tiny_model()) + " --max-new-tokens " + std::to_string(max_new_tokens) + " --threads 1";
}

// One line on stderr, prefixed like main() prints errors, exit code 1.
void expect_one_line_failure(const CmdResult& r, const std::string& must_contain) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("smolvid: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(must_contain), std::string::npos) << "stderr does not name '" << must_contain << "': " << r.err;
}

TEST(CliHelp, EveryModelCommandStatesItsDefaults) {
  TempDir dir;
  for (const char* cmd : {"ask", "summarize", "batch", "index"}) {
    const CmdResult r = smolvid(std::string(cmd) + " --help", dir);
    ASSERT_EQ(r.exit_code, 0) << cmd << ": " << r.err;
    for (const char* needle : {"--model", "HuggingFaceTB/SmolVLM2-256M-Video-Instruct", "--threads", "--dtype", "--device",
                               "--max-new-tokens", "--temperature", "--top-p", "--seed", "SMOLVID_MODEL"}) {
      EXPECT_NE(r.out.find(needle), std::string::npos) << cmd << " --help lacks " << needle;
    }
  }
  const CmdResult search = smolvid("search --help", dir);
  ASSERT_EQ(search.exit_code, 0);
  EXPECT_NE(search.out.find("--from"), std::string::npos);
  EXPECT_EQ(search.out.find("--model"), std::string::npos) << "search loads no model";
}

TEST(CliErrors, BadOptionsExitTwo) {
  TempDir dir;
  const std::string clip = shell_quote(media("oa4_launch.webm"));
  for (const std::string& args : std::vector<std::string>{"ask " + clip + " q --dtype float16", "ask " + clip + " q --device tpu",
                                  "ask " + clip + " q --max-new-tokens 0", "ask " + clip + " q --top-p 1.5",
                                  "ask " + clip + " q --strategy nonsense", "ask " + clip + " --no-such-option q",
                                  "ask " + clip + " " + tiny_args(),  // no question at all
                                  "summarize " + clip + " --format pdf", "summarize " + clip + " --segment abc",
                                  "batch m.jsonl --out r.jsonl --shard 3/2", "batch m.jsonl --out r.jsonl --item-timeout soon",
                                  "index " + clip, "search", "search db.sqlite --json --html", "search db.sqlite --from yesterday"}) {
    const CmdResult r = smolvid(args, dir);
    EXPECT_EQ(r.exit_code, 2) << args << "\nstderr: " << r.err;
    EXPECT_FALSE(r.err.empty()) << args << ": a usage error says why";
  }
}

TEST(CliErrors, BadInputsGiveOneLineAndExitOne) {
  TempDir dir;
  const std::string missing = dir.file("no-such-video.mp4");
  expect_one_line_failure(smolvid("ask " + shell_quote(missing) + " 'What?' " + tiny_args(), dir), missing);
  expect_one_line_failure(smolvid("summarize " + shell_quote(missing) + " " + tiny_args(), dir), missing);
  expect_one_line_failure(smolvid("index " + shell_quote(missing) + " --db " + shell_quote(dir.file("x.sqlite")) + " " + tiny_args(), dir), missing);

  const std::string not_video = dir.file("notes.mp4");
  write_file(not_video, "these are not video bytes\n");
  expect_one_line_failure(smolvid("ask " + shell_quote(not_video) + " 'What?' " + tiny_args(), dir), not_video);

  const std::string no_model = dir.file("no-model-here");
  expect_one_line_failure(smolvid("ask " + shell_quote(media("oa4_launch.webm")) + " 'What?' --model " + shell_quote(no_model), dir), no_model);

  const std::string no_db = dir.file("missing.sqlite");
  expect_one_line_failure(smolvid("search " + shell_quote(no_db) + " car", dir), no_db);

  const std::string bad_manifest = dir.file("bad.jsonl");
  write_file(bad_manifest, "{\"id\": \"a\", \"video\": \"x.mp4\", \"question\": \"q\"}\n{not json\n");
  expect_one_line_failure(smolvid("batch " + shell_quote(bad_manifest) + " --out " + shell_quote(dir.file("r.jsonl")) + " " + tiny_args(), dir),
                          bad_manifest);
}

TEST(CliErrors, OfflineWithoutTheModelSaysHowToPointModelAtALocalCopy) {
  TempDir dir;  // smolvid() sets HF_HUB_OFFLINE=1 and an empty cache
  const CmdResult r = smolvid("ask " + shell_quote(media("oa4_launch.webm")) + " 'What happens?'", dir);
  expect_one_line_failure(r, "HuggingFaceTB/SmolVLM2-256M-Video-Instruct");
  EXPECT_NE(r.err.find("--model"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("local"), std::string::npos) << r.err;
}

TEST(CliAsk, JsonListsFramesWithinTheVideoAndOneAnswerPerQuestion) {
  TempDir dir;
  const std::string clip = media("oa4_launch.webm");
  const CmdResult r = smolvid("ask " + shell_quote(clip) + " 'What happens?' --question 'Where is it?' --question 'When?' --max-frames 4 --json " +
                            tiny_args(5),
                        dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  const double duration = ffprobe_duration(clip, dir);
  ASSERT_EQ(j["answers"].size(), 3u);
  EXPECT_EQ(j["answers"][1]["question"], "Where is it?");
  for (const json& a : j["answers"]) {
    EXPECT_GE(a["generated_tokens"].get<int>(), 1);
    EXPECT_LE(a["generated_tokens"].get<int>(), 5);
    EXPECT_TRUE(a["stop_reason"] == "eos" || a["stop_reason"] == "max_new_tokens") << a.dump();
    // 4 frames of the tiny model's video size: 4 image tokens blocks plus the text.
    EXPECT_GT(a["prompt_tokens"].get<int>(), 4);
  }
  ASSERT_EQ(j["frames"].size(), 4u);
  double previous = -1.0;
  for (const json& f : j["frames"]) {
    const double t = f["pts_s"].get<double>();
    EXPECT_GT(t, previous);
    EXPECT_GE(t, 0.0);
    EXPECT_LT(t, duration);
    previous = t;
  }
  EXPECT_NEAR(j["duration_s"].get<double>(), duration, ffprobe_frame_interval(clip, dir));
  for (const char* stage : {"sample", "decode", "model", "total"}) EXPECT_TRUE(j["timings_s"].contains(stage)) << stage;
}

TEST(CliAsk, StreamsOneAnswerPerQuestionAsText) {
  TempDir dir;
  const CmdResult r = smolvid("ask " + shell_quote(media("realshort.mp4")) + " 'First?' -q 'Second?' --max-frames 2 " + tiny_args(3), dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const size_t q1 = r.out.find("Q1: First?\nA1: "), q2 = r.out.find("\nQ2: Second?\nA2: ");
  EXPECT_EQ(q1, 0u) << r.out;
  EXPECT_NE(q2, std::string::npos) << r.out;
  EXPECT_EQ(r.out.back(), '\n');
}

// ---- summarize ----------------------------------------------------------------------------------

class CliSummarize : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    clip_ = media("oa4_launch.webm");
    duration_ = ffprobe_duration(clip_, *dir_);
    frame_ = ffprobe_frame_interval(clip_, *dir_);
    for (const char* format : {"json", "srt", "vtt", "chapters", "html", "text"}) {
      const std::string out = dir_->file(std::string("summary.") + format);
      const CmdResult r = smolvid("summarize " + shell_quote(clip_) + " --segment 3s --format " + format + " --out " + shell_quote(out) + " " +
                                tiny_args(4),
                            *dir_);
      ASSERT_EQ(r.exit_code, 0) << format << ": " << r.err;
      files_[format] = out;
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static json summary() { return json::parse(read_file(files_["json"])); }

  static TempDir* dir_;
  static std::string clip_;
  static double duration_, frame_;
  static std::map<std::string, std::string> files_;
};
TempDir* CliSummarize::dir_ = nullptr;
std::string CliSummarize::clip_;
double CliSummarize::duration_ = 0.0, CliSummarize::frame_ = 0.0;
std::map<std::string, std::string> CliSummarize::files_;

TEST_F(CliSummarize, JsonIsValidAgainstTheSchema) {
  const std::string script = dir_->file("validate.py");
  write_file(script,
             "import json, sys, jsonschema\n"
             "schema = json.load(open(sys.argv[1]))\n"
             "jsonschema.validators.validator_for(schema).check_schema(schema)\n"
             "jsonschema.validate(json.load(open(sys.argv[2])), schema)\n");
  const CmdResult r = run_shell("/usr/bin/python3 " + shell_quote(script) + " " + shell_quote(source_dir() + "/pipeline/summary.schema.json") + " " +
                              shell_quote(files_["json"]),
                          *dir_);
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(CliSummarize, SegmentsAreFixedWindowsMonotonicAndWithinTheVideo) {
  const json s = summary();
  const json& segs = s["segments"];
  // 3 s windows over the ffprobe duration.
  ASSERT_EQ(segs.size(), static_cast<size_t>(std::ceil(duration_ / 3.0))) << s.dump(1);
  double previous_end = 0.0;
  for (size_t i = 0; i < segs.size(); ++i) {
    const double a = segs[i]["start_s"], b = segs[i]["end_s"];
    EXPECT_GE(a, 0.0);
    EXPECT_LT(a, b);
    EXPECT_GE(a, previous_end - 1e-9) << "segment " << i << " overlaps the previous one";
    // A segment ends at most one frame after the container's duration (the last frame's own length).
    EXPECT_LE(b, duration_ + frame_) << "segment " << i;
    if (i > 0) {
      EXPECT_NEAR(a, 3.0 * i, frame_) << "segment " << i << " should start near its window";
    }
    for (const json& t : segs[i]["frame_times_s"]) {
      EXPECT_GE(t.get<double>(), a);
      EXPECT_LT(t.get<double>(), b);
    }
    previous_end = b;
  }
  EXPECT_NEAR(segs.back()["end_s"].get<double>(), duration_, frame_);
}

TEST_F(CliSummarize, FfmpegReadsTheSubtitlesWithOneCuePerSegment) {
  const size_t n = summary()["segments"].size();
  for (const auto& [format, convert_to] : std::map<std::string, std::string>{{"srt", "webvtt"}, {"vtt", "srt"}}) {
    const CmdResult r = run_shell("ffmpeg -v error -i " + shell_quote(files_[format]) + " -f " + convert_to + " -", *dir_);
    ASSERT_EQ(r.exit_code, 0) << format << ": " << r.err;
    EXPECT_TRUE(r.err.empty()) << format << ": ffmpeg complained: " << r.err;
    size_t cues = 0;
    for (size_t p = r.out.find("-->"); p != std::string::npos; p = r.out.find("-->", p + 3)) ++cues;
    EXPECT_EQ(cues, n) << format << " converted:\n" << r.out;
  }
}

TEST_F(CliSummarize, FfmpegMuxesTheChaptersAtTheSegmentTimes) {
  const std::string muxed = dir_->file("chaptered.mkv");
  const CmdResult mux = run_shell("ffmpeg -v error -y -i " + shell_quote(clip_) + " -i " + shell_quote(files_["chapters"]) +
                                " -map_metadata 1 -map_chapters 1 -codec copy " + shell_quote(muxed),
                            *dir_);
  ASSERT_EQ(mux.exit_code, 0) << mux.err;
  const CmdResult probe = run_shell("ffprobe -v error -show_chapters -of json " + shell_quote(muxed), *dir_);
  ASSERT_EQ(probe.exit_code, 0) << probe.err;
  const json chapters = json::parse(probe.out)["chapters"];
  const json segs = summary()["segments"];
  ASSERT_EQ(chapters.size(), segs.size()) << probe.out;
  for (size_t i = 0; i < segs.size(); ++i) {
    EXPECT_NEAR(std::stod(chapters[i]["start_time"].get<std::string>()), segs[i]["start_s"].get<double>(), 0.0011) << i;
    EXPECT_NEAR(std::stod(chapters[i]["end_time"].get<std::string>()), segs[i]["end_s"].get<double>(), 0.0011) << i;
  }
}

TEST_F(CliSummarize, HtmlIsWellFormedWithAThumbnailPerSegment) {
  EXPECT_EQ(html_problem(files_["html"], *dir_), "");
  const std::string html = read_file(files_["html"]);
  size_t images = 0;
  for (size_t p = html.find("src=\"data:image/jpeg;base64,"); p != std::string::npos; p = html.find("src=\"data:image/jpeg;base64,", p + 1))
    ++images;
  EXPECT_EQ(images, summary()["segments"].size());
  EXPECT_EQ(html.find("http://"), std::string::npos) << "self-contained: no external resources";
}

TEST_F(CliSummarize, OutExtensionChoosesTheFormatAndStdoutIsTheDefault) {
  const std::string out = dir_->file("by-extension.srt");
  const CmdResult r = smolvid("summarize " + shell_quote(clip_) + " --segment 3s --out " + shell_quote(out) + " " + tiny_args(4), *dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(out), read_file(files_["srt"])) << "same options, greedy decoding: the same subtitles";
  const CmdResult text = smolvid("summarize " + shell_quote(clip_) + " --segment 3s --no-summary " + tiny_args(4), *dir_);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("[00:00:03.0"), std::string::npos) << text.out;
}

// ---- batch --------------------------------------------------------------------------------------

std::vector<std::string> manifest_ids(size_t n) {
  std::vector<std::string> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back("item-" + std::to_string(i));
  return ids;
}

// A manifest of short clips (and one missing file, which must be recorded as an error).
std::string write_manifest(const TempDir& dir, const std::vector<std::string>& ids) {
  const std::vector<std::string> clips = {"realshort.mp4", "asl_thanks.mkv", "oa4_launch.webm", "coin_motion.mov", "chaplin.mp4"};
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string video = i == 3 ? dir.file("missing.mp4") : media(clips[i % clips.size()]);
    text += json{{"id", ids[i]}, {"video", video}, {"question", "What is shown?"}}.dump() + "\n";
  }
  const std::string path = dir.file("manifest.jsonl");
  write_file(path, text);
  return path;
}

size_t lines_in(const std::string& path) { return std::filesystem::exists(path) ? count_lines(read_file(path)) : 0; }

TEST(CliBatch, ResumeAfterKillNineLosesAndDuplicatesNothing) {
  TempDir dir;
  const std::vector<std::string> ids = manifest_ids(12);
  const std::string manifest = write_manifest(dir, ids);
  const std::string results = dir.file("results.jsonl");
  const std::string command = "env HF_HUB_OFFLINE=1 " + shell_quote(smolvid_binary()) + " batch " + shell_quote(manifest) + " --out " +
                              shell_quote(results) + " --resume --max-frames 2 --progress never " + tiny_args(3) + " 2>/dev/null";
  std::mt19937 rng(1234);
  int kills_mid_run = 0;
  bool finished = false;
  for (int round = 0; round < 40 && !finished; ++round) {
    const size_t before = lines_in(results);
    const pid_t pid = spawn_shell(command);
    ASSERT_GT(pid, 0);
    // Every third round dies while starting (model loading, resume scan); the others once a random
    // number of new lines is written, plus a random delay so the kill lands inside an item.
    int status = 0;
    pid_t waited = 0;
    if (round % 3 == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 400)(rng)));
    } else {
      const size_t target = before + std::uniform_int_distribution<size_t>(1, 4)(rng);
      while ((waited = waitpid(pid, &status, WNOHANG)) == 0 && lines_in(results) < target)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 150)(rng)));
    }
    if (waited == 0) {
      kill(pid, SIGKILL);
      ASSERT_EQ(waitpid(pid, &status, 0), pid);
    }
    if (WIFEXITED(status)) {
      ASSERT_EQ(WEXITSTATUS(status), 0);
      finished = true;
      continue;
    }
    const size_t after = lines_in(results);
    if (after > before && after < ids.size()) ++kills_mid_run;
    // A crash inside write(2) leaves a partial last line; --resume must cut it off.
    if (round % 4 == 1) {
      std::ofstream torn(results, std::ios::app | std::ios::binary);
      torn << "{\"id\":\"" << ids[0] << "\",\"status\":\"o";
    }
  }
  ASSERT_TRUE(finished) << "the batch never completed";
  EXPECT_GE(kills_mid_run, 2) << "too few kills landed between items; the test did not exercise resume";
  const std::map<std::string, int> got = result_ids(results);
  ASSERT_EQ(got.size(), ids.size());
  for (const std::string& id : ids) EXPECT_EQ(got.count(id) ? got.at(id) : 0, 1) << id;
  // The missing video is recorded as an error, the rest are answered.
  const std::string text = read_file(results);
  EXPECT_NE(text.find("\"status\":\"error\""), std::string::npos);
}

TEST(CliBatch, ShardsAreDisjointAndMergeCoversTheManifest) {
  TempDir dir;
  const std::vector<std::string> ids = manifest_ids(6);
  const std::string manifest = write_manifest(dir, ids);
  std::vector<std::string> shard_files;
  size_t total = 0;
  for (int k = 0; k < 3; ++k) {
    // The shard index comes from the Slurm array environment here, as on a cluster.
    const CmdResult r = smolvid("batch " + shell_quote(manifest) + " --out " + shell_quote(dir.file("shard-{shard}-of-{shards}.jsonl")) +
                              " --max-frames 2 " + tiny_args(2),
                          dir, "SLURM_ARRAY_TASK_ID=" + std::to_string(k) + " SLURM_ARRAY_TASK_COUNT=3");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string file = dir.file("shard-" + std::to_string(k) + "-of-3.jsonl");
    ASSERT_TRUE(std::filesystem::exists(file)) << r.err;
    total += result_ids(file).size();
    shard_files.push_back(file);
  }
  EXPECT_EQ(total, ids.size()) << "shards overlap or miss items";
  const std::string merged = dir.file("merged.jsonl");
  std::string args = "batch merge " + shell_quote(merged);
  for (const auto& f : shard_files) args += " " + shell_quote(f);
  args += " " + shell_quote(shard_files[0]);  // a shard given twice: its lines are duplicates, dropped
  const CmdResult m = smolvid(args + " --manifest " + shell_quote(manifest), dir);
  ASSERT_EQ(m.exit_code, 0) << m.err;
  const std::map<std::string, int> got = result_ids(merged);
  ASSERT_EQ(got.size(), ids.size());
  for (const auto& [id, count] : got) EXPECT_EQ(count, 1) << id;
  // Without the last shard, the merge names the missing ids and fails.
  const CmdResult partial = smolvid("batch merge " + shell_quote(dir.file("partial.jsonl")) + " " + shell_quote(shard_files[0]) + " --manifest " +
                                  shell_quote(manifest),
                              dir);
  if (result_ids(shard_files[0]).size() < ids.size()) expect_one_line_failure(partial, "have no result");
}

// ---- index + search -----------------------------------------------------------------------------

class CliIndex : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    db_ = dir_->file("events.sqlite");
    const CmdResult r = smolvid("index " + shell_quote(media("tree.avi")) + " " + shell_quote(media("bottle-detection.mp4")) + " --db " + shell_quote(db_) +
                              " " + tiny_args(6),
                          *dir_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    index_out_ = r.out;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  // Events of `camera` overlapping [from, to] video seconds.
  static json search(const std::string& camera, double from, double to) {
    const CmdResult r = smolvid("search " + shell_quote(db_) + " --camera " + shell_quote(camera) + " --from " + std::to_string(from) + " --to " +
                              std::to_string(to) + " --json",
                          *dir_);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out)["results"];
  }
  static TempDir* dir_;
  static std::string db_, index_out_;
};
TempDir* CliIndex::dir_ = nullptr;
std::string CliIndex::db_, CliIndex::index_out_;

TEST_F(CliIndex, FindsTheHandInFrontOfTheTreeCameraByTime) {
  // MEDIA.md: tree.avi is static until a hand enters at about 24 s and stays to the end.
  EXPECT_TRUE(search("tree", 0.0, 20.0).empty());
  const json hits = search("tree", 25.0, 27.0);
  ASSERT_FALSE(hits.empty());
  const double duration = ffprobe_duration(media("tree.avi"), *dir_);
  for (const json& h : hits) {
    EXPECT_GE(h["start_s"].get<double>(), 20.0);
    EXPECT_LE(h["start_s"].get<double>(), 26.0);
    // tree.avi's frames come 0.33-0.67 s apart (MEDIA.md): the event ends within one frame of the end.
    EXPECT_NEAR(h["end_s"].get<double>(), duration, 0.7);
  }
}

TEST_F(CliIndex, FindsTheHandsAndBottlesOfTheBottleCameraByTime) {
  // MEDIA.md: hands in view about 12-16, 22 and 28-34 s; bottles removed about 8-10 and 18-20 s.
  for (double t : {14.0, 22.5, 31.0}) EXPECT_FALSE(search("bottle-detection", t, t).empty()) << "nothing at " << t << " s";
  const double duration = ffprobe_duration(media("bottle-detection.mp4"), *dir_);
  const CmdResult all = smolvid("search " + shell_quote(db_) + " --camera bottle-detection --json --limit 100", *dir_);
  ASSERT_EQ(all.exit_code, 0) << all.err;
  for (const json& h : json::parse(all.out)["results"]) {
    EXPECT_LT(h["start_s"].get<double>(), h["end_s"].get<double>());
    EXPECT_GE(h["start_s"].get<double>(), 0.0);
    EXPECT_LE(h["end_s"].get<double>(), duration + ffprobe_frame_interval(media("bottle-detection.mp4"), *dir_));
  }
}

TEST_F(CliIndex, ReindexingIsANoOpAndHtmlIsWellFormed) {
  const CmdResult again = smolvid("index " + shell_quote(media("tree.avi")) + " --db " + shell_quote(db_) + " " + tiny_args(6), *dir_);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("already indexed"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("0 new events"), std::string::npos) << again.out;

  const std::string html = dir_->file("search.html");
  const CmdResult r = smolvid("search " + shell_quote(db_) + " --html > " + shell_quote(html), *dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(html_problem(html, *dir_), "");
  EXPECT_NE(read_file(html).find("data:image/jpeg;base64,"), std::string::npos);
}

TEST_F(CliIndex, WallClockStartTimeMakesWallClockSearchWork) {
  const std::string db = dir_->file("wall.sqlite");
  const CmdResult r = smolvid("index " + shell_quote(media("bottle-detection.mp4")) + " --db " + shell_quote(db) +
                            " --camera shelf --start-time 2024-05-01T10:00:00Z " + tiny_args(2),
                        *dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const CmdResult hit = smolvid("search " + shell_quote(db) + " --from 2024-05-01T10:00:22Z --to 2024-05-01T10:00:23Z --json", *dir_);
  ASSERT_EQ(hit.exit_code, 0) << hit.err;
  const json results = json::parse(hit.out)["results"];
  ASSERT_FALSE(results.empty()) << hit.out;
  EXPECT_EQ(results[0]["camera"], "shelf");
  const CmdResult none = smolvid("search " + shell_quote(db) + " --from 2024-05-02 --json", *dir_);
  EXPECT_TRUE(json::parse(none.out)["results"].empty()) << none.out;
}

// ---- full-size model ----------------------------------------------------------------------------

TEST(CliFullSize, AskAndSummarizeRunTheRandom256MCheckpoint) {
  TempDir dir;
  const std::string cfg = reference("configs/SmolVLM2-256M-Video-Instruct/reconstructed");
  const std::string model = dir.file("smolvlm2-256m-random");
  const CmdResult make = smolvid("debug random-checkpoint --config " + shell_quote(cfg + "/config.json") + " --tensors " +
                               shell_quote(cfg + "/tensors.json") + " --extra-files " +
                               shell_quote(reference("configs/SmolVLM-256M-Instruct")) + " --out " + shell_quote(model),
                           dir);
  ASSERT_EQ(make.exit_code, 0) << make.err;
  const std::string clip = media("realshort.mp4");
  const CmdResult r = smolvid("ask " + shell_quote(clip) + " 'What is on the windowsill?' --max-frames 1 --max-new-tokens 2 --json --model " +
                            shell_quote(model),
                        dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_EQ(j["frames"].size(), 1u);
  EXPECT_LT(j["frames"][0]["pts_s"].get<double>(), ffprobe_duration(clip, dir));
  ASSERT_EQ(j["answers"].size(), 1u);
  EXPECT_GE(j["answers"][0]["generated_tokens"].get<int>(), 1);
  EXPECT_LE(j["answers"][0]["generated_tokens"].get<int>(), 2);
  // One 512x512 frame through the 256M connector is 64 image tokens, plus the prompt text.
  EXPECT_GT(j["answers"][0]["prompt_tokens"].get<int>(), 64);

  // summarize: the two shots of oa4_launch.webm (cut at 3.09 s, MEDIA.md), one frame each.
  const std::string launch = media("oa4_launch.webm");
  const std::string summary = dir.file("launch.json");
  const CmdResult s = smolvid("summarize " + shell_quote(launch) + " --frames-per-segment 1 --max-new-tokens 2 --no-summary --out " +
                                  shell_quote(summary) + " --model " + shell_quote(model),
                              dir);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  const json segs = json::parse(read_file(summary))["segments"];
  ASSERT_EQ(segs.size(), 2u) << segs.dump();
  EXPECT_NEAR(segs[0]["end_s"].get<double>(), 3.09, ffprobe_frame_interval(launch, dir));
  EXPECT_NEAR(segs[1]["end_s"].get<double>(), ffprobe_duration(launch, dir), ffprobe_frame_interval(launch, dir));
  EXPECT_EQ(segs[0]["frame_times_s"].size(), 1u);
}

}  // namespace
}  // namespace smolvid::test
