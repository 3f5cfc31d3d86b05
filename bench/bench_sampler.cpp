// bench_sampler: the cost of each sampling policy relative to plain decoding, as ratios measured
// in one run.
//
//   bench_sampler [--media DIR] [--minutes M] [FILE...]
//
// For each file (default: a long-GOP file made by looping vtest.avi to M minutes (default 10)
// with the ffmpeg CLI, stream copy; one-by-one-person-detection.mp4 (a keyframe every second);
// bottle-detection.mp4; oa4_launch.webm) it times, end to end (open, probe, decode):
//   * baseline: VideoReader::decode_all at full resolution RGB24;
//   * scenes / motion: select_frames (one small-frame analysis pass); goal <= 1.2x baseline;
//   * smolvlm2 / uniform: select_frames + fetch_frames (exact timestamps, full resolution);
//     goal: never slower than the baseline;
//   * keyframes: select_frames + fetch_frames (nearest keyframe).
#include <fmt/core.h>
#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "decode/video_reader.h"
#include "sampler/sampler.h"

namespace {

using smolvid::decode::Frame;
using smolvid::decode::SeekMode;
using smolvid::decode::VideoReader;
namespace sampler = smolvid::sampler;

// Wall time and process CPU time (all threads): on a shared, loaded machine the CPU time is the
// steadier measure of cost.
struct Cost {
  double wall = 0, cpu = 0;
};

Cost cost_of(const std::function<void()>& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::clock_t c0 = std::clock();
  fn();
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
          static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC};
}

bool exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && st.st_size > 0;
}

void bench_file(const std::string& path) {
  int64_t frames = 0;
  const Cost base = cost_of([&] {
    VideoReader reader(path);
    reader.decode_all([&](const Frame&) {
      ++frames;
      return true;
    });
  });
  fmt::print("\n{}\n  decode_all (full-res RGB24): {} frames in {:.2f} s wall ({:.0f} frames/s), {:.2f} s CPU\n", path, frames,
             base.wall, frames / base.wall, base.cpu);

  for (const char* policy : {"scenes", "motion", "smolvlm2", "uniform", "keyframes"}) {
    sampler::SamplerOptions o;
    o.policy = policy;
    sampler::Selection sel;
    size_t fetched = 0;
    const std::string p = policy;
    const bool analyses = p == "scenes" || p == "motion";
    const Cost t = cost_of([&] {
      if (analyses) {  // the selection (one small-frame analysis pass) is the measured cost
        sel = sampler::select_frames(path, o);
        return;
      }
      VideoReader reader(path);  // as the pipeline does: one reader for metadata and frames
      sel = sampler::select_frames(reader, o);
      fetched = sampler::fetch_frames(reader, sel, p == "keyframes" ? SeekMode::kNearestKeyframe : SeekMode::kExact).size();
    });
    const char* goal = analyses ? "goal <= 1.20" : (p == "keyframes" ? "" : "goal <= 1.00");
    fmt::print("  {:<9} {:3d} frames{}: wall {:6.2f} s = {:5.2f}x, CPU {:6.2f} s = {:5.2f}x decode_all  {}\n", policy,
               static_cast<int>(sel.picks.size()),
               analyses ? fmt::format(", {:2d} {}", sel.segments.size(), p == "scenes" ? "shots " : "events")
                        : fmt::format(" fetched {:3d}", fetched),
               t.wall, t.wall / base.wall, t.cpu, t.cpu / base.cpu, goal);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string media = "../shared/media";  // run from the repository root
  if (const char* env = std::getenv("SMOLVID_SHARED")) media = std::string(env) + "/media";
  int minutes = 10;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--media" && i + 1 < argc) {
      media = argv[++i];
    } else if (a == "--minutes" && i + 1 < argc) {
      minutes = std::atoi(argv[++i]);
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) {
    const std::string long_gop = fmt::format("/tmp/smolvid_bench_vtest_{}min.avi", minutes);
    if (!exists(long_gop)) {
      const std::string cmd = fmt::format("ffmpeg -nostdin -v error -y -stream_loop -1 -i '{}/vtest.avi' -t {} -c copy '{}'",
                                          media, minutes * 60, long_gop);
      if (std::system(cmd.c_str()) != 0 || !exists(long_gop)) {
        fmt::print(stderr, "bench_sampler: could not build {} with: {}\n", long_gop, cmd);
        return 1;
      }
    }
    files = {long_gop, media + "/one-by-one-person-detection.mp4", media + "/bottle-detection.mp4", media + "/oa4_launch.webm"};
  }
  fmt::print("bench_sampler: policy cost relative to decode_all on the same file (one run each)\n");
  for (const auto& f : files) bench_file(f);
  return 0;
}
