// cli/registry.h: each subcommand file registers itself here, so adding a command touches only its
// own file. A command's callback parses nothing by hand: it calls into pipeline/ (or decode/,
// sampler/, model/ for the debug tools) and prints. Errors are thrown as exceptions; main() prints
// them as one line and returns the documented exit code (cli/exit_codes.h).
//
//   // cli/cmd_probe.cpp
//   static const smolvid::cli::Registrar kProbe(smolvid::cli::Group::kTop, 10, [](CLI::App& app) {
//     auto* cmd = app.add_subcommand("probe", "Print what a video file holds");
//     ...
//   });
#pragma once

#include <functional>
#include <vector>

namespace CLI {
class App;
}

namespace smolvid::cli {

enum class Group {
  kTop,    // smolvid NAME
  kDebug,  // smolvid debug NAME
};

using AddCommand = std::function<void(CLI::App& parent)>;

struct Registration {
  Group group;
  int order;  // position in --help (ascending)
  AddCommand add;
};

std::vector<Registration>& registrations();

struct Registrar {
  Registrar(Group group, int order, AddCommand add) { registrations().push_back({group, order, std::move(add)}); }
};

}  // namespace smolvid::cli
