// pipeline/index.h: the event index behind `smolvid index` and `smolvid search`: one SQLite file
// (no server) holding, per indexed video, the events found by the motion policy with their
// captions and thumbnails, searchable through FTS5 with bm25 ranking.
//
// Usage:
//   smolvid::pipeline::EventIndex db("cams.sqlite");              // creates the schema if needed
//   smolvid::pipeline::EventIndex ro("cams.sqlite", EventIndex::Access::kReadOnly);  // search
//   smolvid::pipeline::IndexedFile f{"lobby-0900.mp4", "lobby", sha256_file(path),
//                                    options_hash(opts, model), 3600.0, start_unix_s, model, opts};
//   if (auto writer = db.begin_file(f)) {                         // nullptr: already indexed
//     writer->add_event({12.0, 19.5, "A man in a red coat enters.", jpeg, 14.0});
//     writer->commit();                                           // one transaction per file
//   }
//   auto hits = db.search({"red coat", "lobby"});                 // best first
//   smolvid::pipeline::write_search_html(hits, query, std::cout);
//
// Schema (PRAGMA user_version = 2; version 1 = the first three tables without the v2 columns):
//   files(id, path, camera, content_hash, options_hash, duration_s, start_wallclock, model,
//         options_json, indexed_at; UNIQUE(content_hash, options_hash))
//   events(id, file_id -> files ON DELETE CASCADE, camera, start_s, end_s, wall_start, wall_end,
//          caption, thumbnail BLOB (JPEG), thumbnail_time_s)
//   events_fts: FTS5 external-content table over events.caption (porter + unicode61 tokenizer),
//               kept in sync by triggers
// Schema version 2 (smolvid watch; databases of version 1 are migrated in place when opened):
//   files.source_kind     'file' (smolvid index) | 'live' (one row per camera per `smolvid watch`
//                         run: path = the camera URL without credentials, content_hash =
//                         "live:<camera>:<run start>", duration_s = stream time covered so far)
//   events.caption_status 'done' | 'pending' (stored at close, caption not computed yet) |
//                         'failed' (the model threw) | 'skipped' (caption backlog full) |
//                         'off' (watch --no-captions); caption is '' unless 'done'
//   events.time_source    where wall_start/wall_end come from: 'file' (the file's start time,
//                         smolvid index) | 'rtcp' (RTCP sender reports: FFmpeg's
//                         start_time_realtime) | 'receive' (the receive clock of this machine)
//   events.clip_path      watch --clips: the event's MP4 (stream copy), else NULL
//   gaps(id, file_id -> files ON DELETE CASCADE, camera, start_s, end_s, wall_start, wall_end,
//        cause): stretches of a live camera with no video (disconnect, stall, server restart);
//        start = last frame before the loss, end = first frame after the reconnect
// Live writes (add_live_event, set_caption, add_gap) are one short transaction each, so readers
// (search, serve) see an event as soon as it closes.
// Consistency: a file and all its events are written in one transaction (WAL journal); a crash
// before commit() leaves no trace of the file, so indexing it again redoes it. Indexing content
// already present with the same options hash is a no-op (begin_file returns nullptr).
// Times: start_s/end_s are seconds on the video's timeline; wall-clock values are Unix seconds
// (UTC), known when the file's start time is known (start_wallclock = wall-clock of video time 0).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

struct sqlite3;

namespace smolvid::pipeline {

class IndexError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct IndexedFile {
  std::string path;                        // as given
  std::string camera;                      // --camera; default: the file name's stem
  std::string content_hash;                // sha256_file(path)
  std::string options_hash;                // options_hash(options, model)
  double duration_s = 0.0;
  std::optional<double> start_wallclock;   // Unix seconds at video time 0, when known
  std::string model;
  nlohmann::json options = nlohmann::json::object();
};

struct Event {
  double start_s = 0.0;                    // video time
  double end_s = 0.0;                      // >= start_s
  std::string caption;
  std::vector<uint8_t> thumbnail_jpeg;     // may be empty
  double thumbnail_time_s = 0.0;
};

struct EventHit {
  int64_t event_id = 0;
  std::string camera;
  std::string file;
  double start_s = 0.0, end_s = 0.0;
  std::optional<double> wall_start, wall_end;  // Unix seconds
  std::string caption;
  std::vector<uint8_t> thumbnail_jpeg;
  double thumbnail_time_s = 0.0;
  double score = 0.0;                      // bm25 (lower = better); 0 without query text
};

// A live camera's stream in the index (smolvid watch): a `files` row with source_kind 'live'.
struct LiveStream {
  std::string url;                         // stored as the path; pass it without credentials
  std::string camera;
  std::string run_id;                      // unique per watch run, e.g. its start time + pid
  std::optional<double> start_wallclock;   // Unix seconds at stream time 0
  std::string model;                       // "" when captions are off
  nlohmann::json options = nlohmann::json::object();
};

// An event of a live camera, with its wall-clock times given explicitly (each session of a
// reconnecting camera has its own clock mapping).
struct LiveEvent {
  int64_t stream_id = 0;                   // from begin_live_stream
  double start_s = 0.0, end_s = 0.0;       // camera stream time (continuous across reconnects)
  std::optional<double> wall_start, wall_end;
  std::string time_source;                 // "rtcp" | "receive"
  std::string caption;                     // "" until set_caption
  std::string caption_status = "pending";  // see the schema above
  std::vector<uint8_t> thumbnail_jpeg;
  double thumbnail_time_s = 0.0;
  std::optional<std::string> clip_path;
};

struct StreamGap {
  int64_t stream_id = 0;
  std::string camera;                      // filled by gaps()
  double start_s = 0.0, end_s = 0.0;       // camera stream time
  std::optional<double> wall_start, wall_end;
  std::string cause;                       // e.g. "stalled: no packet for 10 s", "end of stream"
};

struct SearchQuery {
  std::string text;                        // words; empty = every event (filters still apply)
  std::optional<std::string> camera;       // exact camera name
  // Events overlapping [from, to]: wall-clock bounds (Unix seconds) skip events whose wall time
  // is unknown; video-time bounds compare start_s/end_s.
  std::optional<double> from_wall, to_wall;
  std::optional<double> from_video, to_video;
  bool match_all_words = false;            // false: any word matches, bm25 ranks more matches first
  int limit = 20;                          // >= 1
};

// A --from/--to value: "2024-05-01T10:00[:SS][Z|+HH:MM]" or "2024-05-01" is wall-clock (no zone
// = UTC); "90", "12.5s", "01:30" or "1:02:03" is video time in seconds.
struct TimeBound {
  bool wall = false;
  double seconds = 0.0;
};
TimeBound parse_time_bound(const std::string& text);
// "2024-05-01T10:00:00Z" (whole seconds, UTC).
std::string format_wallclock(double unix_seconds);
// ISO 8601 date-time as above -> Unix seconds; nullopt when text is not a date.
std::optional<double> parse_wallclock(const std::string& text);

// SHA-256 of the canonical JSON of {options, model}: what makes two index runs comparable.
std::string options_hash(const nlohmann::json& options, const std::string& model);

// The FTS5 MATCH expression for free text: each word quoted (so no FTS syntax is interpreted),
// joined with OR (or AND). Throws IndexError when the text has no word characters.
std::string fts_query(const std::string& text, bool match_all_words);

class EventIndex {
 public:
  enum class Access {
    kCreate,    // read and write (index): a missing file or an empty database gets the schema
    kReadOnly,  // read only (search): never writes the file, which must already be a smolvid index
                // (SQLite's readers of a WAL file keep its -wal/-shm beside it, as every reader does)
  };
  // Opens the database (with kCreate, creating the file and its schema when needed). Throws
  // IndexError naming the file when it is not a smolvid index: not SQLite, an empty file (read
  // only), another application's database (it is never changed), another schema version; or when
  // SQLite lacks FTS5.
  explicit EventIndex(const std::string& path, Access access = Access::kCreate);
  ~EventIndex();
  EventIndex(const EventIndex&) = delete;
  EventIndex& operator=(const EventIndex&) = delete;

  // One file's events, written in one transaction. Destroying it without commit() rolls back.
  class FileWriter {
   public:
    ~FileWriter();
    FileWriter(const FileWriter&) = delete;
    FileWriter& operator=(const FileWriter&) = delete;
    void add_event(const Event& event);  // throws IndexError for bad times
    void commit();
    size_t events() const { return events_; }

   private:
    friend class EventIndex;
    FileWriter(EventIndex& index, const IndexedFile& file);
    EventIndex& index_;
    int64_t file_id_ = 0;
    std::string camera_;
    std::optional<double> start_wallclock_;
    size_t events_ = 0;
    bool open_ = false;
  };

  bool is_indexed(const std::string& content_hash, const std::string& options_hash) const;
  // nullptr when (content_hash, options_hash) is already indexed.
  std::unique_ptr<FileWriter> begin_file(const IndexedFile& file);
  // Convenience: begin_file + add_event for each + commit. Returns false when already indexed.
  bool add_file(const IndexedFile& file, const std::vector<Event>& events);

  std::vector<EventHit> search(const SearchQuery& query) const;

  // Live cameras (smolvid watch). Each call is its own transaction; IndexError while a
  // FileWriter is open on this object.
  int64_t begin_live_stream(const LiveStream& stream);
  void set_stream_extent(int64_t stream_id, double duration_s, const std::optional<double>& start_wallclock);
  int64_t add_live_event(const LiveEvent& event);     // returns the event id
  void set_caption(int64_t event_id, const std::string& caption, const std::string& status);
  void add_gap(const StreamGap& gap);
  std::vector<StreamGap> gaps(const std::optional<std::string>& camera = std::nullopt) const;

  struct Counts {
    int64_t files = 0;
    int64_t events = 0;
  };
  Counts counts() const;
  const std::string& path() const { return path_; }

  // For a run that failed: when this object created the file and no video was indexed into it,
  // removes the file (and its -wal/-shm), so a failed first run leaves no empty index behind.
  // Closes the database either way (the object is unusable afterwards). Returns true when the
  // file was removed. A file that existed before is never removed.
  bool discard_if_unused();

 private:
  void exec(const char* sql) const;
  int64_t user_version() const;
  int64_t table_count(const char* where) const;
  void create_or_check_schema(Access access);
  void require_no_file_writer(const std::string& what) const;  // live writes outside a FileWriter only
  std::string path_;
  sqlite3* db_ = nullptr;
  bool writing_ = false;
  bool created_file_ = false;
};

// Search results as JSON ({"query", "results": [...]}) or as a self-contained HTML page with the
// thumbnails embedded. include_thumbnails adds "thumbnail" data URIs to the JSON.
nlohmann::json search_to_json(const std::vector<EventHit>& hits, const SearchQuery& query, bool include_thumbnails = false);
void write_search_json(const std::vector<EventHit>& hits, const SearchQuery& query, std::ostream& out,
                       bool include_thumbnails = false);
void write_search_html(const std::vector<EventHit>& hits, const SearchQuery& query, std::ostream& out);

}  // namespace smolvid::pipeline
