#include "pipeline/progress.h"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace smolvid::pipeline {
namespace {

std::string mmss(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, std::round(seconds)));
  return s >= 3600 ? fmt::format("{}:{:02d}:{:02d}", s / 3600, (s / 60) % 60, s % 60) : fmt::format("{:02d}:{:02d}", s / 60, s % 60);
}

}  // namespace

ProgressBar::ProgressBar(std::string label, int64_t total, Mode mode, std::FILE* out)
    : label_(std::move(label)), total_(total), out_(out), start_(std::chrono::steady_clock::now()) {
  enabled_ = mode == Mode::kAlways || (mode == Mode::kAuto && out_ && ::isatty(::fileno(out_)));
}

ProgressBar::~ProgressBar() {
  if (enabled_ && !finished_ && done_ > 0) std::fputc('\n', out_);
}

std::string ProgressBar::render(int64_t done, double elapsed_s, const std::string& detail) const {
  constexpr int kWidth = 20;
  std::string line = label_ + " ";
  if (total_ > 0) {
    const double frac = std::clamp(static_cast<double>(done) / total_, 0.0, 1.0);
    const int filled = static_cast<int>(frac * kWidth);
    line += "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] ";
    line += fmt::format("{}/{}  {} elapsed", done, total_, mmss(elapsed_s));
    if (done > 0 && done < total_) line += fmt::format("  {} left", mmss(elapsed_s / done * (total_ - done)));
  } else {
    line += fmt::format("{}  {} elapsed", done, mmss(elapsed_s));
  }
  if (!detail.empty()) line += "  " + detail;
  return line;
}

void ProgressBar::update(int64_t done, const std::string& detail) {
  done_ = done;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const std::string line = render(done, std::chrono::duration<double>(now - start_).count(), detail);
  std::fprintf(out_, "\r%s\033[K", line.c_str());
  std::fflush(out_);
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  const std::string line = render(done_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(), "");
  std::fprintf(out_, "\r%s\033[K\n", line.c_str());
  std::fflush(out_);
}

}  // namespace smolvid::pipeline
