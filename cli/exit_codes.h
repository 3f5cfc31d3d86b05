// cli/exit_codes.h: the exit codes of the smolvid command (documented in README.md).
#pragma once

namespace smolvid::cli {

constexpr int kExitOk = 0;           // success (warnings, if any, went to stderr)
constexpr int kExitFailure = 1;      // the input or the job failed: one line on stderr says why
constexpr int kExitUsage = 2;        // bad command line (unknown option, missing argument, bad value)
constexpr int kExitInterrupted = 130;  // stopped by SIGINT

}  // namespace smolvid::cli
