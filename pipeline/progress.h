// pipeline/progress.h: a one-line progress bar on stderr for long jobs (segments summarized,
// events indexed, batch items): count, bar, elapsed and estimated time left. Draws only when
// enabled (by default: when stderr is a terminal), at most 10 times a second.
//
// Usage:
//   smolvid::pipeline::ProgressBar bar("summarize", total_segments);
//   for (...) { ...; bar.update(done); }
//   bar.finish();   // final state and a newline
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace smolvid::pipeline {

class ProgressBar {
 public:
  enum class Mode { kAuto, kAlways, kNever };  // kAuto: only when stderr is a TTY
  ProgressBar(std::string label, int64_t total, Mode mode = Mode::kAuto, std::FILE* out = stderr);
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
  bool enabled_;
  std::FILE* out_;
  std::chrono::steady_clock::time_point start_, last_draw_{};
  int64_t done_ = 0;
  bool finished_ = false;
};

}  // namespace smolvid::pipeline
