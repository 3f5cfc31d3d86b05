// util/duration.h: the one parser of durations and video times typed by people (command-line
// options, batch manifests, index and search bounds).
//
// Usage:
//   smolvid::util::parse_duration("90");        // 90
//   smolvid::util::parse_duration("12.5s");     // 12.5
//   smolvid::util::parse_duration("1m30s");     // 90     (also 1.5m, 2h, 1h2m3s, 1m30)
//   smolvid::util::parse_duration("01:30");     // 90     [HH:]MM:SS[.fff], MM and SS below 60
//   smolvid::util::parse_duration("1:02:03.5"); // 3723.5
//
// Rejected, with DurationError naming the text and the problem: anything else (signs, exponents,
// "nan", "inf", empty text), a minutes or seconds field of 60 or more after a larger unit
// ("99:99", "1h75m", "1m90s"), and more than kMaxDurationSeconds.
#pragma once

#include <stdexcept>
#include <string>

namespace smolvid::util {

class DurationError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// One leap year: no video or camera recording smolvid handles is longer.
constexpr double kMaxDurationSeconds = 366.0 * 86400.0;

// Seconds (>= 0, finite, at most kMaxDurationSeconds). Leading and trailing blanks are ignored.
double parse_duration(const std::string& text);

}  // namespace smolvid::util
