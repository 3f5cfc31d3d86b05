// pipeline/progress.h: the one-line progress bar on stderr for long jobs (segments summarized,
// events indexed, batch items) and downloads (bytes): count, bar, elapsed and estimated time
// left. Draws only when enabled (by default: when stderr is a terminal), at most 10 times a second.
//
// Usage:
//   smolvid::pipeline::ProgressBar bar("summarize", total_segments);
//   for (...) { ...; bar.update(done); }
//   bar.finish();   // final state and a newline
//   smolvid::pipeline::ProgressBar dl("model.safetensors", size_bytes, ProgressMode::kAuto, stderr,
//                                     ProgressBar::Unit::kBytes, /*start_count=*/resumed_bytes);
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace smolvid::pipeline {

enum class ProgressMode { kAuto, kAlways, kNever };  // kAuto: only when the output is a terminal

class ProgressBar {
 public:
  using Mode = ProgressMode;
  // kBytes: counts drawn as MB with the transfer rate since start_count.
  enum class Unit { kItems, kBytes };
  // `start_count`: what was done before this bar started (a resumed download); the rate and the
  // time left count only what this bar sees done.
  ProgressBar(std::string label, int64_t total, Mode mode = Mode::kAuto, std::FILE* out = stderr, Unit unit = Unit::kItems,
              int64_t start_count = 0);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void set_total(int64_t total) { total_ = total; }
  void update(int64_t done, const std::string& detail = "");
  void finish();
  bool enabled() const { return enabled_; }
  // "[#####.....]  5/10  00:12 elapsed  00:12 left": what update() draws, for tests.
  std::string render(int64_t done, double elapsed_s, const std::string& detail) const;

 private:
  std::string label_;
  int64_t total_;
  Unit unit_;
  int64_t start_count_;
  bool enabled_;
  std::FILE* out_;
  std::chrono::steady_clock::time_point start_, last_draw_{};
  int64_t done_ = 0;
  bool finished_ = false;
};

}  // namespace smolvid::pipeline
