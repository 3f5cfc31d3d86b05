#include "pipeline/watch.h"

#include <curl/curl.h>
#include <fmt/core.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "pipeline/index.h"
#include "pipeline/media_util.h"
#include "sampler/image.h"

namespace smolvid::pipeline {
namespace {

using nlohmann::json;

double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string trim_text(const std::string& s) {
  const auto a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  const auto b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

// "2024-05-01T10-00-03.250Z": a wall-clock time usable in file names.
std::string file_stamp(double unix_s) {
  std::string s = format_wallclock(unix_s);
  std::replace(s.begin(), s.end(), ':', '-');
  const int ms = static_cast<int>(std::lround((unix_s - std::floor(unix_s)) * 1000.0)) % 1000;
  return s.substr(0, s.size() - 1) + fmt::format(".{:03d}Z", ms);
}

// A bounded FIFO shared by producers and one consumer.
template <typename T>
class Queue {
 public:
  explicit Queue(size_t capacity) : capacity_(capacity) {}
  bool try_push(T item) {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_ || items_.size() >= capacity_) return false;
    items_.push_back(std::move(item));
    max_depth_ = std::max(max_depth_, items_.size());
    cv_.notify_one();
    return true;
  }
  // Blocks until an item or close(); nullopt once closed and empty.
  std::optional<T> pop() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }
  void close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  size_t max_depth() const {
    std::lock_guard<std::mutex> lock(mu_);
    return max_depth_;
  }

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
  bool closed_ = false;
  size_t max_depth_ = 0;
};

struct CaptionJob {
  int64_t event_id = 0;
  std::vector<decode::Frame> frames;
  double duration_s = 0.0;
  json event;
};

size_t curl_discard(char*, size_t size, size_t n, void*) { return size * n; }

// Everything the threads share.
struct Shared {
  const WatchOptions& o;
  const std::atomic<bool>& stop;
  const WatchCallbacks& cb;
  EventIndex db;
  std::mutex db_mu;
  std::mutex out_mu;  // on_event / on_log
  Queue<CaptionJob> captions;
  Queue<json> hooks;
  std::atomic<int64_t> done{0}, failed{0}, skipped{0}, pending{0}, hooks_failed{0};
  double caption_busy_s = 0.0;  // caption worker only

  Shared(const WatchOptions& opts, const std::atomic<bool>& s, const WatchCallbacks& c)
      : o(opts), stop(s), cb(c), db(opts.db_path), captions(opts.max_pending_captions), hooks(100000) {}

  void log(const std::string& line) {
    std::lock_guard<std::mutex> lock(out_mu);
    if (cb.on_log) cb.on_log(line);
  }
  void emit(const json& e) {
    std::lock_guard<std::mutex> lock(out_mu);
    if (cb.on_event) cb.on_event(e);
  }
  void hook(const json& e) {
    if (o.on_event_command.empty() && o.webhook_url.empty()) return;
    if (!hooks.try_push(e)) log(fmt::format("watch: hooks: queue full, event {} not delivered", e.value("event_id", int64_t{0})));
  }
};

// ---- one camera -----------------------------------------------------------------------------------
class CameraWorker {
 public:
  CameraWorker(Shared& s, const CameraConfig& cam, Vlm* vlm) : s_(s), cam_(cam), captions_on_(vlm != nullptr) {
    stats_.name = cam.name;
    so_ = s.o.source;
    if (!cam.rtsp_transport.empty()) so_.rtsp_transport = cam.rtsp_transport;
  }

  CameraStats run() {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      run_inner();
    } catch (const std::exception& e) {
      stats_.error = e.what();
      s_.log(fmt::format("watch: {}: error: {}", cam_.name, e.what()));
      close_event_on_break();
    }
    stats_.busy_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return stats_;
  }

 private:
  struct Open {
    double start_s = 0.0;
    double start_wall = 0.0;
    std::string time_source;
    std::vector<decode::Frame> candidates;
    int stride = 1, seen = 0;
    std::string clip_path;
  };

  void run_inner() {
    tracker_ = std::make_unique<sampler::MotionTracker>(cam_.motion, s_.o.analysis, cam_.ignore_mask);
    source_ = std::make_unique<decode::LiveSource>(cam_.url, so_);
    {
      LiveStream ls;
      ls.url = decode::LiveSource::redact(cam_.url);
      ls.camera = cam_.name;
      ls.run_id = s_.o.run_id;
      ls.model = captions_on_ ? model_name_ : "";
      ls.options = {{"policy", "motion"},
                    {"start_fraction", cam_.motion.start_fraction},
                    {"stay_fraction", cam_.motion.stay_fraction},
                    {"min_event_s", cam_.motion.min_event_s},
                    {"merge_gap_s", cam_.motion.merge_gap_s},
                    {"analysis_side", so_.analysis_side},
                    {"analysis_fps", so_.analysis_fps},
                    {"motion_pixel_threshold", s_.o.analysis.motion_pixel_threshold},
                    {"background_tau_s", s_.o.analysis.background_tau_s},
                    {"frames_per_caption", cam_.frames_per_caption},
                    {"prompt", s_.o.prompt},
                    {"rtsp_transport", so_.rtsp_transport},
                    {"ignore_mask", cam_.ignore_mask}};
      std::lock_guard<std::mutex> lock(s_.db_mu);
      stream_id_ = s_.db.begin_live_stream(ls);
    }
    decode::LiveSource::Callbacks cb;
    cb.on_connected = [&](const decode::SessionInfo& info) {
      ++stats_.sessions;
      s_.log(fmt::format("watch: {}: connected{}: {} {}x{}{}", cam_.name, info.session > 1 ? fmt::format(" (session {})", info.session) : "",
                         info.codec, info.width, info.height, info.fps > 0 ? fmt::format(" {:.3g} fps", info.fps) : ""));
    };
    cb.on_frame = [&](const decode::LiveFrame& f) {
      on_frame(f);
      return true;
    };
    cb.on_disconnected = [&](const decode::Disconnect& d) {
      ++stats_.disconnects;
      close_event_on_break();
      if (have_frame_ && !gap_open_) {
        gap_open_ = true;
        gap_cause_ = d.cause;
      }
      // d.cause says what failed ("cannot connect: ...", "stalled: ...", "end of stream").
      s_.log(fmt::format("watch: {}: {}{}; reconnecting in {:g} s", cam_.name, d.session > 0 ? "disconnected: " : "", d.cause, d.retry_in_s));
    };
    source_->run(s_.stop, cb);
    close_event_on_break();
    if (gap_open_) {
      // Stopped while the camera was away: the gap lasts until now.
      const double now = wall_now();
      write_gap(last_stream_s_ + std::max(0.0, now - last_wall_), now, gap_cause_ + " (watch stopped before the camera came back)");
    }
    update_extent();
    if (!s_.stop.load() && decode::LiveSource::is_file_input(cam_.url)) s_.log(fmt::format("watch: {}: end of file", cam_.name));
  }

  void on_frame(const decode::LiveFrame& f) {
    ++stats_.analysis_frames;
    if (!have_frame_) {
      std::lock_guard<std::mutex> lock(s_.db_mu);
      s_.db.set_stream_extent(stream_id_, 0.0, f.wall_s - f.stream_s);
    }
    if (gap_open_) {
      gap_open_ = false;
      stats_.reconnect_s.push_back(f.stream_s - last_stream_s_);
      s_.log(fmt::format("watch: {}: back after a {:.1f} s gap", cam_.name, f.stream_s - last_stream_s_));
      write_gap(f.stream_s, f.wall_s, gap_cause_);
    }
    have_frame_ = true;
    last_stream_s_ = f.stream_s;
    last_wall_ = f.wall_s;
    last_source_ = f.wall_source;
    stats_.stream_s = f.stream_s;
    for (const auto& u : tracker_->push(f.analysis)) handle(u, &f);
    if (open_) add_candidate(f.picture);
  }

  void add_candidate(const decode::Frame& picture) {
    if (picture.pixels.empty()) return;
    Open& e = *open_;
    if (e.seen++ % e.stride != 0) return;
    e.candidates.push_back(picture);
    if (static_cast<int>(e.candidates.size()) >= std::max(2, s_.o.max_caption_candidates)) {
      std::vector<decode::Frame> kept;
      for (size_t i = 0; i < e.candidates.size(); i += 2) kept.push_back(std::move(e.candidates[i]));
      e.candidates = std::move(kept);
      e.stride *= 2;
    }
  }

  void handle(const sampler::MotionTracker::Update& u, const decode::LiveFrame* f) {
    using U = sampler::MotionTracker::Update;
    if (u.kind == U::kOpened) {
      open_.emplace();
      open_->start_s = u.event.start_s;
      open_->start_wall = f ? f->wall_s : last_wall_;
      open_->time_source = f ? f->wall_source : last_source_;
      if (!s_.o.clips_dir.empty()) {
        const std::string dir = s_.o.clips_dir + "/" + cam_.name;
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        open_->clip_path = fmt::format("{}/{}_{:.3f}.mp4", dir, file_stamp(open_->start_wall), open_->start_s);
        try {
          source_->start_clip(open_->clip_path, open_->start_s);
        } catch (const std::exception& e) {
          s_.log(fmt::format("watch: {}: clip not recorded: {}", cam_.name, e.what()));
          open_->clip_path.clear();
        }
      }
      return;
    }
    if (!open_) return;
    std::optional<std::string> clip;
    if (!open_->clip_path.empty()) {
      try {
        source_->finish_clip();
      } catch (const std::exception& e) {
        s_.log(fmt::format("watch: {}: {}", cam_.name, e.what()));
      }
      if (std::filesystem::exists(open_->clip_path)) clip = open_->clip_path;
    }
    if (u.kind == U::kDropped) {
      ++stats_.dropped_events;
      if (clip) std::filesystem::remove(*clip);
      open_.reset();
      return;
    }
    store(u.event, clip);
    open_.reset();
  }

  // The connection broke or watch stops: the open event ends at the last frame seen.
  void close_event_on_break() {
    if (!tracker_) return;
    for (const auto& u : tracker_->finish()) handle(u, nullptr);
  }

  void store(const sampler::MotionTracker::Event& ev, const std::optional<std::string>& clip) {
    Open& e = *open_;
    LiveEvent le;
    le.stream_id = stream_id_;
    le.start_s = ev.start_s;
    le.end_s = std::max(ev.start_s, ev.end_s);
    le.wall_start = e.start_wall;
    le.wall_end = e.start_wall + (le.end_s - le.start_s);
    le.time_source = e.time_source;
    le.caption_status = captions_on_ ? "pending" : "off";
    le.clip_path = clip;
    // The caption frames: frames_per_caption spread over [start, end), nearest pictures kept.
    std::vector<decode::Frame> chosen;
    std::set<size_t> used;
    const int n = std::max(1, cam_.frames_per_caption);
    for (int k = 0; k < n && !e.candidates.empty(); ++k) {
      const double t = le.start_s + (k + 0.5) * (le.end_s - le.start_s) / n;
      size_t best = 0;
      for (size_t i = 1; i < e.candidates.size(); ++i)
        if (std::fabs(e.candidates[i].pts_seconds - t) < std::fabs(e.candidates[best].pts_seconds - t)) best = i;
      if (used.insert(best).second) chosen.push_back(e.candidates[best]);
    }
    std::sort(chosen.begin(), chosen.end(), [](const decode::Frame& a, const decode::Frame& b) { return a.pts_seconds < b.pts_seconds; });
    if (s_.o.thumbnail_side > 0 && !chosen.empty()) {
      const decode::Frame& mid = chosen[chosen.size() / 2];
      le.thumbnail_jpeg = sampler::encode_jpeg(mid, s_.o.thumbnail_side);
      le.thumbnail_time_s = mid.pts_seconds;
    }
    int64_t id = 0;
    {
      std::lock_guard<std::mutex> lock(s_.db_mu);
      id = s_.db.add_live_event(le);
      s_.db.set_stream_extent(stream_id_, last_stream_s_, std::nullopt);
    }
    ++stats_.events;
    json j = {{"event_id", id},
              {"camera", cam_.name},
              {"url", decode::LiveSource::redact(cam_.url)},
              {"start_s", le.start_s},
              {"end_s", le.end_s},
              {"duration_s", le.end_s - le.start_s},
              {"wall_start", format_wallclock(*le.wall_start)},
              {"wall_end", format_wallclock(*le.wall_end)},
              {"wall_start_unix", *le.wall_start},
              {"wall_end_unix", *le.wall_end},
              {"time_source", le.time_source},
              {"peak_motion", ev.peak},
              {"clip", clip ? json(*clip) : json(nullptr)},
              {"caption", nullptr},
              {"caption_status", le.caption_status},
              {"db", s_.o.db_path}};
    s_.emit(j);
    if (!captions_on_) {
      s_.hook(j);
      return;
    }
    CaptionJob job{id, std::move(chosen), le.end_s - le.start_s, j};
    const bool no_frames = job.frames.empty();
    if (no_frames || !s_.captions.try_push(std::move(job))) {
      j["caption_status"] = "skipped";
      {
        std::lock_guard<std::mutex> lock(s_.db_mu);
        s_.db.set_caption(id, "", "skipped");
      }
      ++s_.skipped;
      s_.log(no_frames ? fmt::format("watch: {}: event {} not captioned: no picture decoded in it", cam_.name, id)
                       : fmt::format("watch: {}: event {} not captioned: caption backlog full ({} events waiting)", cam_.name, id,
                                     s_.o.max_pending_captions));
      s_.hook(j);
    }
  }

  void write_gap(double end_s, double end_wall, const std::string& cause) {
    StreamGap g;
    g.stream_id = stream_id_;
    g.start_s = last_stream_s_;
    g.end_s = std::max(last_stream_s_, end_s);
    g.wall_start = last_wall_;
    g.wall_end = end_wall;
    g.cause = cause;
    std::lock_guard<std::mutex> lock(s_.db_mu);
    s_.db.add_gap(g);
  }

  void update_extent() {
    if (!have_frame_) return;
    std::lock_guard<std::mutex> lock(s_.db_mu);
    s_.db.set_stream_extent(stream_id_, last_stream_s_, std::nullopt);
  }

 public:
  std::string model_name_;

 private:
  Shared& s_;
  CameraConfig cam_;
  bool captions_on_;
  decode::LiveSourceOptions so_;
  CameraStats stats_;
  std::unique_ptr<sampler::MotionTracker> tracker_;
  std::unique_ptr<decode::LiveSource> source_;
  int64_t stream_id_ = 0;
  std::optional<Open> open_;
  bool have_frame_ = false;
  double last_stream_s_ = 0.0, last_wall_ = 0.0;
  std::string last_source_ = "receive";
  bool gap_open_ = false;
  std::string gap_cause_;
};

// ---- the caption worker and the hooks ------------------------------------------------------------
void caption_worker(Shared& s, Vlm& vlm) {
  while (auto job = s.captions.pop()) {
    json& j = job->event;
    if (s.stop.load()) {
      // Shutting down: what is queued stays pending in the database.
      ++s.pending;
      s.hook(j);
      continue;
    }
    std::string caption, status = "done";
    const auto t0 = std::chrono::steady_clock::now();
    try {
      caption = trim_text(vlm.generate_one(VisualInput{MediaKind::kVideo, std::move(job->frames), job->duration_s}, s.o.prompt,
                                           s.o.generation)
                              .text);
      ++s.done;
    } catch (const std::exception& e) {
      status = "failed";
      ++s.failed;
      s.log(fmt::format("watch: {}: caption of event {} failed: {}", j["camera"].get<std::string>(), job->event_id, e.what()));
    }
    s.caption_busy_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    {
      std::lock_guard<std::mutex> lock(s.db_mu);
      s.db.set_caption(job->event_id, caption, status);
    }
    j["caption"] = status == "done" ? json(caption) : json(nullptr);
    j["caption_status"] = status;
    s.hook(j);
  }
}

bool post_webhook(const std::string& url, const std::string& body, double timeout_s, std::string* error) {
  CURL* curl = curl_easy_init();
  if (!curl) {
    *error = "curl_easy_init failed";
    return false;
  }
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_s * 1000));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &curl_discard);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    *error = curl_easy_strerror(rc);
    return false;
  }
  if (status < 200 || status >= 300) {
    *error = fmt::format("HTTP {}", status);
    return false;
  }
  return true;
}

bool run_command_with_stdin(const std::string& command, const std::string& input, std::string* error) {
  FILE* p = popen(command.c_str(), "w");
  if (!p) {
    *error = "cannot start /bin/sh";
    return false;
  }
  fwrite(input.data(), 1, input.size(), p);
  const int status = pclose(p);
  if (status != 0) {
    *error = WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status)) : "killed by a signal";
    return false;
  }
  return true;
}

void hook_worker(Shared& s) {
  while (auto e = s.hooks.pop()) {
    const std::string body = e->dump() + "\n";
    const int64_t id = e->value("event_id", int64_t{0});
    std::string err;
    if (!s.o.on_event_command.empty() && !run_command_with_stdin(s.o.on_event_command, body, &err)) {
      ++s.hooks_failed;
      s.log(fmt::format("watch: --on-event for event {}: {}", id, err));
    }
    if (!s.o.webhook_url.empty() && !post_webhook(s.o.webhook_url, body, s.o.webhook_timeout_s, &err)) {
      ++s.hooks_failed;
      s.log(fmt::format("watch: --webhook {} for event {}: {}", s.o.webhook_url, id, err));
    }
  }
}

double number_or(const json& j, const char* key, double fallback, const std::string& where) {
  if (!j.contains(key)) return fallback;
  if (!j[key].is_number()) throw WatchError(fmt::format("{}: \"{}\" must be a number, got {}", where, key, j[key].dump()));
  return j[key].get<double>();
}

}  // namespace

CameraConfig camera_from_argument(const std::string& arg, size_t position, const CameraConfig& defaults) {
  CameraConfig c = defaults;
  const auto eq = arg.find('=');
  const auto scheme = arg.find("://");
  if (eq != std::string::npos && eq > 0 && (scheme == std::string::npos || eq < scheme) && arg.find('/') > eq) {
    c.name = arg.substr(0, eq);
    c.url = arg.substr(eq + 1);
  } else {
    c.url = arg;
    std::string tail = arg;
    if (const auto q = tail.find('?'); q != std::string::npos) tail = tail.substr(0, q);
    while (!tail.empty() && tail.back() == '/') tail.pop_back();
    const auto slash = tail.find_last_of('/');
    const auto colon = tail.find("://");
    std::string stem = (slash != std::string::npos && (colon == std::string::npos || slash > colon + 2)) ? tail.substr(slash + 1) : "";
    if (const auto dot = stem.find_last_of('.'); dot != std::string::npos && dot > 0) stem = stem.substr(0, dot);
    c.name = stem.empty() ? fmt::format("cam{}", position) : stem;
  }
  if (c.url.empty()) throw WatchError(fmt::format("camera '{}': empty URL (expected NAME=URL or URL)", arg));
  return c;
}

std::vector<CameraConfig> load_cameras_json(const std::string& path, const CameraConfig& defaults) {
  std::ifstream in(path);
  if (!in) throw WatchError(fmt::format("{}: cannot read the camera list", path));
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {
    throw WatchError(fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
  if (!j.is_object() || !j.contains("cameras") || !j["cameras"].is_array())
    throw WatchError(fmt::format("{}: expected {{\"cameras\": [{{\"name\": ..., \"url\": ...}}, ...]}}", path));
  static const std::set<std::string> kKeys = {"name", "url", "rtsp_transport", "start_fraction", "stay_fraction", "min_event_s",
                                              "merge_gap_s", "frames_per_caption", "ignore_mask"};
  std::vector<CameraConfig> out;
  size_t i = 0;
  for (const json& c : j["cameras"]) {
    ++i;
    const std::string where = fmt::format("{}: camera {}", path, i);
    if (!c.is_object()) throw WatchError(where + ": expected an object");
    for (const auto& [key, value] : c.items())
      if (!kKeys.count(key)) throw WatchError(fmt::format("{}: unknown key \"{}\"", where, key));
    if (!c.contains("url") || !c["url"].is_string()) throw WatchError(where + ": \"url\" (a string) is required");
    CameraConfig cc = camera_from_argument(c["url"].get<std::string>(), i, defaults);
    cc.url = c["url"].get<std::string>();
    if (c.contains("name")) {
      if (!c["name"].is_string() || c["name"].get<std::string>().empty()) throw WatchError(where + ": \"name\" must be a non-empty string");
      cc.name = c["name"].get<std::string>();
    }
    if (c.contains("rtsp_transport")) {
      const std::string t = c["rtsp_transport"].is_string() ? c["rtsp_transport"].get<std::string>() : "";
      if (t != "tcp" && t != "udp") throw WatchError(where + ": \"rtsp_transport\" must be \"tcp\" or \"udp\"");
      cc.rtsp_transport = t;
    }
    cc.motion.start_fraction = number_or(c, "start_fraction", cc.motion.start_fraction, where);
    cc.motion.stay_fraction = number_or(c, "stay_fraction", cc.motion.stay_fraction, where);
    cc.motion.min_event_s = number_or(c, "min_event_s", cc.motion.min_event_s, where);
    cc.motion.merge_gap_s = number_or(c, "merge_gap_s", cc.motion.merge_gap_s, where);
    cc.frames_per_caption = static_cast<int>(number_or(c, "frames_per_caption", cc.frames_per_caption, where));
    if (cc.frames_per_caption < 1 || cc.frames_per_caption > 16) throw WatchError(where + ": \"frames_per_caption\" must be in [1, 16]");
    if (c.contains("ignore_mask")) {
      try {
        cc.ignore_mask = c["ignore_mask"].get<sampler::IgnoreMask>();
      } catch (const json::exception&) {
        throw WatchError(where + ": \"ignore_mask\" must be a list of polygons, each a list of [x, y] pairs (fractions of the frame)");
      }
    }
    out.push_back(std::move(cc));
  }
  if (out.empty()) throw WatchError(fmt::format("{}: the camera list is empty", path));
  return out;
}

WatchResult run_watch(Vlm* vlm, const WatchOptions& options, const std::atomic<bool>& stop, const WatchCallbacks& callbacks) {
  if (options.cameras.empty()) throw WatchError("watch: no camera given");
  std::set<std::string> names;
  for (const CameraConfig& c : options.cameras) {
    if (c.name.empty()) throw WatchError(fmt::format("watch: camera {} has no name", c.url));
    if (!names.insert(c.name).second) throw WatchError(fmt::format("watch: camera name '{}' is used twice", c.name));
    // Options are checked here, before anything connects: a typo fails at once.
    sampler::MotionTracker check(c.motion, options.analysis, c.ignore_mask);
  }
  if (options.max_pending_captions < 1) throw WatchError("watch: max_pending_captions must be >= 1");
  if (!options.clips_dir.empty() && !std::filesystem::is_directory(options.clips_dir))
    throw WatchError(fmt::format("watch: --clips {}: no such folder", options.clips_dir));
  WatchOptions o = options;
  if (o.run_id.empty()) o.run_id = fmt::format("{}-{}", file_stamp(wall_now()), ::getpid());
  const auto t0 = std::chrono::steady_clock::now();
  Shared s(o, stop, callbacks);
  std::thread hooks([&] { hook_worker(s); });
  std::thread worker;
  if (vlm) worker = std::thread([&] { caption_worker(s, *vlm); });

  WatchResult result;
  result.cameras.resize(o.cameras.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < o.cameras.size(); ++i) {
    threads.emplace_back([&, i] {
      CameraWorker w(s, o.cameras[i], vlm);
      if (vlm) w.model_name_ = vlm->model_name();
      result.cameras[i] = w.run();
    });
  }
  for (auto& t : threads) t.join();
  s.captions.close();
  if (worker.joinable()) worker.join();
  s.hooks.close();
  hooks.join();
  result.captions_done = s.done;
  result.captions_failed = s.failed;
  result.captions_skipped = s.skipped;
  result.captions_pending = s.pending;
  result.max_caption_backlog = s.captions.max_depth();
  result.caption_busy_s = s.caption_busy_s;
  result.hooks_failed = s.hooks_failed;
  result.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace smolvid::pipeline
