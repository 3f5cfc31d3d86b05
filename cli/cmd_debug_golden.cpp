// smolvid debug golden DIR: runs a golden fixture folder through the C++ model and prints, per
// tensor, the max abs difference against the Hugging Face reference and pass/fail. Exits 1 when
// anything fails.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "cli/option_checks.h"
#include "cli/registry.h"
#include "model/nn/golden.h"
#include "model/nn/threads.h"

namespace {

struct GoldenArgs {
  std::string dir;
  std::string dtype = "float32";
  double atol = -1;
  int threads = 0;
  bool json = false;
};

void run(const GoldenArgs& a) {
  smolvid::model::GoldenOptions opts;
  opts.dtype = a.dtype;
  opts.threads = a.threads;
  opts.atol = a.atol >= 0 ? a.atol : (a.dtype == "bfloat16" ? 0.25 : 1e-4);
  const auto report = smolvid::model::run_golden(a.dir, opts);
  if (a.json) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& r : report.rows) {
      rows.push_back({{"case", r.case_name},
                      {"tensor", r.tensor},
                      {"max_abs_diff", r.max_abs_diff},
                      {"tolerance", r.tolerance},
                      {"pass", r.pass},
                      {"detail", r.detail}});
    }
    nlohmann::json j = {{"dir", report.dir}, {"dtype", report.dtype}, {"passed", report.all_passed()},
                        {"failures", report.failures()}, {"comparisons", rows}};
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("golden {} ({})\n", report.dir, report.dtype);
    for (const auto& r : report.rows) {
      fmt::print("  {:<4} {:<22} {:<26} max_abs_diff {:<12.4g} tol {:<8.2g} {}\n", r.pass ? "ok" : "FAIL", r.case_name,
                 r.tensor, r.max_abs_diff, r.tolerance, r.detail);
    }
    fmt::print("{} of {} comparisons passed\n", report.rows.size() - report.failures(), report.rows.size());
  }
  if (!report.all_passed()) {
    throw std::runtime_error(fmt::format("golden {}: {} of {} comparisons failed", report.dir, report.failures(),
                                         report.rows.size()));
  }
}

const smolvid::cli::Registrar kGolden(smolvid::cli::Group::kDebug, 50, [](CLI::App& parent) {
  auto args = std::make_shared<GoldenArgs>();
  auto* cmd = parent.add_subcommand("golden", "Compare the model with a golden fixture folder (../shared/golden/tiny-*)");
  cmd->add_option("dir", args->dir, "Fixture folder: config.json, model.safetensors, cases.json, cases.safetensors")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--dtype", args->dtype, "Compute dtype (default float32)")
      ->check(CLI::IsMember({"float32", "bfloat16"}));
  cmd->add_option("--atol", args->atol, "Max abs difference allowed for float tensors (default 1e-4 for float32, 0.25 for bfloat16)")
      ->check(smolvid::cli::number_in(0, 1e6));
  cmd->add_option("--threads", args->threads,
                  fmt::format("Intra-op threads, 0..{} (default 0 = all available cores)", smolvid::model::available_cores()))
      ->check(smolvid::cli::whole_number_in(0, smolvid::model::available_cores()));
  cmd->add_flag("--json", args->json, "Print the comparisons as JSON (default off)");
  cmd->callback([args] { run(*args); });
});

}  // namespace
