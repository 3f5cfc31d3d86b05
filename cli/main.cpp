// The smolvid command: parses the command line with CLI11, runs one subcommand, and turns every
// error into one line on stderr plus a documented exit code.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "cli/exit_codes.h"
#include "cli/registry.h"

namespace smolvid::cli {

std::vector<Registration>& registrations() {
  static std::vector<Registration> all;
  return all;
}

}  // namespace smolvid::cli

namespace {

// libgomp reads OMP_WAIT_POLICY once, when it is loaded (before main). With the default policy an
// idle OpenMP worker spins; on a 2-core machine that spinning starves the decoder threads and the
// other half of libtorch's own pool (measured: bfloat16 prefill fell from ~1100 to 18 tokens/s on
// a busy machine). Commands that run the model therefore re-execute themselves once with
// OMP_WAIT_POLICY=PASSIVE, unless the user chose a policy.
void ensure_passive_openmp(int argc, char** argv) {
  if (argc < 2 || std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  static const char* const kModelCommands[] = {"ask", "summarize", "batch", "index", "watch"};
  const bool runs_model = std::any_of(std::begin(kModelCommands), std::end(kModelCommands),
                                      [&](const char* c) { return std::strcmp(argv[1], c) == 0; });
  if (!runs_model) return;
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then run on with the default policy
}

}  // namespace

int main(int argc, char** argv) {
  using namespace smolvid::cli;
  ensure_passive_openmp(argc, argv);
  CLI::App app{"smolvid: understand video files offline (FFmpeg + SmolVLM in libtorch)", "smolvid"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "smolvid 0.1.0");
  CLI::App* debug = app.add_subcommand("debug", "Check each part against independent references");
  debug->require_subcommand(1);

  auto regs = registrations();
  std::stable_sort(regs.begin(), regs.end(), [](const Registration& a, const Registration& b) { return a.order < b.order; });
  for (const Registration& r : regs) r.add(r.group == Group::kTop ? app : *debug);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  } catch (const std::exception& e) {
    fmt::print(stderr, "smolvid: error: {}\n", e.what());
    return kExitFailure;
  }
  return kExitOk;
}
