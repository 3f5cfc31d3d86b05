// pipeline/batch.h: `smolvid batch MANIFEST --out RESULTS.jsonl [--resume] [--shard K/N]`.
// Runs one job per manifest item, appends one JSON line per item to the results file, and never
// stops for a failing item. Scale-out is left to existing engines (Kubernetes Indexed Jobs, Slurm
// job arrays): each process takes a stable, disjoint subset of the items by a hash of their ids.
//
// Usage:
//   auto items = smolvid::pipeline::read_manifest("manifest.jsonl");
//   smolvid::pipeline::BatchOptions opts;
//   opts.out_path = "results.jsonl"; opts.resume = true; opts.item_timeout_s = 600;
//   opts.shard = smolvid::pipeline::Shard::from_env().value_or(smolvid::pipeline::Shard{});
//   auto report = smolvid::pipeline::run_batch(items, opts,
//       [&](const BatchItem& item, const Deadline& deadline) -> nlohmann::json {
//         return {{"answers", ...}};   // fields added to the item's result line
//       });
//
// Manifest: JSON Lines, one object per line (blank lines and lines starting with '#' skipped):
//   {"id": "clip-1", "video": "a.mp4", "question": "What happens?"}
//   {"id": 2, "video": "b.mp4", "questions": ["Who?", "Where?"], "start": 10, "end": "00:01:30"}
//   {"id": "c", "video": "c.mp4", "task": "summarize", "sampling": {"strategy": "scenes"}}
//   id        string or integer, unique in the manifest (required)
//   video     path or URL (required)
//   question  / questions   string / array of strings (at least one for task "ask")
//   task      "ask" (default) or "summarize"
//   start, end  seconds (number) or "[HH:]MM:SS[.mmm]" string: the part of the video to use
//   sampling  object of sampler overrides, passed to the job unchanged
// Results: JSON Lines, one object per processed item:
//   {"id", "task", "video", "status": "ok"|"error", ...fields from the job (answers, summary),
//    "error": message (status error), "error_type": why it failed (status error; ItemErrorKind:
//    "input", "options", "model" or "timeout"), "timings_s": {"total"}, "shard": "K/N"}
// Each line is written with one write(2) on an O_APPEND descriptor and then fsync'ed, so a crash
// leaves at most one partial last line; --resume cuts it off and skips every id that already has
// a line (ok or error), so a killed run resumed produces each item exactly once.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "pipeline/vlm.h"

namespace smolvid::pipeline {

class BatchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Why an item failed: the "error_type" of its result line.
//   input    the video cannot be opened, read or decoded (a missing file, not a video, no frame
//            where one was asked for)
//   options  the item asks for what cannot be done: an invalid sampling override, a time range
//            outside the video, a policy that picks no frame in the range
//   model    the model failed on the item (tensors, tokenizer, chat template, memory, device)
//   timeout  the item ran longer than --item-timeout
enum class ItemErrorKind { kInput, kOptions, kModel, kTimeout };
const char* item_error_kind_name(ItemErrorKind kind);  // "input", "options", "model", "timeout"

// Thrown by an ItemRunner that knows why its item failed.
class ItemError : public std::runtime_error {
 public:
  ItemError(ItemErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ItemErrorKind kind() const { return kind_; }

 private:
  ItemErrorKind kind_;
};

// The kind of a failure thrown by an ItemRunner: an ItemError says it; TimeoutError is a timeout,
// VlmError a model failure; BatchError and std::invalid_argument (e.g. sampler::SamplerError) are
// options; anything else happened while reading the video: input.
ItemErrorKind item_error_kind(const std::exception& error);

struct BatchItem {
  std::string id;
  std::string video;
  std::vector<std::string> questions;
  std::string task = "ask";                    // "ask" or "summarize"
  std::optional<double> start_s, end_s;        // time range in seconds
  nlohmann::json sampling = nlohmann::json::object();
  int line = 0;                                // 1-based manifest line, for messages
};

// Throws BatchError naming the manifest and line for malformed JSON, missing/invalid fields,
// unknown keys and duplicate ids; read_manifest also for a directory or an unreadable file.
std::vector<BatchItem> parse_manifest(std::istream& in, const std::string& name);
std::vector<BatchItem> read_manifest(const std::string& path);

// 64-bit FNV-1a of the id's bytes: the same on every machine and run.
uint64_t stable_id_hash(const std::string& id);

struct Shard {
  int index = 0;  // 0-based, < count
  int count = 1;

  // "K/N" with 0 <= K < N; throws BatchError.
  static Shard parse(const std::string& text);
  // From the environment of an array job, or nullopt when none is set:
  //   Kubernetes Indexed Job: JOB_COMPLETION_INDEX (set by Kubernetes) and SMOLVID_SHARD_COUNT
  //     (Kubernetes does not export the completion count; the Job manifest sets it to
  //     spec.completions, see deploy/k8s-indexed-job.yaml)
  //   Slurm job array: SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN (0 when unset) of
  //     SLURM_ARRAY_TASK_COUNT
  // Throws BatchError for inconsistent values (e.g. index without count, index >= count).
  static std::optional<Shard> from_env();
  bool contains(const std::string& id) const { return stable_id_hash(id) % static_cast<uint64_t>(count) == static_cast<uint64_t>(index); }
  std::string to_string() const;  // "K/N"
};

// Replaces "{shard}" with K and "{shards}" with N, e.g. "out/results-{shard}.jsonl".
std::string expand_shard_path(const std::string& path, const Shard& shard);

// The append-only results file.
class ResultsLog {
 public:
  // Creates the file if needed. Without resume, an existing non-empty file is an error (so two
  // runs are never mixed). With resume, a trailing partial line is cut off and the ids of the
  // complete lines are loaded; a complete line that is not a JSON object with an "id" throws.
  ResultsLog(const std::string& path, bool resume);
  ~ResultsLog();
  ResultsLog(const ResultsLog&) = delete;
  ResultsLog& operator=(const ResultsLog&) = delete;

  const std::set<std::string>& done_ids() const { return done_; }
  size_t trimmed_bytes() const { return trimmed_; }  // partial-line bytes removed on resume
  // Appends `line` (a JSON object with "id") as one line, atomically, then fsyncs.
  void append(const nlohmann::json& line);

 private:
  std::string path_;
  int fd_ = -1;
  std::set<std::string> done_;
  size_t trimmed_ = 0;
};

struct BatchOptions {
  std::string out_path;          // results JSONL ("{shard}"/"{shards}" expanded)
  bool resume = false;           // skip ids already in out_path
  double item_timeout_s = 0.0;   // > 0: each item gets Deadline::after_seconds(item_timeout_s)
  Shard shard;                   // default 0/1 = every item
};

// Runs one item; returns the fields to add to its result line (e.g. {"answers": [...]}). Throws
// to fail the item (error_type from item_error_kind).
using ItemRunner = std::function<nlohmann::json(const BatchItem&, const Deadline&)>;
// Called after each item's line is written (progress display).
using ItemDone = std::function<void(const BatchItem&, const nlohmann::json& result_line)>;

struct BatchReport {
  size_t manifest_items = 0;
  size_t shard_items = 0;     // items in this shard
  size_t skipped_done = 0;    // already in the results file (resume)
  size_t ok = 0;
  size_t failed = 0;
  size_t trimmed_bytes = 0;   // partial last line removed on resume
};

BatchReport run_batch(const std::vector<BatchItem>& items, const BatchOptions& options, const ItemRunner& run_item,
                      const ItemDone& on_done = {});

// Merging shard outputs: concatenates the inputs into `output` (written to a temporary file and
// renamed), keeping the first line of each id and dropping later duplicates; with a manifest,
// reports the ids that have no line. Partial last lines of inputs are ignored. An output that is
// one of the inputs is refused (BatchError) before anything is read or written.
struct MergeReport {
  size_t lines_read = 0;
  size_t written = 0;
  size_t duplicates_dropped = 0;
  size_t partial_lines_ignored = 0;
  std::vector<std::string> missing_ids;  // manifest ids with no result (empty without manifest)
};
MergeReport merge_results(const std::vector<std::string>& inputs, const std::string& output,
                          const std::vector<BatchItem>* manifest = nullptr);

}  // namespace smolvid::pipeline
