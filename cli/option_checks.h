// cli/option_checks.h: the range checks of numeric options, run by CLI11 at parse time, so a value
// out of range exits 2 with one line naming the option ("--fps: must be a number in [0, 240],
// got '1e9'"). NaN, infinities and trailing text are rejected too (CLI11's Range lets NaN through
// and prints its bounds with 300 digits).
//
// Usage:
//   cmd->add_option("--fps", fps, "...")->check(number_in(0, sampler::kMaxFps));
//   cmd->add_option("--threads", threads, "...")->check(whole_number_in(0, cores));
#pragma once

#include <CLI/CLI.hpp>

namespace smolvid::cli {

// A finite number in [lo, hi].
CLI::Validator number_in(double lo, double hi);
// A whole number in [lo, hi].
CLI::Validator whole_number_in(long long lo, long long hi);

}  // namespace smolvid::cli
