// util/time_format.h: the one place that writes a time in seconds as text.
//
// Usage:
//   smolvid::util::format_mmss(3725.0);         // "62:05"  SmolVLM2 frame label (minutes not wrapped)
//   smolvid::util::format_hmmss(90000.0);       // "1 day, 1:00:00"  SmolVLM2 intro duration
//   smolvid::util::format_elapsed(75.6);        // "01:16"  progress (H:MM:SS from an hour on)
//   smolvid::util::format_clock(3725.5, ',');   // "01:02:05,500"  SRT; '.' for WebVTT and text
//
// Every function takes seconds >= 0, finite and at most kMaxFormatSeconds; anything else throws
// std::invalid_argument naming the value.
#pragma once

#include <string>

namespace smolvid::util {

constexpr double kMaxFormatSeconds = 1e12;

// "MM:SS" with MM = int(t // 60) and SS = int(t % 60) under Python's float semantics, both
// zero-padded to two digits; minutes are not wrapped at 60 ("62:05").
std::string format_mmss(double seconds);

// Python's str(datetime.timedelta(seconds=int(t))): "0:00:10", "1:05:07", "1 day, 0:00:00",
// "2 days, 3:04:05".
std::string format_hmmss(double seconds);

// Rounded to the second: "MM:SS" below an hour, format_hmmss from an hour on.
std::string format_elapsed(double seconds);

// "HH:MM:SS<decimal>mmm", rounded to the millisecond, hours at least two digits (not wrapped at
// 24). `decimal` is ',' for SRT and '.' for WebVTT and text.
std::string format_clock(double seconds, char decimal = '.');

}  // namespace smolvid::util
