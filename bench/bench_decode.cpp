// bench_decode: decoding costs of smolvid::decode::VideoReader, as ratios measured in one run.
//
//   bench_decode [--media DIR] [--minutes M]
//
// Builds a long-GOP file in /tmp by looping vtest.avi to M minutes (default 10) with the ffmpeg
// CLI (stream copy, so vtest's one-keyframe-per-25-s layout is kept), then reports:
//   * full decode: frames/s;
//   * keyframes only vs decode everything (goal >= 10x);
//   * decode_at(64 timestamps, exact) vs a full pass, on the long-GOP file and on a short-GOP file
//     (one-by-one-person-detection.mp4, a keyframe every second): goal never slower than a full
//     pass, several times faster on short GOP.
#include <fmt/core.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "decode/video_reader.h"

namespace {

using smolvid::decode::DecodeStats;
using smolvid::decode::Frame;
using smolvid::decode::SeekMode;
using smolvid::decode::VideoReader;

struct Run {
  double seconds = 0;
  DecodeStats stats;
  int64_t frames = 0;
};

template <typename Fn>
Run timed(const std::string& path, Fn&& fn) {
  VideoReader reader(path);
  reader.probe();  // the demux pass is shared by every mode; time the decoding itself
  Run r;
  const auto t0 = std::chrono::steady_clock::now();
  fn(reader, [&](const Frame&) {
    ++r.frames;
    return true;
  });
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.stats = reader.stats();
  return r;
}

std::vector<double> spread(double duration, int n) {
  std::vector<double> t;
  for (int i = 0; i < n; ++i) t.push_back(duration * (i + 0.5) / n);
  return t;
}

void report(const char* name, const Run& r) {
  fmt::print("  {:<34} {:8.3f} s  frames out {:6}  decoded {:6}  packets {:6}  seeks {:3}\n", name, r.seconds,
             r.frames, r.stats.frames_decoded, r.stats.packets_read, r.stats.seeks);
}

void compare_decode_at(const std::string& label, const std::string& path) {
  VideoReader probe_reader(path);
  const double duration = probe_reader.probe().duration.value;
  const auto times = spread(duration, 64);
  fmt::print("{} ({:.1f} s, {} keyframes)\n", label, duration, probe_reader.probe().keyframe_times.size());
  const Run all = timed(path, [](VideoReader& r, auto cb) { r.decode_all(cb); });
  const Run at = timed(path, [&](VideoReader& r, auto cb) { r.decode_at(times, SeekMode::kExact, cb); });
  const Run near = timed(path, [&](VideoReader& r, auto cb) { r.decode_at(times, SeekMode::kNearestKeyframe, cb); });
  report("decode_all", all);
  report("decode_at(64, exact)", at);
  report("decode_at(64, nearest keyframe)", near);
  fmt::print("  full pass / decode_at exact = {:.2f}x faster (goal >= 1)\n", all.seconds / at.seconds);
  fmt::print("  full pass / decode_at nearest keyframe = {:.2f}x faster\n", all.seconds / near.seconds);
}

}  // namespace

int main(int argc, char** argv) {
  std::string media = "../shared/media";
  if (const char* env = std::getenv("SMOLVID_SHARED")) media = std::string(env) + "/media";
  int minutes = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--media") media = argv[i + 1];
    if (a == "--minutes") minutes = std::atoi(argv[i + 1]);
  }
  const std::string src = media + "/vtest.avi";
  const std::string long_gop = fmt::format("/tmp/smolvid_bench_vtest_{}min.avi", minutes);
  struct stat sb {};
  if (::stat(long_gop.c_str(), &sb) != 0 || sb.st_size == 0) {
    const std::string cmd = fmt::format("ffmpeg -nostdin -v error -y -stream_loop -1 -i '{}' -t {} -c copy '{}'", src,
                                        minutes * 60, long_gop);
    fmt::print("building {} ...\n", long_gop);
    if (std::system(cmd.c_str()) != 0) {
      fmt::print(stderr, "bench_decode: error: could not build {} with: {}\n", long_gop, cmd);
      return 1;
    }
  }

  try {
    fmt::print("long-GOP file: {}\n", long_gop);
    const Run all = timed(long_gop, [](VideoReader& r, auto cb) { r.decode_all(cb); });
    const Run keys = timed(long_gop, [](VideoReader& r, auto cb) { r.decode_keyframes(cb); });
    report("decode_all", all);
    report("decode_keyframes", keys);
    fmt::print("  full decode: {:.1f} frames/s\n", all.frames / all.seconds);
    fmt::print("  keyframes only vs decode everything: {:.1f}x faster (goal >= 10)\n", all.seconds / keys.seconds);

    compare_decode_at("long GOP: " + long_gop, long_gop);
    compare_decode_at("short GOP: one-by-one-person-detection.mp4", media + "/one-by-one-person-detection.mp4");
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_decode: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
