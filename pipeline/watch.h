// pipeline/watch.h: the job behind `smolvid watch`: live cameras indexed continuously into the
// same SQLite database as `smolvid index` (pipeline/index.h), so `smolvid search` works on live
// and archived events alike, while watch is writing.
//
// Usage:
//   WatchOptions o;
//   o.cameras = {CameraConfig{"door", "rtsp://127.0.0.1:8554/door"}};
//   o.db_path = "cams.sqlite";
//   std::atomic<bool> stop{false};                          // set from SIGINT/SIGTERM
//   WatchCallbacks cb;
//   cb.on_event = [](const nlohmann::json& e) { std::cout << e.dump() << '\n'; };
//   WatchResult r = run_watch(vlm.get(), o, stop, cb);      // vlm may be null: captions off
//
// Threads: one per camera (decode/live_source.h: connect, reconnect, decode; sampler's
// MotionTracker on analysis frames), one caption worker that owns the only model, one notifier for
// the hooks. Decoding never waits for the model: a closed event is stored at once with caption
// status 'pending' and queued (bounded by max_pending_captions; beyond that it is stored as
// 'skipped'), then captioned in order and updated. Memory is bounded: each camera keeps a ring of
// packets (clips) and at most max_caption_candidates pictures of its open event.
// Events: an event opens when motion starts, and closes when motion has stayed below the stay
// threshold for merge_gap_s, when the connection drops (at the last frame seen), or at shutdown.
// When it closes it is written to the database, handed to on_event (one JSON object), and, once
// its caption is computed (or failed, skipped, or still pending at shutdown), sent to the hooks:
// --on-event CMD (the JSON on the command's stdin) and --webhook URL (HTTP POST, libcurl), once
// each. Gaps (from the last frame before a loss to the first frame after the reconnect) go to the
// gaps table with their cause.
// Shutdown (stop set): open events close at the last frame seen, the caption being computed
// finishes, queued ones stay 'pending', hooks are delivered, and run_watch returns.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "decode/live_source.h"
#include "pipeline/jobs.h"
#include "pipeline/vlm.h"
#include "sampler/motion_tracker.h"

namespace smolvid::pipeline {

class WatchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CameraConfig {
  std::string name;                      // stored as the events' camera
  std::string url;                       // rtsp://, http(s)://, or a file
  std::string rtsp_transport;            // "" = WatchOptions::source.rtsp_transport
  sampler::MotionOptions motion = IndexOptions{}.motion;  // thresholds, min_event_s, merge_gap_s
  int frames_per_caption = IndexOptions{}.frames_per_event;
  sampler::IgnoreMask ignore_mask;       // polygons (fractions of the frame) left out of the analysis
};

struct WatchOptions {
  std::vector<CameraConfig> cameras;
  std::string db_path;
  decode::LiveSourceOptions source;      // reconnect, stall, analysis rate and sizes, pacing
  sampler::AnalysisOptions analysis = IndexOptions{}.analysis;
  std::string prompt = IndexOptions{}.prompt;
  GenerationOptions generation = IndexOptions{}.generation;
  int thumbnail_side = IndexOptions{}.thumbnail_side;  // 0 = no thumbnail
  size_t max_pending_captions = 32;      // events waiting for the model (>= 1)
  int max_caption_candidates = 24;       // pictures kept per open event (thinned evenly)
  std::string clips_dir;                 // "" = no clips; else <dir>/<camera>/<start>_<id>.mp4
  std::string on_event_command;          // "" = none; run with /bin/sh -c, JSON on stdin
  std::string webhook_url;               // "" = none
  double webhook_timeout_s = 10.0;
  std::string run_id;                    // unique per run (default: start time + pid)
};

struct CameraStats {
  std::string name;
  int64_t analysis_frames = 0;
  int sessions = 0;                      // connections that came up
  int disconnects = 0;
  int64_t events = 0;
  int64_t dropped_events = 0;            // opened but shorter than min_event_s
  double stream_s = 0.0;                 // camera time covered (gaps included)
  double busy_s = 0.0;                   // wall time the camera thread ran
  std::vector<double> reconnect_s;       // duration of each gap (last frame -> first frame)
  std::string error;                     // a camera that could not run at all
};

struct WatchResult {
  std::vector<CameraStats> cameras;
  int64_t captions_done = 0, captions_failed = 0, captions_skipped = 0, captions_pending = 0;
  size_t max_caption_backlog = 0;
  double caption_busy_s = 0.0;           // wall time the model spent on captions
  int64_t hooks_failed = 0;
  double wall_s = 0.0;
};

struct WatchCallbacks {
  std::function<void(const nlohmann::json& event)> on_event;  // at close (caption pending)
  std::function<void(const std::string& line)> on_log;        // one line per happening
};

// Throws WatchError for bad options (no cameras, duplicate names, a missing clips folder) and
// IndexError for a database that cannot be opened; camera problems are logged, not thrown.
// `vlm` null: captions off (status 'off').
WatchResult run_watch(Vlm* vlm, const WatchOptions& options, const std::atomic<bool>& stop, const WatchCallbacks& callbacks);

// cameras.json: {"cameras": [{"name": "door", "url": "rtsp://...", "rtsp_transport": "udp",
//   "start_fraction": 0.02, "stay_fraction": 0.01, "min_event_s": 0.25, "merge_gap_s": 0.5,
//   "frames_per_caption": 3, "ignore_mask": [[[0, 0], [0.3, 0], [0.3, 0.2]]]}]}
// Omitted keys take the values of `defaults`. Throws WatchError naming the file and the key.
std::vector<CameraConfig> load_cameras_json(const std::string& path, const CameraConfig& defaults);

// "NAME=URL" -> {NAME, URL}; a plain URL gets a name from its last path part (without extension),
// else "camN" (N = position, from 1).
CameraConfig camera_from_argument(const std::string& argument, size_t position, const CameraConfig& defaults);

}  // namespace smolvid::pipeline
