// smolvid watch URL... --db FILE.sqlite | --cameras cameras.json
// Live cameras: motion events from RTSP/HTTP streams (or files paced with --realtime), captioned by
// the model and stored in the same SQLite database as `smolvid index`, while `smolvid search`
// reads it. Reconnects after drops and stalls, records the gaps, prints one JSON line per event
// on stdout, runs --on-event / --webhook hooks, saves clips with --clips. SIGINT/SIGTERM: open
// events are closed, computed captions stored, the database committed, exit 0.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/exit_codes.h"
#include "cli/model_options.h"
#include "cli/registry.h"
#include "pipeline/watch.h"

namespace smolvid::cli {
namespace {

const int kEventMaxNewTokens = pipeline::IndexOptions{}.generation.max_new_tokens;
const pipeline::WatchOptions kWatchDefaults;
const pipeline::CameraConfig kCameraDefaults;

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

struct WatchCliOptions {
  std::vector<std::string> urls;
  std::string cameras_json;
  std::string db;
  std::vector<std::string> names;      // --camera, one per URL
  std::string rtsp_transport = "tcp";
  bool realtime = false;
  bool no_captions = false;
  double analysis_fps = kWatchDefaults.source.analysis_fps;
  double stall_timeout_s = kWatchDefaults.source.stall_timeout_s;
  double backoff_initial_s = kWatchDefaults.source.backoff_initial_s;
  double backoff_max_s = kWatchDefaults.source.backoff_max_s;
  double start_fraction = kCameraDefaults.motion.start_fraction;
  double stay_fraction = kCameraDefaults.motion.stay_fraction;
  double min_event_s = kCameraDefaults.motion.min_event_s;
  double merge_gap_s = kCameraDefaults.motion.merge_gap_s;
  int frames_per_caption = kCameraDefaults.frames_per_caption;
  size_t max_pending = kWatchDefaults.max_pending_captions;
  std::string clips;
  std::string on_event;
  std::string webhook;
  int decode_threads = 1;
  ModelCliOptions model;
};

std::string log_stamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void run_watch_command(const WatchCliOptions& o) {
  if (o.urls.empty() == o.cameras_json.empty())
    throw std::invalid_argument("watch: give camera URLs or --cameras FILE.json (one of the two)");
  if (!o.names.empty() && o.names.size() != o.urls.size())
    throw std::invalid_argument(fmt::format("watch: {} --camera names for {} URLs (give one per URL, or use NAME=URL)", o.names.size(), o.urls.size()));
  pipeline::CameraConfig defaults;
  defaults.motion.start_fraction = o.start_fraction;
  defaults.motion.stay_fraction = o.stay_fraction;
  defaults.motion.min_event_s = o.min_event_s;
  defaults.motion.merge_gap_s = o.merge_gap_s;
  defaults.frames_per_caption = o.frames_per_caption;

  pipeline::WatchOptions wo;
  if (!o.cameras_json.empty()) {
    wo.cameras = pipeline::load_cameras_json(o.cameras_json, defaults);
  } else {
    for (size_t i = 0; i < o.urls.size(); ++i) {
      wo.cameras.push_back(pipeline::camera_from_argument(o.urls[i], i + 1, defaults));
      if (!o.names.empty()) wo.cameras.back().name = o.names[i];
    }
  }
  wo.db_path = o.db;
  wo.source.rtsp_transport = o.rtsp_transport;
  wo.source.realtime = o.realtime;
  wo.source.analysis_fps = o.analysis_fps;
  wo.source.stall_timeout_s = o.stall_timeout_s;
  wo.source.backoff_initial_s = o.backoff_initial_s;
  wo.source.backoff_max_s = o.backoff_max_s;
  wo.source.threads = o.decode_threads;
  wo.generation = o.model.generation(kEventMaxNewTokens);
  wo.max_pending_captions = o.max_pending;
  wo.clips_dir = o.clips;
  wo.on_event_command = o.on_event;
  wo.webhook_url = o.webhook;

  // Signals first: a SIGTERM while the model loads still ends the run cleanly.
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a hook command that does not read its stdin

  { pipeline::EventIndex check(o.db); }  // a bad --db fails before the model loads
  std::unique_ptr<pipeline::Vlm> vlm;
  if (!o.no_captions) vlm = load_model(o.model);

  pipeline::WatchCallbacks cb;
  cb.on_event = [](const nlohmann::json& e) {
    std::cout << e.dump() << '\n';
    std::cout.flush();
  };
  cb.on_log = [](const std::string& line) {
    fmt::print(stderr, "{} {}\n", log_stamp(), line);
    std::fflush(stderr);
  };
  fmt::print(stderr, "{} watch: {} camera{} -> {}{}\n", log_stamp(), wo.cameras.size(), wo.cameras.size() == 1 ? "" : "s", o.db,
             vlm ? ", captions by " + vlm->model_name() : ", captions off");
  const pipeline::WatchResult r = pipeline::run_watch(vlm.get(), wo, g_stop, cb);
  int failed = 0;
  for (const pipeline::CameraStats& c : r.cameras) {
    std::string gaps;
    for (double g : c.reconnect_s) gaps += fmt::format("{}{:.1f}", gaps.empty() ? "" : ", ", g);
    fmt::print(stderr, "{} watch: {}: {} events, {:.1f} s of stream in {:.1f} s, {} analysis frames, {} connection{}{}{}\n", log_stamp(),
               c.name, c.events, c.stream_s, c.busy_s, c.analysis_frames, c.sessions, c.sessions == 1 ? "" : "s",
               gaps.empty() ? "" : ", gaps (s): " + gaps, c.error.empty() ? "" : ", failed: " + c.error);
    if (!c.error.empty()) ++failed;
  }
  fmt::print(stderr, "{} watch: captions: {} done in {:.1f} s, {} failed, {} skipped (backlog), {} pending; largest backlog {}\n",
             log_stamp(), r.captions_done, r.caption_busy_s, r.captions_failed, r.captions_skipped, r.captions_pending,
             r.max_caption_backlog);
  if (r.hooks_failed > 0) fmt::print(stderr, "{} watch: {} hook deliveries failed (see above)\n", log_stamp(), r.hooks_failed);
  if (failed > 0) throw std::runtime_error(fmt::format("watch: {} of {} cameras could not run (see above)", failed, r.cameras.size()));
}

const Registrar kWatch(Group::kTop, 65, [](CLI::App& parent) {
  auto o = std::make_shared<WatchCliOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "watch", "Watch live cameras (RTSP, HTTP streams, or files with --realtime): motion events, captioned and stored in a "
               "SQLite database for `smolvid search`, with reconnects, hooks and clips");
  cmd->add_option("URLS", o->urls, "Camera URLs (rtsp://, http(s)://, or files), each URL or NAME=URL");
  cmd->add_option("--cameras", o->cameras_json, "JSON camera list with per-camera options (see README)")->check(CLI::ExistingFile);
  cmd->add_option("--db", o->db, "SQLite database file, created when missing (required)")->required();
  cmd->add_option("--camera", o->names, "Camera name, one per URL in order (default: NAME=URL, else the URL's last path part)");
  cmd->add_option("--rtsp-transport", o->rtsp_transport, "RTSP transport: tcp or udp (default: tcp)")->check(CLI::IsMember({"tcp", "udp"}));
  cmd->add_flag("--realtime", o->realtime, "Pace file inputs at their frame rate, as if live");
  cmd->add_flag("--no-captions", o->no_captions, "Store events without captions (no model is loaded)");
  cmd->add_option("--analysis-fps", o->analysis_fps, "Frames per second analysed for motion; 0 = every frame (default: 5)")
      ->check(CLI::Range(0.0, 1000.0));
  cmd->add_option("--stall-timeout", o->stall_timeout_s, "Reconnect when no packet came for this many seconds (default: 10)")
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--backoff", o->backoff_initial_s, "First wait before reconnecting, doubled after each failure (default: 1)")
      ->check(CLI::Range(0.01, 3600.0));
  cmd->add_option("--backoff-max", o->backoff_max_s, "Longest wait between reconnects (default: 30)")->check(CLI::Range(0.01, 86400.0));
  cmd->add_option("--start-fraction", o->start_fraction, "Changed-pixel fraction that starts an event (default: 0.02)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--stay-fraction", o->stay_fraction, "Fraction below which an event ends (default: 0.01)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-event", o->min_event_s, "Shortest event kept, seconds (default: 0.25)")->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--merge-gap", o->merge_gap_s, "Events closer than this many seconds merge (default: 0.5)")->check(CLI::Range(0.0, 3600.0));
  cmd->add_option("--frames-per-caption", o->frames_per_caption, "Frames shown to the model per event (default: 3)")->check(CLI::Range(1, 16));
  cmd->add_option("--max-pending", o->max_pending, "Events waiting for a caption before new ones are stored uncaptioned (default: 32)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--clips", o->clips, "Folder for event clips (MP4, stream copy from the keyframe before the event)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--on-event", o->on_event, "Shell command run once per event, with the event JSON on its stdin");
  cmd->add_option("--webhook", o->webhook, "URL that gets each event JSON by HTTP POST");
  cmd->add_option("--decode-threads", o->decode_threads, "Decoder threads per camera (default: 1)")->check(CLI::Range(1, 64));
  add_model_options(*cmd, o->model, std::to_string(kEventMaxNewTokens) + " per event caption");
  cmd->callback([o] { run_watch_command(*o); });
});

}  // namespace
}  // namespace smolvid::cli
