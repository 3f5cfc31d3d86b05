// The smolvid command: parses the command line with CLI11, runs one subcommand, and turns every
// error into one line on stderr plus a documented exit code.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <exception>

#include "cli/exit_codes.h"
#include "cli/registry.h"

namespace smolvid::cli {

std::vector<Registration>& registrations() {
  static std::vector<Registration> all;
  return all;
}

}  // namespace smolvid::cli

int main(int argc, char** argv) {
  using namespace smolvid::cli;
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
