// Batch runner with a fake model: manifest parsing, results lines, failures and timeouts recorded
// per item, exactly-once after crashes (truncated last line, real SIGKILL of a child process),
// sharding by id, merging shard outputs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <map>
#include <random>
#include <sstream>

#include "pipeline/batch.h"
#include "tests/pipeline/fake_vlm.h"
#include "tests/pipeline/test_util.h"

namespace smolvid::pipeline {
namespace {

using smolvid::test::FakeVlm;
using smolvid::test::read_file;
using smolvid::test::TempDir;
using smolvid::test::write_file;

std::vector<BatchItem> parse(const std::string& text) {
  std::istringstream in(text);
  return parse_manifest(in, "manifest.jsonl");
}

std::string manifest_error(const std::string& text) {
  try {
    parse(text);
  } catch (const BatchError& e) {
    return e.what();
  }
  return "";
}

std::vector<nlohmann::json> read_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

std::vector<BatchItem> numbered_items(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) text += fmt::format(R"({{"id": "item-{}", "video": "v{}.mp4", "question": "q{}?", "start": {}}})", i, i, i, i) + "\n";
  return parse(text);
}

decode::Frame frame_at(double t) {
  decode::Frame f;
  f.width = 2;
  f.height = 2;
  f.pixels.assign(12, 0);
  f.pts_seconds = t;
  return f;
}

// The "ask" job as the batch runner sees it, with the fake model: two frames at start and start+1.
ItemRunner ask_runner(FakeVlm& vlm) {
  return [&vlm](const BatchItem& item, const Deadline& deadline) {
    if (item.video == "missing.mp4") throw std::runtime_error("cannot open missing.mp4: No such file");
    const double t0 = item.start_s.value_or(0.0);
    VisualInput input{MediaKind::kVideo, {frame_at(t0), frame_at(t0 + 1)}, 2.0};
    GenerationOptions gen;
    gen.deadline = deadline;
    const std::vector<Generation> out = vlm.generate(input, item.questions, gen, {});
    nlohmann::json answers = nlohmann::json::array();
    for (size_t i = 0; i < out.size(); ++i) answers.push_back({{"question", item.questions[i]}, {"answer", out[i].text}});
    return nlohmann::json{{"answers", answers}};
  };
}

TEST(Manifest, ParsesItems) {
  const auto items = parse(
      "# a comment\n"
      R"({"id": "a", "video": "a.mp4", "question": "What?"})" "\n"
      "\n"
      R"({"id": 7, "video": "b.mp4", "questions": ["Who?", "Where?"], "start": "01:30", "end": "1:02:03.5"})" "\n"
      R"({"id": "c", "video": "c.mp4", "task": "summarize", "sampling": {"strategy": "scenes"}, "end": 12.5})" "\n");
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].id, "a");
  EXPECT_EQ(items[0].questions, std::vector<std::string>{"What?"});
  EXPECT_EQ(items[0].line, 2);
  EXPECT_EQ(items[1].id, "7");
  EXPECT_EQ(items[1].questions, (std::vector<std::string>{"Who?", "Where?"}));
  EXPECT_DOUBLE_EQ(*items[1].start_s, 90.0);
  EXPECT_DOUBLE_EQ(*items[1].end_s, 3723.5);
  EXPECT_EQ(items[2].task, "summarize");
  EXPECT_EQ(items[2].sampling["strategy"], "scenes");
  EXPECT_FALSE(items[2].start_s.has_value());
  EXPECT_DOUBLE_EQ(*items[2].end_s, 12.5);
}

// A manifest takes every duration the command line takes (--start/--end: util::parse_duration),
// and rejects what it rejects.
TEST(Manifest, TimesTakeTheCommandLineDurationForms) {
  const auto items = parse(R"({"id": "a", "video": "a.mp4", "question": "q", "start": "1m30s", "end": "2m"})" "\n"
                           R"({"id": "b", "video": "b.mp4", "question": "q", "start": "12.5s", "end": "1h0m5s"})" "\n");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_DOUBLE_EQ(*items[0].start_s, 90.0);
  EXPECT_DOUBLE_EQ(*items[0].end_s, 120.0);
  EXPECT_DOUBLE_EQ(*items[1].start_s, 12.5);
  EXPECT_DOUBLE_EQ(*items[1].end_s, 3605.0);
  const std::string bad = manifest_error(R"({"id": "a", "video": "a.mp4", "question": "x", "start": "99:99"})");
  EXPECT_NE(bad.find("manifest.jsonl:1: \"start\": '99:99' is not a duration"), std::string::npos) << bad;
  EXPECT_NE(manifest_error(R"({"id": "a", "video": "a.mp4", "question": "x", "end": "nan"})").find("'nan' is not a duration"),
            std::string::npos);
}

TEST(Manifest, ErrorsNameTheLineAndProblem) {
  EXPECT_NE(manifest_error(R"({"id": "a", "video": "a.mp4", "question": "x"})" "\n" R"({"id": "a", "video": "b.mp4", "question": "y"})")
                .find("manifest.jsonl:2: duplicate id \"a\" (first on line 1)"), std::string::npos);
  EXPECT_NE(manifest_error(R"({"id": "a", "video": "a.mp4", "question": "x", "colour": 1})").find("unknown key \"colour\""), std::string::npos);
  EXPECT_NE(manifest_error(R"({"id": "a", "video": "a.mp4"})").find("task ask needs"), std::string::npos);
  EXPECT_NE(manifest_error(R"({"video": "a.mp4", "question": "x"})").find("missing \"id\""), std::string::npos);
  EXPECT_NE(manifest_error(R"({"id": "a", "video": "a.mp4", "question": "x", "start": "1:75"})").find("below 60"), std::string::npos);
  EXPECT_NE(manifest_error(R"({"id": "a", "video": "a.mp4", "question": "x", "start": 5, "end": 5})").find("not after start"), std::string::npos);
  EXPECT_NE(manifest_error("{\"id\": \"a\", \"video\": \"a.mp4\",\n").find("manifest.jsonl:1: not a JSON object"), std::string::npos);
  EXPECT_NE(manifest_error(R"({"id": "a", "video": "a.mp4", "task": "translate"})").find("not one of ask, summarize"), std::string::npos);
}

TEST(Manifest, ADirectoryIsNotAManifest) {
  TempDir dir;
  try {
    read_manifest(dir.path());
    FAIL() << "a directory was read as an empty manifest";
  } catch (const BatchError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path() + ": is a directory"), std::string::npos) << e.what();
  }
}

TEST(Shard, HashIsFnv1a64) {
  // Test vectors from the FNV reference (Fowler/Noll/Vo): "" and "a".
  EXPECT_EQ(stable_id_hash(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(stable_id_hash("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(stable_id_hash("foobar"), 0x85944171f73967e8ull);
}

TEST(Shard, ShardsPartitionTheIds) {
  std::vector<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.push_back(fmt::format("video-{:04d}", i));
  for (int n : {1, 2, 3, 7}) {
    std::map<std::string, int> owners;
    std::vector<int> sizes(n, 0);
    for (int k = 0; k < n; ++k) {
      const Shard s = Shard::parse(fmt::format("{}/{}", k, n));
      for (const std::string& id : ids) {
        if (s.contains(id)) {
          ++owners[id];
          ++sizes[k];
        }
      }
    }
    ASSERT_EQ(owners.size(), ids.size()) << n;
    for (const auto& [id, count] : owners) EXPECT_EQ(count, 1) << id << " in " << count << " of " << n << " shards";
    for (int k = 0; k < n; ++k) EXPECT_GT(sizes[k], 1000 / n / 2) << "shard " << k << "/" << n << " nearly empty";
  }
  EXPECT_THROW(Shard::parse("3/3"), BatchError);
  EXPECT_THROW(Shard::parse("1/0"), BatchError);
  EXPECT_THROW(Shard::parse("a/b"), BatchError);
  EXPECT_EQ(expand_shard_path("out/r-{shard}-of-{shards}.jsonl", Shard::parse("2/5")), "out/r-2-of-5.jsonl");
}

class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (const char* name : {"JOB_COMPLETION_INDEX", "SMOLVID_SHARD_COUNT", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT",
                             "SLURM_ARRAY_TASK_MIN"}) {
      if (const char* v = std::getenv(name)) saved_.emplace_back(name, v);
      unsetenv(name);
      names_.push_back(name);
    }
    for (const auto& [k, v] : vars) setenv(k, v, 1);
  }
  ~ScopedEnv() {
    for (const char* n : names_) unsetenv(n);
    for (const auto& [k, v] : saved_) setenv(k.c_str(), v.c_str(), 1);
  }

 private:
  std::vector<const char*> names_;
  std::vector<std::pair<std::string, std::string>> saved_;
};

TEST(Shard, FromEnvironment) {
  {
    ScopedEnv env({});
    EXPECT_FALSE(Shard::from_env().has_value());
  }
  {
    ScopedEnv env({{"JOB_COMPLETION_INDEX", "2"}, {"SMOLVID_SHARD_COUNT", "5"}});
    EXPECT_EQ(Shard::from_env()->to_string(), "2/5");
  }
  {
    ScopedEnv env({{"JOB_COMPLETION_INDEX", "2"}});
    EXPECT_THROW(Shard::from_env(), BatchError);
  }
  {
    ScopedEnv env({{"JOB_COMPLETION_INDEX", "5"}, {"SMOLVID_SHARD_COUNT", "5"}});
    EXPECT_THROW(Shard::from_env(), BatchError);
  }
  {
    ScopedEnv env({{"SLURM_ARRAY_TASK_ID", "4"}, {"SLURM_ARRAY_TASK_COUNT", "4"}, {"SLURM_ARRAY_TASK_MIN", "1"}});
    EXPECT_EQ(Shard::from_env()->to_string(), "3/4");
  }
  {
    ScopedEnv env({{"SLURM_ARRAY_TASK_ID", "0"}, {"SLURM_ARRAY_TASK_COUNT", "3"}});
    EXPECT_EQ(Shard::from_env()->to_string(), "0/3");
  }
}

TEST(Batch, RecordsAnswersFailuresAndTimeouts) {
  TempDir dir;
  const auto items = parse(
      R"({"id": "ok", "video": "a.mp4", "questions": ["What?", "Who?"], "start": 10})" "\n"
      R"({"id": "broken", "video": "missing.mp4", "question": "What?"})" "\n"
      R"({"id": "slow", "video": "slow.mp4", "question": "a b c d e f g h i j k l m n o p q r s t"})" "\n"
      R"({"id": "after", "video": "b.mp4", "question": "Still running?"})" "\n");
  FakeVlm vlm;
  ItemRunner base = ask_runner(vlm);
  ItemRunner runner = [&](const BatchItem& item, const Deadline& d) {
    vlm.delay_per_piece = std::chrono::milliseconds(item.id == "slow" ? 100 : 0);
    return base(item, d);
  };
  BatchOptions opts;
  opts.out_path = dir.file("results.jsonl");
  opts.item_timeout_s = 0.3;  // "slow" streams 20 pieces at 100 ms each
  const BatchReport report = run_batch(items, opts, runner);
  EXPECT_EQ(report.ok, 2u);
  EXPECT_EQ(report.failed, 2u);
  const auto lines = read_lines(opts.out_path);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["id"], "ok");
  EXPECT_EQ(lines[0]["status"], "ok");
  ASSERT_EQ(lines[0]["answers"].size(), 2u);
  EXPECT_EQ(lines[0]["answers"][1]["question"], "Who?");
  EXPECT_EQ(lines[0]["answers"][1]["answer"], "Who? @ 10.000-11.000 (2 frames)");
  EXPECT_EQ(lines[0]["shard"], "0/1");
  EXPECT_TRUE(lines[0]["timings_s"]["total"].is_number());
  EXPECT_EQ(lines[1]["status"], "error");
  EXPECT_EQ(lines[1]["error_type"], "input");
  EXPECT_EQ(lines[1]["error"], "cannot open missing.mp4: No such file");
  EXPECT_FALSE(lines[1].contains("answers"));
  EXPECT_EQ(lines[2]["status"], "error");
  EXPECT_EQ(lines[2]["error_type"], "timeout");
  EXPECT_EQ(lines[3]["status"], "ok");
  // The model saw the deadline only when one was set.
  ASSERT_EQ(vlm.calls.size(), 3u);
  EXPECT_TRUE(vlm.calls[0].options.deadline.at.has_value());
  EXPECT_EQ(vlm.calls[0].frame_times_s, (std::vector<double>{10.0, 11.0}));
  EXPECT_EQ(vlm.calls[0].prompts, (std::vector<std::string>{"What?", "Who?"}));
}

TEST(Batch, FailuresAreRecordedWithTheirKind) {
  EXPECT_EQ(item_error_kind(ItemError(ItemErrorKind::kModel, "m")), ItemErrorKind::kModel);
  EXPECT_EQ(item_error_kind(ItemError(ItemErrorKind::kOptions, "o")), ItemErrorKind::kOptions);
  EXPECT_EQ(item_error_kind(TimeoutError("t")), ItemErrorKind::kTimeout);
  EXPECT_EQ(item_error_kind(VlmError("v")), ItemErrorKind::kModel);
  EXPECT_EQ(item_error_kind(BatchError("b")), ItemErrorKind::kOptions);
  EXPECT_EQ(item_error_kind(std::invalid_argument("sampler: fps must be >= 0")), ItemErrorKind::kOptions);
  EXPECT_EQ(item_error_kind(std::runtime_error("cannot open x.mp4")), ItemErrorKind::kInput);
  // Every kind reaches the results file under its documented name (pipeline/batch.h).
  TempDir dir;
  const auto items = numbered_items(4);
  const std::vector<ItemErrorKind> kinds = {ItemErrorKind::kInput, ItemErrorKind::kOptions, ItemErrorKind::kModel, ItemErrorKind::kTimeout};
  BatchOptions opts;
  opts.out_path = dir.file("results.jsonl");
  run_batch(items, opts, [&](const BatchItem& item, const Deadline&) -> nlohmann::json {
    throw ItemError(kinds[static_cast<size_t>(item.line - 1)], "failed " + item.id);
  });
  const auto lines = read_lines(opts.out_path);
  ASSERT_EQ(lines.size(), 4u);
  const std::vector<std::string> names = {"input", "options", "model", "timeout"};
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["status"], "error");
    EXPECT_EQ(lines[i]["error_type"], names[i]) << lines[i].dump();
    EXPECT_EQ(lines[i]["error"].get<std::string>().rfind("failed item-" + std::to_string(i), 0), 0u) << lines[i].dump();
  }
}

TEST(Batch, MergeRefusesToOverwriteAnInput) {
  TempDir dir;
  const std::string a = dir.file("a.jsonl"), b = dir.file("b.jsonl");
  write_file(a, "{\"id\": \"1\", \"status\": \"ok\"}\n");
  write_file(b, "{\"id\": \"2\", \"status\": \"ok\"}\n");
  for (const std::string& output : {a, dir.path() + "/./b.jsonl"}) {
    try {
      merge_results({a, b}, output);
      ADD_FAILURE() << "merged over an input: " << output;
    } catch (const BatchError& e) {
      EXPECT_NE(std::string(e.what()).find(output), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(read_file(a), "{\"id\": \"1\", \"status\": \"ok\"}\n");
  EXPECT_EQ(read_file(b), "{\"id\": \"2\", \"status\": \"ok\"}\n");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()), 2)
      << "a temporary file was left behind";
  EXPECT_EQ(merge_results({a, b}, dir.file("merged.jsonl")).written, 2u);
}

TEST(Batch, RefusesToMixRunsWithoutResume) {
  TempDir dir;
  FakeVlm vlm;
  BatchOptions opts;
  opts.out_path = dir.file("results.jsonl");
  run_batch(numbered_items(2), opts, ask_runner(vlm));
  EXPECT_THROW(run_batch(numbered_items(2), opts, ask_runner(vlm)), BatchError);
  opts.resume = true;
  const BatchReport again = run_batch(numbered_items(3), opts, ask_runner(vlm));
  EXPECT_EQ(again.skipped_done, 2u);
  EXPECT_EQ(again.ok, 1u);
  EXPECT_EQ(read_lines(opts.out_path).size(), 3u);
}

TEST(Batch, ResumeAfterTruncatedLastLineGivesEveryItemOnce) {
  TempDir dir;
  const auto items = numbered_items(10);
  FakeVlm vlm;
  BatchOptions opts;
  opts.out_path = dir.file("results.jsonl");
  run_batch(items, opts, ask_runner(vlm));
  std::string data = read_file(opts.out_path);
  ASSERT_EQ(data.back(), '\n');
  // A crash in the middle of the last write: half of the line reached the disk.
  const size_t last_start = data.rfind('\n', data.size() - 2) + 1;
  const std::string last_id = nlohmann::json::parse(data.substr(last_start))["id"];
  data.resize(last_start + (data.size() - last_start) / 2);
  write_file(opts.out_path, data);

  vlm.calls.clear();
  opts.resume = true;
  const BatchReport report = run_batch(items, opts, ask_runner(vlm));
  EXPECT_GT(report.trimmed_bytes, 0u);
  EXPECT_EQ(report.skipped_done, 9u);
  EXPECT_EQ(report.ok, 1u);
  ASSERT_EQ(vlm.calls.size(), 1u);
  EXPECT_EQ(vlm.calls[0].prompts[0], "q9?");
  EXPECT_EQ(last_id, "item-9");
  std::map<std::string, int> count;
  for (const auto& line : read_lines(opts.out_path)) ++count[line["id"]];
  ASSERT_EQ(count.size(), items.size());
  for (const auto& [id, n] : count) EXPECT_EQ(n, 1) << id;
}

TEST(Batch, KillMinus9AtRandomPointsLosesAndDuplicatesNothing) {
  TempDir dir;
  const auto items = numbered_items(40);
  BatchOptions opts;
  opts.out_path = dir.file("results.jsonl");
  std::mt19937 rng(1234);
  int kills = 0;
  for (int round = 0; round < 8; ++round) {
    opts.resume = true;
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      FakeVlm vlm;
      vlm.delay_per_piece = std::chrono::milliseconds(2);
      try {
        run_batch(items, opts, ask_runner(vlm));
      } catch (...) {
        _exit(3);
      }
      _exit(0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(5, 60)(rng)));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) ++kills;
    else ASSERT_EQ(WEXITSTATUS(status), 0) << "child batch failed in round " << round;
  }
  EXPECT_GT(kills, 0);
  FakeVlm vlm;
  opts.resume = true;
  run_batch(items, opts, ask_runner(vlm));
  std::map<std::string, int> count;
  for (const auto& line : read_lines(opts.out_path)) {
    ++count[line["id"]];
    EXPECT_EQ(line["status"], "ok");
  }
  ASSERT_EQ(count.size(), items.size());
  for (const auto& [id, n] : count) EXPECT_EQ(n, 1) << id;
}

TEST(Batch, ShardedRunsMergeToEveryItemOnce) {
  TempDir dir;
  const auto items = numbered_items(30);
  std::vector<std::string> outputs;
  size_t total = 0;
  for (int k = 0; k < 3; ++k) {
    FakeVlm vlm;
    BatchOptions opts;
    opts.out_path = dir.file("shard-{shard}-of-{shards}.jsonl");
    opts.shard = Shard::parse(fmt::format("{}/3", k));
    const BatchReport r = run_batch(items, opts, ask_runner(vlm));
    EXPECT_EQ(r.shard_items, vlm.calls.size());
    total += r.shard_items;
    outputs.push_back(dir.file(fmt::format("shard-{}-of-3.jsonl", k)));
    for (const auto& line : read_lines(outputs.back())) EXPECT_EQ(line["shard"], fmt::format("{}/3", k));
  }
  EXPECT_EQ(total, items.size());
  // A duplicate (a shard re-run into another file) and a partial line from a killed shard.
  write_file(dir.file("extra.jsonl"), read_file(outputs[0]).substr(0, read_file(outputs[0]).find('\n') + 1) + "{\"id\": \"item-");
  outputs.push_back(dir.file("extra.jsonl"));
  const MergeReport m = merge_results(outputs, dir.file("merged.jsonl"), &items);
  EXPECT_EQ(m.written, items.size());
  EXPECT_EQ(m.duplicates_dropped, 1u);
  EXPECT_EQ(m.partial_lines_ignored, 1u);
  EXPECT_TRUE(m.missing_ids.empty());
  std::set<std::string> ids;
  for (const auto& line : read_lines(dir.file("merged.jsonl"))) EXPECT_TRUE(ids.insert(line["id"]).second);
  EXPECT_EQ(ids.size(), items.size());
  // Without one shard, its ids are reported missing.
  const MergeReport partial = merge_results({outputs[0], outputs[1]}, dir.file("partial.jsonl"), &items);
  EXPECT_EQ(partial.missing_ids.size(), items.size() - partial.written);
  EXPECT_FALSE(partial.missing_ids.empty());
}

}  // namespace
}  // namespace smolvid::pipeline
