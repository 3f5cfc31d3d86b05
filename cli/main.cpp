// The smolvid command: parses the command line with CLI11, runs one subcommand, and turns every
// error into one line on stderr plus a documented exit code.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

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
  static const char* const kModelCommands[] = {"ask", "summarize", "batch", "index", "serve", "watch"};
  const bool runs_model = std::any_of(std::begin(kModelCommands), std::end(kModelCommands),
                                      [&](const char* c) { return std::strcmp(argv[1], c) == 0; });
  if (!runs_model) return;
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then run on with the default policy
}

// Edit distance between two command names (insertions, deletions, substitutions).
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "smolvid nosuch" (or "smolvid debug nosuch"): CLI11 only says that a subcommand is required, so
// name the word and the closest command. Empty when the command words are all known.
std::string unknown_command_message(CLI::App& app, int argc, char** argv) {
  CLI::App* level = &app;
  std::string prefix = "smolvid";
  for (int i = 1; i < argc && argv[i][0] != '-'; ++i) {
    const std::string word = argv[i];
    const std::vector<CLI::App*> commands = level->get_subcommands([](CLI::App*) { return true; });
    const bool takes_arguments = !level->get_options([](const CLI::Option* o) { return o->get_positional(); }).empty();
    if (commands.empty() || takes_arguments) return "";  // the word may be an argument
    CLI::App* match = nullptr;
    std::string closest;
    size_t best = 3;  // suggest only names within two edits
    for (CLI::App* c : commands) {
      if (c->check_name(word)) match = c;
      const size_t d = edit_distance(word, c->get_name());
      if (d < best) best = d, closest = c->get_name();
    }
    if (!match) {
      return fmt::format("{}: unknown command '{}'{}; '{} --help' lists the commands", prefix, word,
                         closest.empty() ? "" : fmt::format(" (did you mean '{}'?)", closest), prefix);
    }
    level = match;
    prefix += " " + word;
  }
  return "";
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
    if (const std::string unknown = unknown_command_message(app, argc, argv); !unknown.empty()) {
      fmt::print(stderr, "{}\n", unknown);
      return kExitUsage;
    }
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  } catch (const std::exception& e) {
    fmt::print(stderr, "smolvid: error: {}\n", e.what());
    return kExitFailure;
  }
  return kExitOk;
}
