// smolvid search FILE.sqlite "red car" [--camera NAME] [--from T] [--to T] [--json|--html]
// Full-text search over the event captions of an index built by `smolvid index`, best match first;
// --from/--to keep the events that overlap a time range (wall clock or video time).
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "cli/option_checks.h"
#include "cli/registry.h"
#include "pipeline/index.h"
#include "pipeline/media_util.h"
#include "util/time_format.h"

namespace smolvid::cli {
namespace {

struct SearchCliOptions {
  std::string db;
  std::string text;
  std::string camera;
  std::string from, to;
  int limit = 20;
  bool all_words = false;
  bool json = false;
  bool html = false;
  bool thumbnails = false;
};

// Applies a --from/--to value to the wall-clock or video-time bound it names.
void set_bound(const std::string& text, std::optional<double>& wall, std::optional<double>& video) {
  if (text.empty()) return;
  const pipeline::TimeBound b = pipeline::parse_time_bound(text);
  (b.wall ? wall : video) = b.seconds;
}

void print_text(const std::vector<pipeline::EventHit>& hits) {
  if (hits.empty()) {
    fmt::print("no events found\n");
    return;
  }
  for (size_t i = 0; i < hits.size(); ++i) {
    const pipeline::EventHit& h = hits[i];
    std::string when = fmt::format("{} - {}", util::format_clock(h.start_s), util::format_clock(h.end_s));
    if (h.wall_start) when += fmt::format(" ({})", pipeline::format_wallclock(*h.wall_start));
    fmt::print("{:2}. [{}] {}  {}\n    {}\n", i + 1, h.camera, h.file, when, h.caption);
  }
}

void run_search(const SearchCliOptions& o) {
  // The index is never created by a search: a missing file is a mistyped path.
  if (!std::filesystem::exists(o.db)) throw std::invalid_argument(fmt::format("index {}: no such file (create it with smolvid index)", o.db));
  pipeline::SearchQuery q;
  q.text = o.text;
  if (!o.camera.empty()) q.camera = o.camera;
  set_bound(o.from, q.from_wall, q.from_video);
  set_bound(o.to, q.to_wall, q.to_video);
  q.limit = o.limit;
  q.match_all_words = o.all_words;
  const pipeline::EventIndex db(o.db, pipeline::EventIndex::Access::kReadOnly);  // a search never writes
  const std::vector<pipeline::EventHit> hits = db.search(q);
  if (o.html) {
    pipeline::write_search_html(hits, q, std::cout);
  } else if (o.json) {
    pipeline::write_search_json(hits, q, std::cout, o.thumbnails);
  } else {
    print_text(hits);
  }
  std::cout.flush();
}

CLI::Validator time_bound_validator() {
  return CLI::Validator(
      [](std::string& v) {
        try {
          pipeline::parse_time_bound(v);
          return std::string();
        } catch (const pipeline::IndexError& e) {
          return std::string(e.what());
        }
      },
      "TIME", "time bound");
}

const Registrar kSearch(Group::kTop, 70, [](CLI::App& parent) {
  auto o = std::make_shared<SearchCliOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "search", "Search the events of an index built by `smolvid index` by words in their captions, camera and time; "
                "best match first");
  cmd->add_option("DB", o->db, "SQLite index file written by smolvid index")->required();
  cmd->add_option("QUERY", o->text, "Words to look for in the captions (default: none, every event that passes the filters)");
  cmd->add_option("--camera", o->camera, "Only this camera (exact name) (default: all cameras)");
  cmd->add_option("--from", o->from,
                  "Only events that end at or after this time: wall clock 2024-05-01T10:00[:SS][Z|+HH:MM] or 2024-05-01, "
                  "or video time 90, 12.5, 01:30, 1:02:03 (default: no bound)")
      ->check(time_bound_validator());
  cmd->add_option("--to", o->to, "Only events that start at or before this time (same forms as --from) (default: no bound)")
      ->check(time_bound_validator());
  cmd->add_option("--limit,-n", o->limit, "Most results, 1..100000 (default: 20)")->check(whole_number_in(1, 100000));
  cmd->add_flag("--all-words", o->all_words, "Every word must match (default: off, any word matches; more matches rank first)");
  auto* json = cmd->add_flag("--json", o->json, "Print JSON {query, results: [...]} (default: off, text)");
  auto* html = cmd->add_flag("--html", o->html, "Print a self-contained HTML page with the thumbnails (default: off, text)");
  json->excludes(html);
  cmd->add_flag("--thumbnails", o->thumbnails, "With --json: add each event's thumbnail as a data: URI (default: off)")->needs(json);
  cmd->callback([o] { run_search(*o); });
});

}  // namespace
}  // namespace smolvid::cli
