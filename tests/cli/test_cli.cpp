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
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
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

// Every numeric option is range-checked when the command line is parsed: exit 2, a short message
// naming the option, and nothing run (no 9.7 GB of frame times, no hang, no 8,088 segments).
TEST(CliErrors, NumericOptionsAreBoundedAtParseTime) {
  TempDir dir;
  const std::string clip = shell_quote(media("oa4_launch.webm"));
  const std::string db = shell_quote(dir.file("x.sqlite"));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"frames " + clip + " --strategy uniform --fps 1e9", "--fps"},
      {"ask " + clip + " q --strategy uniform --fps 1e9", "--fps"},
      {"frames " + clip + " --strategy uniform --fps nan", "--fps"},
      {"frames " + clip + " --max-frames 100000", "--max-frames"},
      {"frames " + clip + " --skip-secs -1", "--skip-secs"},
      {"ask " + clip + " q --threads 99999", "--threads"},
      {"ask " + clip + " q --max-new-tokens 0", "--max-new-tokens"},
      {"ask " + clip + " q --temperature nan", "--temperature"},
      {"ask " + clip + " q --start 99:99", "--start"},
      {"ask " + clip + " q --start 5 --end 2", "--end"},
      {"summarize " + clip + " --start 5 --end 2", "--end"},
      {"summarize " + clip + " --segment 0.001", "--segment"},
      {"summarize " + clip + " --segment 0", "--segment"},
      {"summarize " + clip + " --max-segment 0", "--max-segment"},
      {"batch m.jsonl --out r.jsonl --fps inf", "--fps"},
      {"index " + clip + " --db " + db + " --start-time garbage", "--start-time"},
  };
  for (const auto& [args, option] : cases) {
    const CmdResult r = smolvid(args, dir);
    EXPECT_EQ(r.exit_code, 2) << args << "\nstderr: " << r.err;
    EXPECT_NE(r.err.find(option), std::string::npos) << args << ": stderr does not name " << option << ": " << r.err;
    EXPECT_LT(r.err.size(), 300u) << args << ": " << r.err;
  }
  const CmdResult env = smolvid("ask " + clip + " q", dir, "SMOLVID_THREADS=99999");
  EXPECT_EQ(env.exit_code, 2) << env.err;
  EXPECT_NE(env.err.find("--threads"), std::string::npos) << env.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.sqlite"))) << "index ran after a bad --start-time";
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

TEST(CliErrors, AnUnknownCommandIsNamedWithTheClosestOne) {
  TempDir dir;
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"nosuch", "smolvid: unknown command 'nosuch'; "},
           {"serch db.sqlite car", "smolvid: unknown command 'serch' (did you mean 'search'?)"},
           {"debug goldne x", "smolvid debug: unknown command 'goldne' (did you mean 'golden'?)"}}) {
    const CmdResult r = smolvid(args, dir);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << args << ": " << r.err;
    EXPECT_EQ(r.err.rfind(message, 0), 0u) << args << ": " << r.err;
  }
  // A command's own arguments are not taken for commands.
  const CmdResult batch = smolvid("batch nosuch.jsonl --out r.jsonl --shard 3/2", dir);
  EXPECT_EQ(batch.exit_code, 2);
  EXPECT_EQ(batch.err.find("unknown command"), std::string::npos) << batch.err;
}

TEST(CliErrors, AModelFileIsNotTakenForAHubRepoId) {
  TempDir dir;
  const std::string clip = shell_quote(media("oa4_launch.webm"));
  write_file(dir.file("model.safetensors"), "not a checkpoint");
  // "model.safetensors" is also a valid repo id: as a file in the working folder it must not be looked up on the Hub.
  const std::filesystem::path cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  const CmdResult relative = smolvid("ask " + clip + " 'What?' --model model.safetensors", dir);
  std::filesystem::current_path(cwd);
  expect_one_line_failure(relative, "--model model.safetensors: is a file");
  expect_one_line_failure(smolvid("ask " + clip + " 'What?' --model " + shell_quote(dir.file("model.safetensors")), dir),
                          dir.file("model.safetensors") + ": is a file");
  // A file of a model folder: the message points at the folder.
  const CmdResult config = smolvid("ask " + clip + " 'What?' --model " + shell_quote(tiny_model() + "/config.json"), dir);
  expect_one_line_failure(config, "the folder " + tiny_model() + " is one");
}

TEST(CliFrames, FramesLostToDamageAreAWarningWithTheCount) {
  TempDir dir;
  // MEDIA.md: 370 of corrupt_middle.mp4's 377 frames decode; the scenes policy decodes them all.
  const std::string corrupt = shell_quote(media("edge/corrupt_middle.mp4"));
  const CmdResult text = smolvid("frames " + corrupt + " --strategy scenes", dir);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.err.find("warning: corrupt_middle.mp4: decode_all: 370 frames decoded of 377 the header declares"), std::string::npos)
      << text.err;
  EXPECT_EQ(text.out.find("decoder:"), std::string::npos) << "a warning on stderr, not a note among the picks:\n" << text.out;
  const CmdResult as_json = smolvid("frames " + corrupt + " --strategy scenes --json", dir);
  ASSERT_EQ(as_json.exit_code, 0) << as_json.err;
  const json j = json::parse(as_json.out);
  ASSERT_EQ(j["warnings"].size(), 1u) << j.dump(1);
  EXPECT_NE(j["warnings"][0].get<std::string>().find("370 frames decoded of 377"), std::string::npos);
  EXPECT_TRUE(j["notes"].empty()) << j["notes"].dump();
  // MEDIA.md: truncated_moov_front.mp4's index claims 377 frames, its bytes hold 147: the metadata
  // policy reads no frame but still says the file is cut short.
  const CmdResult truncated = smolvid("frames " + shell_quote(media("edge/truncated_moov_front.mp4")), dir);
  ASSERT_EQ(truncated.exit_code, 0) << truncated.err;
  EXPECT_NE(truncated.err.find("warning: truncated_moov_front.mp4: probe: "), std::string::npos) << truncated.err;
  EXPECT_NE(truncated.err.find("of 377 the header declares"), std::string::npos) << truncated.err;
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

TEST(CliSummarizeOut, ADirectoryOrAMissingFolderFailsBeforeTheModelAndLeavesNothing) {
  TempDir dir;
  const std::string clip = shell_quote(media("oa4_launch.webm"));
  const std::string folder = dir.file("reports");
  std::filesystem::create_directory(folder);
  const std::string nested = dir.file("no/such/folder/summary.json");
  auto leftovers = [&] {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      const std::string name = e.path().filename().string();
      if (name.rfind("stdout", 0) != 0 && name.rfind("stderr", 0) != 0 && name != "reports") names.push_back(name);
    }
    return names;
  };
  for (const std::string& out : {folder, nested}) {
    // With the model: the output is refused up front, so nothing is half written.
    expect_one_line_failure(smolvid("summarize " + clip + " --segment 3s --out " + shell_quote(out) + " " + tiny_args(2), dir), out);
    // Even a model that cannot load is never reached: the output is checked first.
    expect_one_line_failure(smolvid("summarize " + clip + " --out " + shell_quote(out) + " --model " + shell_quote(dir.file("no-model")), dir),
                            "output file " + out + ": ");
  }
  EXPECT_TRUE(std::filesystem::is_empty(folder));
  EXPECT_EQ(leftovers(), std::vector<std::string>{}) << "temporary or partial files were left behind";
}

TEST(CliSummarizeOut, AnUnknownExtensionIsAUsageErrorUnlessFormatIsGiven) {
  TempDir dir;
  const std::string clip = shell_quote(media("oa4_launch.webm"));
  const std::string notes = dir.file("notes.md");
  const CmdResult r = smolvid("summarize " + clip + " --segment 3s --out " + shell_quote(notes) + " " + tiny_args(2), dir);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  for (const char* needle : {"'.md'", ".txt (text)", ".json (json)", ".srt (srt)", ".vtt (vtt)", ".ffmeta (chapters)", ".html (html)", "--format"}) {
    EXPECT_NE(r.err.find(needle), std::string::npos) << "the error does not name " << needle << ": " << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(notes));
  // --format decides; the file then holds exactly what stdout would.
  const CmdResult text = smolvid("summarize " + clip + " --segment 3s --format text --out " + shell_quote(notes) + " " + tiny_args(2), dir);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  const CmdResult stdout_text = smolvid("summarize " + clip + " --segment 3s " + tiny_args(2), dir);
  ASSERT_EQ(stdout_text.exit_code, 0) << stdout_text.err;
  EXPECT_EQ(read_file(notes), stdout_text.out);
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
  std::string args = "batch merge --out " + shell_quote(merged);
  for (const auto& f : shard_files) args += " " + shell_quote(f);
  args += " " + shell_quote(shard_files[0]);  // a shard given twice: its lines are duplicates, dropped
  const CmdResult m = smolvid(args + " --manifest " + shell_quote(manifest), dir);
  ASSERT_EQ(m.exit_code, 0) << m.err;
  const std::map<std::string, int> got = result_ids(merged);
  ASSERT_EQ(got.size(), ids.size());
  for (const auto& [id, count] : got) EXPECT_EQ(count, 1) << id;
  // The missing video (item 3) failed as an input problem, the others are answered.
  const std::string text = read_file(merged);
  size_t start = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; start = nl + 1, nl = text.find('\n', start)) {
    const json line = json::parse(text.substr(start, nl - start));
    EXPECT_EQ(line["status"], line["id"] == ids[3] ? "error" : "ok") << line.dump();
    if (line["id"] == ids[3]) {
      EXPECT_EQ(line["error_type"], "input") << line.dump();
    }
  }
  // Without the last shard, the merge names the missing ids and fails.
  const CmdResult partial = smolvid("batch merge --out " + shell_quote(dir.file("partial.jsonl")) + " " + shell_quote(shard_files[0]) +
                                        " --manifest " + shell_quote(manifest),
                                    dir);
  if (result_ids(shard_files[0]).size() < ids.size()) expect_one_line_failure(partial, "have no result");
}

TEST(CliBatch, AFolderIsNotAManifest) {
  TempDir dir;
  const std::string folder = dir.file("videos");
  std::filesystem::create_directory(folder);
  const std::string results = dir.file("results.jsonl");
  expect_one_line_failure(smolvid("batch " + shell_quote(folder) + " --out " + shell_quote(results) + " " + tiny_args(2), dir),
                          "manifest " + folder + ": is a directory");
  EXPECT_FALSE(std::filesystem::exists(results)) << "a results file was started for a run that cannot run";
}

TEST(CliBatch, MergeWritesOnlyToOutAndNeverOverAnInput) {
  TempDir dir;
  const std::string a = dir.file("shard-0.jsonl"), b = dir.file("shard-1.jsonl");
  const std::string a_text = "{\"id\":\"1\",\"status\":\"ok\"}\n", b_text = "{\"id\":\"2\",\"status\":\"ok\"}\n";
  write_file(a, a_text);
  write_file(b, b_text);
  // The old form (output first, no --out) is a usage error, not a merge over shard-0.
  const CmdResult old_form = smolvid("batch merge " + shell_quote(a) + " " + shell_quote(b), dir);
  EXPECT_EQ(old_form.exit_code, 2) << old_form.err;
  EXPECT_NE(old_form.err.find("--out"), std::string::npos) << old_form.err;
  // An output that is one of the inputs is refused.
  expect_one_line_failure(smolvid("batch merge --out " + shell_quote(a) + " " + shell_quote(a) + " " + shell_quote(b), dir), a);
  EXPECT_EQ(read_file(a), a_text);
  EXPECT_EQ(read_file(b), b_text);
  const std::string merged = dir.file("merged.jsonl");
  const CmdResult ok = smolvid("batch merge --out " + shell_quote(merged) + " " + shell_quote(a) + " " + shell_quote(b), dir);
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(read_file(merged), a_text + b_text);
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

// A SQLite database of another application (python's sqlite3 module), an empty file and junk.
std::vector<std::string> not_an_index(const TempDir& dir) {
  const std::string other = dir.file("notes.sqlite");
  const CmdResult made = run_shell("/usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                                   "c.execute(\"CREATE TABLE notes(body TEXT)\"); c.execute(\"INSERT INTO notes VALUES (1)\"); c.commit()' " +
                                       shell_quote(other),
                                   dir);
  EXPECT_EQ(made.exit_code, 0) << made.err;
  write_file(dir.file("empty.sqlite"), "");
  write_file(dir.file("junk.sqlite"), std::string(4096, 'x'));
  return {other, dir.file("empty.sqlite"), dir.file("junk.sqlite")};
}

// files and events in a smolvid index, as python's sqlite3 module reads them: "FILES EVENTS".
std::string index_counts(const std::string& db, const TempDir& dir) {
  const CmdResult r = run_shell("/usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                                "print(c.execute(\"SELECT count(*) FROM files\").fetchone()[0], c.execute(\"SELECT count(*) FROM events\").fetchone()[0])' " +
                                    shell_quote(db),
                                dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

TEST(CliSearch, AFileThatIsNotAnIndexIsRefusedAndLeftUnchanged) {
  TempDir dir;
  for (const std::string& db : not_an_index(dir)) {
    const std::string before = read_file(db);
    expect_one_line_failure(smolvid("search " + shell_quote(db) + " car --json", dir), db + ": not a smolvid index");
    EXPECT_EQ(read_file(db), before) << db << " was written to by a search";
    for (const char* side : {"-wal", "-shm", "-journal"}) EXPECT_FALSE(std::filesystem::exists(db + side)) << db << side;
  }
}

TEST_F(CliIndex, AFailedIndexLeavesNoNewDatabaseAndKeepsAnExistingOne) {
  TempDir dir;
  const std::string clip = shell_quote(media("realshort.mp4"));
  const std::string no_model = " --model " + shell_quote(dir.file("no-model"));
  // A new database and a model that does not load: no database is left.
  const std::string fresh = dir.file("fresh.sqlite");
  expect_one_line_failure(smolvid("index " + clip + " --db " + shell_quote(fresh) + no_model, dir), dir.file("no-model"));
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) EXPECT_FALSE(std::filesystem::exists(fresh + suffix)) << fresh << suffix;
  // An existing index is never touched by a failed run.
  const std::string copy = dir.file("copy.sqlite");
  std::filesystem::copy_file(db_, copy);
  const std::string before = read_file(copy);
  expect_one_line_failure(smolvid("index " + clip + " --db " + shell_quote(copy) + no_model, dir), dir.file("no-model"));
  EXPECT_EQ(read_file(copy), before);
  // Neither is another application's database, nor a file that is not SQLite.
  for (const std::string& db : not_an_index(dir)) {
    if (read_file(db).empty()) continue;  // an empty file is an empty database: it may become an index
    const std::string other_before = read_file(db);
    expect_one_line_failure(smolvid("index " + clip + " --db " + shell_quote(db) + " " + tiny_args(2), dir), db + ": not a smolvid index");
    EXPECT_EQ(read_file(db), other_before);
  }
  // A video that fails after another was indexed: the new database keeps the indexed one.
  const std::string not_video = dir.file("notes.mp4");
  write_file(not_video, "these are not video bytes\n");
  expect_one_line_failure(smolvid("index " + clip + " " + shell_quote(not_video) + " --db " + shell_quote(fresh) + " " + tiny_args(2), dir),
                          not_video);
  EXPECT_EQ(index_counts(fresh, dir).substr(0, 2), "1 ");
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
