#include "pipeline/progress.h"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "util/time_format.h"

namespace smolvid::pipeline {
namespace {

std::string mmss(double seconds) { return util::format_elapsed(std::max(0.0, seconds)); }

}  // namespace

ProgressBar::ProgressBar(std::string label, int64_t total, Mode mode, std::FILE* out, Unit unit, int64_t start_count)
    : label_(std::move(label)),
      total_(total),
      unit_(unit),
      start_count_(start_count),
      out_(out),
      start_(std::chrono::steady_clock::now()),
      done_(start_count) {
  enabled_ = mode == Mode::kAlways || (mode == Mode::kAuto && out_ && ::isatty(::fileno(out_)));
}

ProgressBar::~ProgressBar() {
  if (enabled_ && !finished_ && done_ > start_count_) std::fputc('\n', out_);
}

std::string ProgressBar::render(int64_t done, double elapsed_s, const std::string& detail) const {
  constexpr int kWidth = 20;
  constexpr double kMiB = 1024.0 * 1024.0;
  const bool bytes = unit_ == Unit::kBytes;
  const auto count = [&](int64_t n) { return bytes ? fmt::format("{:.1f}", n / kMiB) : fmt::format("{}", n); };
  const int64_t progressed = done - start_count_;
  std::string line = label_ + " ";
  if (total_ > 0) {
    const double frac = std::clamp(static_cast<double>(done) / total_, 0.0, 1.0);
    const int filled = static_cast<int>(frac * kWidth);
    line += "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] ";
    line += count(done) + "/" + count(total_) + (bytes ? " MB" : "");
  } else {
    line += count(done) + (bytes ? " MB" : "");
  }
  if (bytes) line += fmt::format("  {:.1f} MB/s", elapsed_s > 0 ? progressed / kMiB / elapsed_s : 0.0);
  line += fmt::format("  {} elapsed", mmss(elapsed_s));
  if (total_ > 0 && progressed > 0 && done < total_) line += fmt::format("  {} left", mmss(elapsed_s / progressed * (total_ - done)));
  if (!detail.empty()) line += "  " + detail;
  return line;
}

void ProgressBar::update(int64_t done, const std::string& detail) {
  done_ = done;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if ((total_ <= 0 || done < total_) && now - last_draw_ < std::chrono::milliseconds(100)) return;
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
