// smolvid batch MANIFEST --out RESULTS.jsonl [--resume] [--shard K/N] [--item-timeout S]
// smolvid batch merge --out OUT.jsonl SHARD.jsonl... [--manifest MANIFEST]
// Runs every manifest item of this shard with one model (loaded once), appending one JSON line per
// item (pipeline/batch.h); failures are recorded and the batch goes on. `merge` joins the results
// of the shards into one file, dropping duplicate ids and reporting manifest ids without a result.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/model_options.h"
#include "cli/registry.h"
#include "cli/sampling_options.h"
#include "pipeline/batch.h"
#include "pipeline/jobs.h"
#include "pipeline/progress.h"
#include "util/duration.h"

namespace smolvid::cli {
namespace {

const int kAskMaxNewTokens = pipeline::AskOptions{}.generation.max_new_tokens;
const int kCaptionMaxNewTokens = pipeline::SummarizeOptions{}.caption_generation.max_new_tokens;
const int kSummaryMaxNewTokens = pipeline::SummarizeOptions{}.summary_generation.max_new_tokens;

struct BatchCliOptions {
  std::string manifest;
  std::string out;
  bool resume = false;
  std::string shard;          // "K/N"; empty: from the environment, else 0/1
  std::string item_timeout;   // empty: none
  SamplingCliOptions sampling;  // ask items without a sampling override
  std::string progress = "auto";
  ModelCliOptions model;
};

struct MergeCliOptions {
  std::string output;
  std::vector<std::string> inputs;
  std::string manifest;
};

pipeline::Shard choose_shard(const std::string& text) {
  if (!text.empty()) return pipeline::Shard::parse(text);
  return pipeline::Shard::from_env().value_or(pipeline::Shard{});
}

// Item failures are recorded in the results and do not fail the run (exit 0); the counts go to stderr.
void run_batch(const BatchCliOptions& o) {
  if (o.manifest.empty()) throw CLI::RequiredError("MANIFEST");
  if (o.out.empty()) throw CLI::RequiredError("--out");
  const std::vector<pipeline::BatchItem> items = pipeline::read_manifest(o.manifest);
  pipeline::BatchOptions bo;
  bo.out_path = o.out;
  bo.resume = o.resume;
  bo.shard = choose_shard(o.shard);
  bo.item_timeout_s = o.item_timeout.empty() ? 0.0 : util::parse_duration(o.item_timeout);

  pipeline::AskOptions ask;
  ask.sampling = o.sampling.sampler_options();
  ask.generation = o.model.generation(kAskMaxNewTokens);
  ask.threads = o.model.threads;
  pipeline::SummarizeOptions summarize;
  summarize.caption_generation = o.model.generation(kCaptionMaxNewTokens);
  summarize.summary_generation = o.model.generation(kSummaryMaxNewTokens);
  summarize.thumbnail_side = 0;
  summarize.threads = o.model.threads;
  std::unique_ptr<pipeline::Vlm> vlm = load_model(o.model);

  size_t in_shard = 0;
  for (const auto& item : items) in_shard += bo.shard.contains(item.id) ? 1 : 0;
  pipeline::ProgressBar bar("batch", static_cast<int64_t>(in_shard), progress_mode(o.progress));
  int64_t done = 0;
  const pipeline::BatchReport report =
      pipeline::run_batch(items, bo, pipeline::make_batch_runner(*vlm, ask, summarize),
                          [&](const pipeline::BatchItem& item, const nlohmann::json& line) {
                            if (line.value("status", "") != "ok") {
                              bar.update(done);
                              fmt::print(stderr, "{}item {}: {}\n", bar.enabled() ? "\n" : "", item.id, line.value("error", "error"));
                            }
                            bar.update(++done, item.id);
                          });
  bar.update(static_cast<int64_t>(report.skipped_done) + done);
  bar.finish();
  fmt::print(stderr, "batch: shard {}: {} of {} manifest items; {} ok, {} failed, {} already done{} -> {}\n",
             bo.shard.to_string(), report.shard_items, report.manifest_items, report.ok, report.failed, report.skipped_done,
             report.trimmed_bytes ? fmt::format(" (cut a partial last line of {} bytes)", report.trimmed_bytes) : "",
             pipeline::expand_shard_path(bo.out_path, bo.shard));
}

// Throws (exit 1) when manifest ids have no result line.
void run_merge(const MergeCliOptions& o) {
  std::vector<pipeline::BatchItem> manifest;
  if (!o.manifest.empty()) manifest = pipeline::read_manifest(o.manifest);
  const pipeline::MergeReport r = pipeline::merge_results(o.inputs, o.output, o.manifest.empty() ? nullptr : &manifest);
  if (r.missing_ids.empty()) {
    fmt::print(stderr, "merge: {} lines read from {} files, {} written to {}, {} duplicate ids dropped, {} partial lines ignored\n",
               r.lines_read, o.inputs.size(), r.written, o.output, r.duplicates_dropped, r.partial_lines_ignored);
    return;
  }
  std::string ids;
  for (size_t i = 0; i < r.missing_ids.size() && i < 20; ++i) ids += (i ? ", " : "") + r.missing_ids[i];
  if (r.missing_ids.size() > 20) ids += fmt::format(", ... ({} more)", r.missing_ids.size() - 20);
  throw std::runtime_error(fmt::format("merge: {} of {} manifest ids have no result in {} ({} lines written): {}",
                                       r.missing_ids.size(), manifest.size(), o.output, r.written, ids));
}

const Registrar kBatch(Group::kTop, 50, [](CLI::App& parent) {
  auto o = std::make_shared<BatchCliOptions>();
  auto m = std::make_shared<MergeCliOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "batch", "Answer questions about (or summarize) many videos listed in a JSONL manifest; one JSON line per item, "
               "resumable, shardable (see deploy/README.md)");
  cmd->add_option("MANIFEST", o->manifest,
                  "JSONL manifest: one {\"id\", \"video\", \"question\"|\"questions\", [\"task\": \"summarize\"], "
                  "[\"start\", \"end\"], [\"sampling\"]} per line");
  cmd->add_option("--out,-o", o->out,
                  "Results JSONL, appended one line per item; {shard} and {shards} are replaced by K and N (required)");
  cmd->add_flag("--resume", o->resume,
                "Continue a killed run: cut a partial last line, skip ids already in --out (default: off; without it an "
                "existing non-empty --out is an error)");
  cmd->add_option("--shard", o->shard,
                  "Process shard K of N (0 <= K < N), a stable subset by a hash of the ids (default: from "
                  "JOB_COMPLETION_INDEX + SMOLVID_SHARD_COUNT, or SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, else 0/1)")
      ->check(CLI::Validator(
          [](std::string& v) {
            try {
              pipeline::Shard::parse(v);
              return std::string();
            } catch (const pipeline::BatchError& e) {
              return std::string(e.what());
            }
          },
          "K/N", "shard"));
  cmd->add_option("--item-timeout", o->item_timeout, "Fail an item that runs longer than this (e.g. 600, 10m) (default: no limit)")
      ->check(duration_validator());
  add_sampling_options(*cmd, o->sampling);  // for ask items without a sampling override
  add_progress_option(*cmd, o->progress);
  add_model_options(*cmd, o->model,
                    fmt::format("ask items {}; summarize items {} per caption, {} for the summary", kAskMaxNewTokens,
                                kCaptionMaxNewTokens, kSummaryMaxNewTokens));
  CLI::App* merge = cmd->add_subcommand(
      "merge", "Join shard results into one file: keeps the first line of each id, ignores partial last lines, and with "
               "--manifest lists the ids that have no result (exit 1)");
  merge->add_option("--out,-o", m->output, "Merged results file, written atomically; never one of the SHARDS (required)")->required();
  merge->add_option("SHARDS", m->inputs, "Results files of the shards")->required();
  merge->add_option("--manifest", m->manifest, "The manifest the shards ran, to check that every id has a result (default: none)")
      ->check(CLI::ExistingFile);
  merge->callback([m] { run_merge(*m); });
  cmd->callback([o, merge] {
    if (!merge->parsed()) run_batch(*o);
  });
});

}  // namespace
}  // namespace smolvid::cli
