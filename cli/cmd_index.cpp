// smolvid index VIDEO... --db FILE.sqlite [--camera NAME]
// For fixed cameras: the motion policy finds the events of each video, the model captions each
// event, and the events (times, wall-clock times when known, caption, thumbnail) go into a SQLite
// database, one transaction per file, searchable with `smolvid search`. A file already indexed
// with the same content and options is skipped.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/model_options.h"
#include "cli/registry.h"
#include "pipeline/index.h"
#include "pipeline/jobs.h"
#include "pipeline/progress.h"

namespace smolvid::cli {
namespace {

const int kEventMaxNewTokens = pipeline::IndexOptions{}.generation.max_new_tokens;

struct IndexCliOptions {
  std::vector<std::string> videos;
  std::string db;
  std::string camera;
  std::string start_time;        // wall clock of video time 0; empty: from the file name
  int frames_per_event = 3;
  std::string progress = "auto";
  ModelCliOptions model;
};

// When the run fails (an exception leaves run_index), an index that this run created and that
// holds no video is removed, so a failed first run leaves no empty database behind.
struct IndexFailureCleanup {
  pipeline::EventIndex& db;
  bool succeeded = false;
  ~IndexFailureCleanup() {
    if (!succeeded) db.discard_if_unused();
  }
};

void run_index(const IndexCliOptions& o) {
  for (const std::string& v : o.videos) require_input(v, "video");
  pipeline::IndexOptions io;
  io.camera = o.camera;
  if (!o.start_time.empty()) {
    const std::optional<double> wall = pipeline::parse_wallclock(o.start_time);
    if (!wall) {
      throw std::invalid_argument(fmt::format("--start-time {}: not a date-time (expected e.g. 2024-05-01T10:00:00Z)", o.start_time));
    }
    io.start_wallclock = wall;
  }
  io.frames_per_event = o.frames_per_event;
  io.generation = o.model.generation(kEventMaxNewTokens);
  io.threads = o.model.threads;
  pipeline::EventIndex db(o.db);  // opened first: a bad --db fails before the model loads
  IndexFailureCleanup cleanup{db};
  std::unique_ptr<pipeline::Vlm> vlm = load_model(o.model);

  size_t events = 0;
  for (const std::string& video : o.videos) {
    pipeline::ProgressBar bar("index", 0, progress_mode(o.progress));
    const pipeline::IndexVideoResult r =
        pipeline::index_video(*vlm, db, video, io, [&](size_t done, size_t total, const std::string& detail) {
          bar.set_total(static_cast<int64_t>(total));
          bar.update(static_cast<int64_t>(done), detail);
        });
    bar.finish();
    if (r.already_indexed) {
      fmt::print("{}: already indexed with these options, skipped\n", video);
      continue;
    }
    events += r.events;
    fmt::print("{}: {} events{}\n", video, r.events,
               r.start_wallclock ? ", starts " + pipeline::format_wallclock(*r.start_wallclock) : std::string());
  }
  const pipeline::EventIndex::Counts c = db.counts();
  fmt::print("{}: {} new events; {} files, {} events in the index\n", o.db, events, c.files, c.events);
  cleanup.succeeded = true;
}

const Registrar kIndex(Group::kTop, 60, [](CLI::App& parent) {
  auto o = std::make_shared<IndexCliOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "index", "Index fixed-camera footage: find motion events, caption each one, store them with times and "
               "thumbnails in a SQLite database for `smolvid search`");
  cmd->add_option("VIDEOS", o->videos, "Video files (or URLs) to index")->required();
  cmd->add_option("--db", o->db, "SQLite database file, created when missing (required)")->required();
  cmd->add_option("--camera", o->camera, "Camera name stored with the events (default: each file's name without extension)");
  cmd->add_option("--start-time", o->start_time,
                  "Wall-clock time of the start of the video(s), e.g. 2024-05-01T10:00:00Z (default: from the file name "
                  "such as VID_20191220_170832 or 2024-05-01_10-00-00, else unknown)")
      ->check(CLI::Validator(
          [](std::string& v) {
            try {
              if (pipeline::parse_wallclock(v)) return std::string();
            } catch (const pipeline::IndexError& e) {
              return std::string(e.what());
            }
            return fmt::format("'{}' is not a date-time (expected e.g. 2024-05-01T10:00:00Z)", v);
          },
          "DATETIME", "datetime"));
  cmd->add_option("--frames-per-event", o->frames_per_event, "Frames shown to the model per event (default: 3)")
      ->check(CLI::Range(1, 16));
  add_progress_option(*cmd, o->progress);
  add_model_options(*cmd, o->model, std::to_string(kEventMaxNewTokens) + " per event caption");
  cmd->callback([o] { run_index(*o); });
});

}  // namespace
}  // namespace smolvid::cli
