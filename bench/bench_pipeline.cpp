// bench_pipeline: wall time and peak resident memory of the smolvid jobs end to end, each run as a
// fresh `smolvid` process (so the peak is that job's alone), on a full-size checkpoint (random
// weights do the same work as real ones, except that they never stop early on an eos token, so
// every caption runs to --max-new-tokens: a pessimistic bound).
//
//   smolvid debug random-checkpoint --config .../SmolVLM2-256M-Video-Instruct/reconstructed/config.json
//       --tensors .../tensors.json --extra-files .../SmolVLM-256M-Instruct --out /tmp/m256
//   bench_pipeline --model /tmp/m256 [--smolvid build/cli/smolvid] [--threads 2] [--media ../shared/media (next to the sources)]
//                  [--index-minutes 60] [--only ask,summarize,index] [--dtype bfloat16]
//
// Jobs and goals (issue 5, 2 threads):
//   ask        30 s clip (big_buck_bunny_0_30.webm), default sampling, one question
//   summarize  wannaworktogether.mp4 (3 min), default segments; goal < 90 s
//   index      vtest.avi looped with `ffmpeg -stream_loop` to --index-minutes (default 60) of
//              fixed-camera footage in $TMPDIR; goal < 10 min for one hour
//   every job: peak RSS < 1.5 GB
#include <fcntl.h>
#include <fmt/core.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

extern char** environ;

namespace {

struct Measured {
  double wall_s = 0.0;
  double peak_rss_mb = 0.0;
  int exit_code = -1;
};

// Runs argv[0] with argv, stdout to `out_path`; wall time and the child's peak RSS.
Measured run_process(const std::vector<std::string>& args, const std::string& out_path) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = -1;
  Measured m;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
    posix_spawn_file_actions_destroy(&actions);
    return m;
  }
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  m.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  m.peak_rss_mb = usage.ru_maxrss / 1024.0;  // ru_maxrss is in KiB on Linux
  m.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return m;
}

std::string arg_value(int argc, char** argv, const char* name, const std::string& fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

void report(const char* job, const std::string& what, const Measured& m, double goal_s, double goal_mb) {
  fmt::print("{:<10} {:<44} exit {}  wall {:8.1f} s{}  peak RSS {:7.0f} MB (goal < {:.0f}: x{:.2f})\n", job, what, m.exit_code,
             m.wall_s, goal_s > 0 ? fmt::format(" (goal < {:.0f} s: x{:.2f})", goal_s, m.wall_s / goal_s) : std::string(),
             m.peak_rss_mb, goal_mb, m.peak_rss_mb / goal_mb);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string model = arg_value(argc, argv, "--model", "");
  if (model.empty()) {
    fmt::print(stderr, "usage: bench_pipeline --model DIR [--smolvid PATH] [--threads N] [--media DIR] [--index-minutes M] "
                       "[--only ask,summarize,index] [--dtype D]\n");
    return 2;
  }
  const std::string self_dir = std::filesystem::path(argv[0]).parent_path().string();
  const std::string smolvid = arg_value(argc, argv, "--smolvid", self_dir + "/../cli/smolvid");
  const std::string threads = arg_value(argc, argv, "--threads", "2");
  const std::string dtype = arg_value(argc, argv, "--dtype", "bfloat16");
  const std::string media = arg_value(argc, argv, "--media", (std::filesystem::path(__FILE__).parent_path() / "../../shared/media").lexically_normal().string());
  const int index_minutes = std::stoi(arg_value(argc, argv, "--index-minutes", "60"));
  const std::string only = arg_value(argc, argv, "--only", "ask,summarize,index");
  const char* tmp_env = std::getenv("TMPDIR");
  const std::string tmp = tmp_env && *tmp_env ? tmp_env : "/tmp";
  const std::vector<std::string> common = {"--model", model, "--threads", threads, "--dtype", dtype};
  constexpr double kPeakGoalMb = 1.5 * 1024;
  fmt::print("bench_pipeline: model {}, {} threads, dtype {}\n", model, threads, dtype);

  if (only.find("ask") != std::string::npos) {
    std::vector<std::string> a = {smolvid, "ask", media + "/big_buck_bunny_0_30.webm", "What happens in this video?", "--json"};
    a.insert(a.end(), common.begin(), common.end());
    report("ask", "30 s clip, smolvlm2 sampling, 256 new tokens", run_process(a, tmp + "/bench_pipeline_ask.json"), 0, kPeakGoalMb);
  }
  if (only.find("summarize") != std::string::npos) {
    std::vector<std::string> a = {smolvid, "summarize", media + "/wannaworktogether.mp4", "--format", "json", "--progress", "never"};
    a.insert(a.end(), common.begin(), common.end());
    report("summarize", "wannaworktogether.mp4 (3 min)", run_process(a, tmp + "/bench_pipeline_summary.json"), 90.0, kPeakGoalMb);
  }
  if (only.find("index") != std::string::npos) {
    const std::string looped = fmt::format("{}/bench_pipeline_vtest_{}min.avi", tmp, index_minutes);
    if (!std::filesystem::exists(looped)) {
      const std::string cmd = fmt::format("ffmpeg -v error -y -stream_loop -1 -i '{}/vtest.avi' -t {} -c copy '{}'", media,
                                          index_minutes * 60, looped);
      if (std::system(cmd.c_str()) != 0) {
        fmt::print(stderr, "bench_pipeline: could not make {} with ffmpeg\n", looped);
        return 1;
      }
    }
    const std::string db = tmp + "/bench_pipeline_index.sqlite";
    std::filesystem::remove(db);
    std::vector<std::string> a = {smolvid, "index", looped, "--db", db, "--progress", "never"};
    a.insert(a.end(), common.begin(), common.end());
    report("index", fmt::format("vtest.avi looped to {} min", index_minutes), run_process(a, tmp + "/bench_pipeline_index.txt"),
           600.0 * index_minutes / 60.0, kPeakGoalMb);
  }
  return 0;
}
