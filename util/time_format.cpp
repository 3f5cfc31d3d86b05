#include "util/time_format.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <stdexcept>

namespace smolvid::util {
namespace {

void check_seconds(double seconds, const char* what) {
  if (!std::isfinite(seconds) || seconds < 0 || seconds > kMaxFormatSeconds) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s: time must be a finite number of seconds in [0, %.0f], got %g", what,
                  kMaxFormatSeconds, seconds);
    throw std::invalid_argument(buf);
  }
}

// Python's float divmod(x, y) for y > 0 (Objects/floatobject.c float_divmod).
void py_divmod(double x, double y, double& floordiv, double& mod) {
  mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0.0) {
    if ((y < 0) != (mod < 0)) {
      mod += y;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, y);
  }
  if (div != 0.0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, x / y);
  }
}

std::string printf_string(const char* format, long long a, long long b, long long c = 0, long long d = 0) {
  char buf[96];
  std::snprintf(buf, sizeof buf, format, a, b, c, d);
  return buf;
}

}  // namespace

std::string format_mmss(double seconds) {
  check_seconds(seconds, "format_mmss");
  double minutes = 0, secs = 0;
  py_divmod(seconds, 60.0, minutes, secs);
  return printf_string("%02lld:%02lld", static_cast<long long>(minutes), static_cast<long long>(secs));
}

std::string format_hmmss(double seconds) {
  check_seconds(seconds, "format_hmmss");
  const auto total = static_cast<long long>(seconds);  // int() truncates toward zero
  const long long days = total / 86400;
  const long long rest = total % 86400;
  std::string out;
  if (days != 0) out = std::to_string(days) + (days == 1 ? " day, " : " days, ");
  return out + printf_string("%lld:%02lld:%02lld", rest / 3600, rest % 3600 / 60, rest % 60);
}

std::string format_elapsed(double seconds) {
  check_seconds(seconds, "format_elapsed");
  const double rounded = std::round(seconds);
  return rounded >= 3600 ? format_hmmss(rounded) : format_mmss(rounded);
}

std::string format_clock(double seconds, char decimal) {
  check_seconds(seconds, "format_clock");
  const auto ms = static_cast<long long>(std::llround(seconds * 1000.0));
  std::string out = printf_string("%02lld:%02lld:%02lld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60);
  return out + decimal + printf_string("%03lld", ms % 1000, 0);
}

}  // namespace smolvid::util
