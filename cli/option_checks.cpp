#include "cli/option_checks.h"

#include <fmt/core.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace smolvid::cli {

CLI::Validator number_in(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& v) -> std::string {
        char* end = nullptr;
        const double x = std::strtod(v.c_str(), &end);
        if (v.empty() || *end != '\0' || !std::isfinite(x) || x < lo || x > hi) {
          return fmt::format("must be a number in [{}, {}], got '{}'", lo, hi, v);
        }
        return {};
      },
      fmt::format("NUMBER in [{}, {}]", lo, hi), "number_in");
}

CLI::Validator whole_number_in(long long lo, long long hi) {
  return CLI::Validator(
      [lo, hi](std::string& v) -> std::string {
        char* end = nullptr;
        errno = 0;
        const long long x = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end != '\0' || errno == ERANGE || x < lo || x > hi) {
          return fmt::format("must be a whole number in [{}, {}], got '{}'", lo, hi, v);
        }
        return {};
      },
      fmt::format("INT in [{}, {}]", lo, hi), "whole_number_in");
}

}  // namespace smolvid::cli
