#include "util/duration.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace smolvid::util {
namespace {

constexpr const char* kForms = "expected seconds (90, 12.5s), units (1m30s, 1.5m, 2h) or [HH:]MM:SS[.fff]";

[[noreturn]] void fail(const std::string& text, const std::string& problem) {
  throw DurationError("'" + text + "' is not a duration: " + problem);
}

// Reads digits[.digits] (or .digits) at `pos`; false when there is no number there.
bool read_number(const std::string& s, size_t& pos, double& value, bool allow_fraction) {
  const size_t start = pos;
  while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
  const bool whole = pos > start;
  if (allow_fraction && pos < s.size() && s[pos] == '.') {
    const size_t dot = pos++;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
    if (!whole && pos == dot + 1) {
      pos = start;
      return false;
    }
  }
  if (pos == start) return false;
  value = std::strtod(s.substr(start, pos - start).c_str(), nullptr);
  return true;
}

double parse_clock(const std::string& text, const std::string& s) {
  std::vector<double> fields;
  size_t pos = 0;
  while (true) {
    double v = 0;
    const bool last = s.find(':', pos) == std::string::npos;
    if (!read_number(s, pos, v, last)) fail(text, kForms);
    fields.push_back(v);
    if (pos == s.size()) break;
    if (s[pos] != ':') fail(text, kForms);
    ++pos;
  }
  if (fields.size() > 3) fail(text, "a clock time has at most three fields, [HH:]MM:SS");
  const double ss = fields.back();
  const double mm = fields[fields.size() - 2];
  const double hh = fields.size() == 3 ? fields[0] : 0.0;
  if (mm >= 60 || ss >= 60) fail(text, "minutes and seconds must be below 60 in [HH:]MM:SS (write 90 minutes as 1:30:00)");
  return hh * 3600 + mm * 60 + ss;
}

double parse_units(const std::string& text, const std::string& s) {
  static const double kScale[] = {3600.0, 60.0, 1.0};
  double total = 0;
  int next_unit = 0;  // units must come in the order h, m, s, each at most once
  bool any = false;
  size_t pos = 0;
  while (pos < s.size()) {
    double v = 0;
    if (!read_number(s, pos, v, true)) fail(text, kForms);
    while (pos < s.size() && s[pos] == ' ') ++pos;
    int unit = 2;  // a bare number is seconds; only the last one may be bare
    if (pos < s.size()) {
      const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(s[pos])));
      unit = c == 'h' ? 0 : c == 'm' ? 1 : c == 's' ? 2 : -1;
      if (unit < 0) fail(text, kForms);
      ++pos;
    } else if (any && next_unit != 2) {
      fail(text, "a number after hours needs its unit (m or s)");
    }
    if (unit < next_unit) fail(text, "units must come in the order h, m, s, each at most once");
    if (any && v >= 60) {
      fail(text, std::string("a ") + (unit == 1 ? "minutes" : "seconds") + " field after a larger unit must be below 60");
    }
    total += v * kScale[unit];
    next_unit = unit + 1;
    any = true;
    while (pos < s.size() && s[pos] == ' ') ++pos;
  }
  return total;
}

}  // namespace

double parse_duration(const std::string& text) {
  const size_t a = text.find_first_not_of(" \t");
  if (a == std::string::npos) fail(text, std::string("the text is empty; ") + kForms);
  const std::string s = text.substr(a, text.find_last_not_of(" \t") - a + 1);
  if (s[0] == '-') fail(text, "a duration cannot be negative");
  const double seconds = s.find(':') != std::string::npos ? parse_clock(text, s) : parse_units(text, s);
  if (seconds > kMaxDurationSeconds) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "longer than the supported maximum of %.0f s (366 days)", kMaxDurationSeconds);
    fail(text, buf);
  }
  return seconds;
}

}  // namespace smolvid::util
