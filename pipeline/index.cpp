#include "pipeline/index.h"

#include <fmt/core.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <ostream>
#include <regex>

#include "pipeline/batch.h"
#include "pipeline/hashing.h"
#include "pipeline/media_util.h"
#include "pipeline/version.h"
#include "util/duration.h"
#include "util/time_format.h"

namespace smolvid::pipeline {
namespace {

constexpr int kSchemaVersion = 2;

constexpr const char* kSchema = R"sql(
CREATE TABLE files(
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL,
  camera TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  options_hash TEXT NOT NULL,
  duration_s REAL NOT NULL,
  start_wallclock REAL,
  model TEXT NOT NULL,
  options_json TEXT NOT NULL,
  indexed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
  UNIQUE(content_hash, options_hash));
CREATE TABLE events(
  id INTEGER PRIMARY KEY,
  file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
  camera TEXT NOT NULL,
  start_s REAL NOT NULL,
  end_s REAL NOT NULL CHECK (end_s >= start_s),
  wall_start REAL,
  wall_end REAL,
  caption TEXT NOT NULL,
  thumbnail BLOB,
  thumbnail_time_s REAL);
CREATE INDEX events_by_file ON events(file_id);
CREATE INDEX events_by_camera_time ON events(camera, wall_start);
CREATE VIRTUAL TABLE events_fts USING fts5(caption, content='events', content_rowid='id',
                                           tokenize='porter unicode61');
CREATE TRIGGER events_fts_insert AFTER INSERT ON events BEGIN
  INSERT INTO events_fts(rowid, caption) VALUES (new.id, new.caption);
END;
CREATE TRIGGER events_fts_delete AFTER DELETE ON events BEGIN
  INSERT INTO events_fts(events_fts, rowid, caption) VALUES ('delete', old.id, old.caption);
END;
CREATE TRIGGER events_fts_update AFTER UPDATE OF caption ON events BEGIN
  INSERT INTO events_fts(events_fts, rowid, caption) VALUES ('delete', old.id, old.caption);
  INSERT INTO events_fts(rowid, caption) VALUES (new.id, new.caption);
END;
)sql";

// Schema changes, in order: kMigrations[v - 1] takes a version-v database to version v + 1. A new
// database gets kSchema (version 1) and then every migration, so both paths give the same tables.
constexpr const char* kMigrations[] = {
    // 1 -> 2: live cameras (smolvid watch)
    R"sql(
ALTER TABLE files ADD COLUMN source_kind TEXT NOT NULL DEFAULT 'file';
ALTER TABLE events ADD COLUMN caption_status TEXT NOT NULL DEFAULT 'done';
ALTER TABLE events ADD COLUMN time_source TEXT NOT NULL DEFAULT 'file';
ALTER TABLE events ADD COLUMN clip_path TEXT;
CREATE TABLE gaps(
  id INTEGER PRIMARY KEY,
  file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
  camera TEXT NOT NULL,
  start_s REAL NOT NULL,
  end_s REAL NOT NULL CHECK (end_s >= start_s),
  wall_start REAL,
  wall_end REAL,
  cause TEXT NOT NULL);
CREATE INDEX gaps_by_camera_time ON gaps(camera, wall_start);
)sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion - 1, "one migration per schema version step");

// A prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& path, const char* sql) : db_(db), path_(path) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      throw IndexError(fmt::format("{}: cannot prepare SQL: {}", path, sqlite3_errmsg(db)));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void bind(int i, const std::string& v) { check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT)); }
  void bind(int i, double v) { check(sqlite3_bind_double(stmt_, i, v)); }
  void bind(int i, int64_t v) { check(sqlite3_bind_int64(stmt_, i, v)); }
  void bind_null(int i) { check(sqlite3_bind_null(stmt_, i)); }
  void bind(int i, const std::optional<double>& v) { v ? bind(i, *v) : bind_null(i); }
  void bind(int i, const std::optional<std::string>& v) { v ? bind(i, *v) : bind_null(i); }
  void bind_blob(int i, const std::vector<uint8_t>& v) {
    if (v.empty()) return bind_null(i);
    check(sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  // true while rows come back.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw IndexError(fmt::format("{}: {}", path_, sqlite3_errmsg(db_)));
  }
  int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::optional<double> opt_real(int col) const { return is_null(col) ? std::nullopt : std::optional<double>(real(col)); }
  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, sqlite3_column_bytes(stmt_, col)) : std::string();
  }
  std::vector<uint8_t> blob(int col) const {
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
    return p ? std::vector<uint8_t>(p, p + sqlite3_column_bytes(stmt_, col)) : std::vector<uint8_t>();
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) throw IndexError(fmt::format("{}: cannot bind a value: {}", path_, sqlite3_errmsg(db_)));
  }
  sqlite3* db_;
  const std::string& path_;
  sqlite3_stmt* stmt_ = nullptr;
};

// The database and the files SQLite keeps beside it.
void remove_database_files(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + suffix, ec);
}

// An event's times on its video or camera timeline: finite, 0 <= start <= end.
bool valid_span(double start_s, double end_s) {
  return std::isfinite(start_s) && std::isfinite(end_s) && start_s >= 0 && end_s >= start_s;
}

}  // namespace

std::optional<double> parse_wallclock(const std::string& text) {
  if (text.size() > 64) return std::nullopt;  // no date is this long; std::regex recurses per character
  static const std::regex kIso(
      R"(^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$)");
  std::smatch m;
  if (!std::regex_match(text, m, kIso)) return std::nullopt;
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = m[4].matched ? std::stoi(m[4]) : 0;
  tm.tm_min = m[5].matched ? std::stoi(m[5]) : 0;
  tm.tm_sec = m[6].matched ? std::stoi(m[6]) : 0;
  const int year = tm.tm_year + 1900;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  // timegm would quietly turn February 30 into March 2.
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > kDays[tm.tm_mon] + (tm.tm_mon == 1 && leap) ||
      tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    throw IndexError(fmt::format("date-time '{}' has a field out of range", text));
  }
  double t = static_cast<double>(timegm(&tm));
  if (m[7].matched) t += std::strtod(("0" + m[7].str()).c_str(), nullptr);
  if (m[8].matched && m[8] != "Z") {
    std::string z = m[8];
    z.erase(std::remove(z.begin(), z.end(), ':'), z.end());
    const int sign = z[0] == '-' ? -1 : 1;
    const int offset = std::stoi(z.substr(1, 2)) * 3600 + std::stoi(z.substr(3, 2)) * 60;
    t -= sign * offset;  // local = UTC + offset
  }
  return t;
}

std::string format_wallclock(double unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(std::floor(unix_seconds));
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

TimeBound parse_time_bound(const std::string& text) {
  if (auto wall = parse_wallclock(text)) return {true, *wall};
  try {
    return {false, util::parse_duration(text)};
  } catch (const util::DurationError& e) {
    throw IndexError(fmt::format("time '{}': expected a date-time (2024-05-01T10:00[:SS][Z|+HH:MM]) or a video time "
                                 "(seconds, 1m30s, MM:SS or HH:MM:SS): {}", text, e.what()));
  }
}

std::string options_hash(const nlohmann::json& options, const std::string& model) {
  // nlohmann::json objects keep keys sorted, so dump() is canonical.
  return sha256_hex(nlohmann::json{{"model", model}, {"options", options}}.dump());
}

std::string fts_query(const std::string& text, bool match_all_words) {
  std::vector<std::string> words;
  std::string cur;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c >= 0x80) {
      cur += ch;
    } else if (!cur.empty()) {
      words.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(cur);
  if (words.empty()) throw IndexError(fmt::format("search text '{}' has no words to look for", text));
  std::string q;
  for (const std::string& w : words) {
    if (!q.empty()) q += match_all_words ? " AND " : " OR ";
    q += '"' + w + '"';
  }
  return q;
}

EventIndex::EventIndex(const std::string& path, Access access) : path_(path) {
  std::error_code ec;
  const bool existed = std::filesystem::exists(path, ec);
  const int mode = access == Access::kReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(path.c_str(), &db_, mode | SQLITE_OPEN_FULLMUTEX, nullptr) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw IndexError(fmt::format("cannot open index database {}: {}", path, msg));
  }
  created_file_ = access == Access::kCreate && !existed;
  try {
    sqlite3_busy_timeout(db_, 30000);
    if (!sqlite3_compileoption_used("ENABLE_FTS5")) {
      throw IndexError(fmt::format("{}: this SQLite ({}) was built without FTS5, which search needs", path, sqlite3_libversion()));
    }
    create_or_check_schema(access);
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    if (created_file_) remove_database_files(path);
    throw;
  }
}

int64_t EventIndex::user_version() const {
  // The first read of the file: SQLite reports a file that is not a database here.
  if (sqlite3_exec(db_, "SELECT 1 FROM sqlite_master LIMIT 1", nullptr, nullptr, nullptr) == SQLITE_NOTADB) {
    throw IndexError(fmt::format("{}: not a smolvid index (not an SQLite database)", path_));
  }
  Statement version(db_, path_, "PRAGMA user_version");
  version.step();
  return version.int64(0);
}

int64_t EventIndex::table_count(const char* where) const {
  Statement tables(db_, path_, fmt::format("SELECT count(*) FROM sqlite_master WHERE {}", where).c_str());
  tables.step();
  return tables.int64(0);
}

// The schema is created only in an empty database: another application's database (tables of its
// own, or a user_version that is not ours) is refused untouched, before the journal mode changes.
void EventIndex::create_or_check_schema(Access access) {
  constexpr const char* kOurTables = "type = 'table' AND name IN ('files', 'events', 'events_fts')";
  auto check = [&](int64_t version) {
    if (version >= 1 && version <= kSchemaVersion && table_count(kOurTables) == 3) return;
    std::error_code ec;
    if (version == 0 && table_count("1") == 0) {
      throw IndexError(fmt::format("{}: not a smolvid index ({}; create one with smolvid index --db)", path_,
                                   std::filesystem::file_size(path_, ec) == 0 ? "the file is empty" : "an empty SQLite database"));
    }
    if (version > kSchemaVersion && table_count(kOurTables) == 3) {
      throw IndexError(fmt::format("{}: index schema version {} is not the supported version {}", path_, version, kSchemaVersion));
    }
    throw IndexError(fmt::format("{}: not a smolvid index (an SQLite database without smolvid's tables)", path_));
  };
  const int64_t version = user_version();
  // Read-only: an older version is read as it is (search reads no column a migration added).
  if (access == Access::kReadOnly) return check(version);
  if (version != 0 || table_count("1") != 0) check(version);
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA foreign_keys=ON");
  if (version == kSchemaVersion) return;
  exec("BEGIN IMMEDIATE");  // another process may be creating or migrating the schema right now
  try {
    int64_t v = user_version();  // again, under the write lock
    if (v == 0) {
      if (table_count("1") != 0) check(v);  // throws: somebody else's database
      exec(kSchema);
      v = 1;
    } else {
      check(v);
    }
    for (; v < kSchemaVersion; ++v) exec(kMigrations[v - 1]);
    exec(fmt::format("PRAGMA user_version = {}", kSchemaVersion).c_str());
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

bool EventIndex::discard_if_unused() {
  if (!db_) return false;
  bool unused = false;
  try {
    unused = created_file_ && !writing_ && counts().files == 0;
  } catch (const IndexError&) {
    unused = false;  // cannot tell: keep the file
  }
  sqlite3_close(db_);
  db_ = nullptr;
  if (unused) remove_database_files(path_);
  return unused;
}

EventIndex::~EventIndex() { sqlite3_close(db_); }

void EventIndex::exec(const char* sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    if (msg.find("file is not a database") != std::string::npos) msg += " (expected a smolvid index created by `smolvid index`)";
    throw IndexError(fmt::format("{}: {}", path_, msg));
  }
}

bool EventIndex::is_indexed(const std::string& content_hash, const std::string& options_hash) const {
  Statement q(db_, path_, "SELECT 1 FROM files WHERE content_hash = ?1 AND options_hash = ?2");
  q.bind(1, content_hash);
  q.bind(2, options_hash);
  return q.step();
}

std::unique_ptr<EventIndex::FileWriter> EventIndex::begin_file(const IndexedFile& file) {
  if (writing_) throw IndexError(fmt::format("{}: a file is already being written ({} needs to wait)", path_, file.path));
  if (file.content_hash.empty() || file.options_hash.empty()) {
    throw IndexError(fmt::format("{}: file {} needs a content hash and an options hash", path_, file.path));
  }
  exec("BEGIN IMMEDIATE");  // takes the write lock now, so the check below cannot race
  try {
    if (is_indexed(file.content_hash, file.options_hash)) {
      exec("ROLLBACK");
      return nullptr;
    }
    return std::unique_ptr<FileWriter>(new FileWriter(*this, file));
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

EventIndex::FileWriter::FileWriter(EventIndex& index, const IndexedFile& file)
    : index_(index), camera_(file.camera), start_wallclock_(file.start_wallclock) {
  Statement ins(index.db_, index.path_,
                "INSERT INTO files(path, camera, content_hash, options_hash, duration_s, start_wallclock, model, options_json) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  ins.bind(1, file.path);
  ins.bind(2, file.camera);
  ins.bind(3, file.content_hash);
  ins.bind(4, file.options_hash);
  ins.bind(5, file.duration_s);
  ins.bind(6, file.start_wallclock);
  ins.bind(7, file.model);
  ins.bind(8, file.options.dump());
  ins.step();
  file_id_ = sqlite3_last_insert_rowid(index.db_);
  open_ = true;
  index_.writing_ = true;
}

EventIndex::FileWriter::~FileWriter() {
  if (open_) {
    sqlite3_exec(index_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
    index_.writing_ = false;
  }
}

void EventIndex::FileWriter::add_event(const Event& e) {
  if (!open_) throw IndexError(fmt::format("{}: add_event after commit", index_.path_));
  if (!valid_span(e.start_s, e.end_s)) {
    throw IndexError(fmt::format("{}: event [{} s, {} s] of camera {}: expected 0 <= start <= end", index_.path_, e.start_s, e.end_s, camera_));
  }
  Statement ins(index_.db_, index_.path_,
                "INSERT INTO events(file_id, camera, start_s, end_s, wall_start, wall_end, caption, thumbnail, thumbnail_time_s) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  ins.bind(1, file_id_);
  ins.bind(2, camera_);
  ins.bind(3, e.start_s);
  ins.bind(4, e.end_s);
  ins.bind(5, start_wallclock_ ? std::optional<double>(*start_wallclock_ + e.start_s) : std::nullopt);
  ins.bind(6, start_wallclock_ ? std::optional<double>(*start_wallclock_ + e.end_s) : std::nullopt);
  ins.bind(7, e.caption);
  ins.bind_blob(8, e.thumbnail_jpeg);
  ins.bind(9, e.thumbnail_time_s);
  ins.step();
  ++events_;
}

void EventIndex::FileWriter::commit() {
  if (!open_) throw IndexError(fmt::format("{}: commit called twice", index_.path_));
  index_.exec("COMMIT");
  open_ = false;
  index_.writing_ = false;
}

bool EventIndex::add_file(const IndexedFile& file, const std::vector<Event>& events) {
  std::unique_ptr<FileWriter> w = begin_file(file);
  if (!w) return false;
  for (const Event& e : events) w->add_event(e);
  w->commit();
  return true;
}

std::vector<EventHit> EventIndex::search(const SearchQuery& query) const {
  if (query.limit < 1) throw IndexError(fmt::format("search limit {} must be >= 1", query.limit));
  const bool has_text = !query.text.empty();
  const std::string filters =
      "(?2 IS NULL OR e.camera = ?2) AND (?3 IS NULL OR e.wall_end >= ?3) AND (?4 IS NULL OR e.wall_start <= ?4) "
      "AND (?5 IS NULL OR e.end_s >= ?5) AND (?6 IS NULL OR e.start_s <= ?6)";
  const std::string columns = "e.id, e.camera, f.path, e.start_s, e.end_s, e.wall_start, e.wall_end, e.caption, e.thumbnail, e.thumbnail_time_s";
  const std::string sql =
      has_text ? "SELECT " + columns + ", bm25(events_fts) AS score FROM events_fts JOIN events e ON e.id = events_fts.rowid "
                 "JOIN files f ON f.id = e.file_id WHERE events_fts MATCH ?1 AND " + filters +
                 " ORDER BY score, e.id LIMIT ?7"
               : "SELECT " + columns + ", 0.0 FROM events e JOIN files f ON f.id = e.file_id WHERE (?1 IS NULL) AND " + filters +
                 " ORDER BY e.wall_start IS NULL, e.wall_start, f.path, e.start_s, e.id LIMIT ?7";
  Statement q(db_, path_, sql.c_str());
  if (has_text) q.bind(1, fts_query(query.text, query.match_all_words));
  else q.bind_null(1);
  q.bind(2, query.camera);
  q.bind(3, query.from_wall);
  q.bind(4, query.to_wall);
  q.bind(5, query.from_video);
  q.bind(6, query.to_video);
  q.bind(7, static_cast<int64_t>(query.limit));
  std::vector<EventHit> hits;
  while (q.step()) {
    EventHit h;
    h.event_id = q.int64(0);
    h.camera = q.text(1);
    h.file = q.text(2);
    h.start_s = q.real(3);
    h.end_s = q.real(4);
    h.wall_start = q.opt_real(5);
    h.wall_end = q.opt_real(6);
    h.caption = q.text(7);
    h.thumbnail_jpeg = q.blob(8);
    h.thumbnail_time_s = q.real(9);
    h.score = q.real(10);
    hits.push_back(std::move(h));
  }
  return hits;
}

void EventIndex::require_no_file_writer(const std::string& what) const {
  if (writing_) throw IndexError(fmt::format("{}: a file is being written in this connection; {} must wait", path_, what));
}

int64_t EventIndex::begin_live_stream(const LiveStream& stream) {
  require_no_file_writer("live stream " + stream.camera);
  nlohmann::json options = stream.options;
  const std::string model = stream.model;
  Statement ins(db_, path_,
                "INSERT INTO files(path, camera, content_hash, options_hash, duration_s, start_wallclock, model, options_json, "
                "source_kind) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, 'live')");
  ins.bind(1, stream.url);
  ins.bind(2, stream.camera);
  ins.bind(3, "live:" + stream.camera + ":" + stream.run_id);
  ins.bind(4, options_hash(options, model));
  ins.bind(5, stream.start_wallclock);
  ins.bind(6, model);
  ins.bind(7, options.dump());
  ins.step();
  return sqlite3_last_insert_rowid(db_);
}

void EventIndex::set_stream_extent(int64_t stream_id, double duration_s, const std::optional<double>& start_wallclock) {
  require_no_file_writer(fmt::format("stream {}", stream_id));
  Statement up(db_, path_, "UPDATE files SET duration_s = ?2, start_wallclock = coalesce(start_wallclock, ?3) WHERE id = ?1");
  up.bind(1, stream_id);
  up.bind(2, std::max(0.0, duration_s));
  up.bind(3, start_wallclock);
  up.step();
}

int64_t EventIndex::add_live_event(const LiveEvent& e) {
  require_no_file_writer("a live event");
  if (!valid_span(e.start_s, e.end_s)) {
    throw IndexError(fmt::format("{}: live event [{} s, {} s]: expected 0 <= start <= end", path_, e.start_s, e.end_s));
  }
  Statement ins(db_, path_,
                "INSERT INTO events(file_id, camera, start_s, end_s, wall_start, wall_end, caption, thumbnail, thumbnail_time_s, "
                "caption_status, time_source, clip_path) SELECT ?1, camera, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 FROM files "
                "WHERE id = ?1");
  ins.bind(1, e.stream_id);
  ins.bind(2, e.start_s);
  ins.bind(3, e.end_s);
  ins.bind(4, e.wall_start);
  ins.bind(5, e.wall_end);
  ins.bind(6, e.caption);
  ins.bind_blob(7, e.thumbnail_jpeg);
  ins.bind(8, e.thumbnail_time_s);
  ins.bind(9, e.caption_status);
  ins.bind(10, e.time_source);
  ins.bind(11, e.clip_path);
  ins.step();
  if (sqlite3_changes(db_) != 1) throw IndexError(fmt::format("{}: live stream {} does not exist", path_, e.stream_id));
  return sqlite3_last_insert_rowid(db_);
}

void EventIndex::set_caption(int64_t event_id, const std::string& caption, const std::string& status) {
  require_no_file_writer(fmt::format("the caption of event {}", event_id));
  Statement up(db_, path_, "UPDATE events SET caption = ?2, caption_status = ?3 WHERE id = ?1");
  up.bind(1, event_id);
  up.bind(2, caption);
  up.bind(3, status);
  up.step();
}

void EventIndex::add_gap(const StreamGap& g) {
  require_no_file_writer("a gap");
  Statement ins(db_, path_,
                "INSERT INTO gaps(file_id, camera, start_s, end_s, wall_start, wall_end, cause) "
                "SELECT ?1, camera, ?2, ?3, ?4, ?5, ?6 FROM files WHERE id = ?1");
  ins.bind(1, g.stream_id);
  ins.bind(2, g.start_s);
  ins.bind(3, std::max(g.start_s, g.end_s));
  ins.bind(4, g.wall_start);
  ins.bind(5, g.wall_end);
  ins.bind(6, g.cause);
  ins.step();
  if (sqlite3_changes(db_) != 1) throw IndexError(fmt::format("{}: live stream {} does not exist", path_, g.stream_id));
}

std::vector<StreamGap> EventIndex::gaps(const std::optional<std::string>& camera) const {
  Statement q(db_, path_,
              "SELECT file_id, camera, start_s, end_s, wall_start, wall_end, cause FROM gaps WHERE (?1 IS NULL OR camera = ?1) "
              "ORDER BY camera, start_s, id");
  q.bind(1, camera);
  std::vector<StreamGap> out;
  while (q.step()) {
    StreamGap g;
    g.stream_id = q.int64(0);
    g.camera = q.text(1);
    g.start_s = q.real(2);
    g.end_s = q.real(3);
    g.wall_start = q.opt_real(4);
    g.wall_end = q.opt_real(5);
    g.cause = q.text(6);
    out.push_back(std::move(g));
  }
  return out;
}

EventIndex::Counts EventIndex::counts() const {
  Counts c;
  Statement f(db_, path_, "SELECT (SELECT count(*) FROM files), (SELECT count(*) FROM events)");
  f.step();
  c.files = f.int64(0);
  c.events = f.int64(1);
  return c;
}

nlohmann::json search_to_json(const std::vector<EventHit>& hits, const SearchQuery& query, bool include_thumbnails) {
  using nlohmann::json;
  auto opt = [](const auto& v) { return v ? json(*v) : json(nullptr); };
  auto wall = [](const std::optional<double>& v) { return v ? json(format_wallclock(*v)) : json(nullptr); };
  json results = json::array();
  for (size_t i = 0; i < hits.size(); ++i) {
    const EventHit& h = hits[i];
    json r = {{"rank", i + 1},         {"event_id", h.event_id},   {"camera", h.camera},          {"file", h.file},
              {"start_s", h.start_s},  {"end_s", h.end_s},         {"wall_start", wall(h.wall_start)},
              {"wall_end", wall(h.wall_end)}, {"caption", h.caption}, {"score", h.score},
              {"thumbnail_time_s", h.thumbnail_jpeg.empty() ? json(nullptr) : json(h.thumbnail_time_s)}};
    if (include_thumbnails && !h.thumbnail_jpeg.empty()) r["thumbnail"] = "data:image/jpeg;base64," + base64_encode(h.thumbnail_jpeg);
    results.push_back(std::move(r));
  }
  return json{{"smolvid_version", version()},
              {"query",
               {{"text", query.text}, {"camera", opt(query.camera)}, {"from_wall", wall(query.from_wall)}, {"to_wall", wall(query.to_wall)},
                {"from_s", opt(query.from_video)}, {"to_s", opt(query.to_video)}, {"match_all_words", query.match_all_words},
                {"limit", query.limit}}},
              {"results", std::move(results)}};
}

void write_search_json(const std::vector<EventHit>& hits, const SearchQuery& query, std::ostream& out, bool include_thumbnails) {
  out << search_to_json(hits, query, include_thumbnails).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

void write_search_html(const std::vector<EventHit>& hits, const SearchQuery& query, std::ostream& out) {
  const std::string title = query.text.empty() ? "all events" : "\u201c" + query.text + "\u201d";
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      << "<meta name=\"generator\" content=\"smolvid " << html_escape(version()) << "\">\n"
      << "<title>smolvid search: " << html_escape(title) << "</title>\n"
      << "<style>\n"
         "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}\n"
         ".hit{display:flex;gap:1em;align-items:flex-start;border-top:1px solid #ddd;padding:.8em 0}\n"
         ".hit img{width:240px;height:auto;border-radius:4px;flex:none}\n"
         ".time{font-family:monospace;color:#555}\n"
         ".meta{color:#777;font-size:.85em}\n"
         "</style>\n</head>\n<body>\n";
  out << "<h1>Search: " << html_escape(title) << "</h1>\n<p class=\"meta\">" << hits.size() << " result"
      << (hits.size() == 1 ? "" : "s");
  if (query.camera) out << " &middot; camera " << html_escape(*query.camera);
  if (query.from_wall) out << " &middot; from " << format_wallclock(*query.from_wall);
  if (query.to_wall) out << " &middot; to " << format_wallclock(*query.to_wall);
  if (query.from_video) out << " &middot; from " << util::format_clock(*query.from_video);
  if (query.to_video) out << " &middot; to " << util::format_clock(*query.to_video);
  out << "</p>\n";
  for (size_t i = 0; i < hits.size(); ++i) {
    const EventHit& h = hits[i];
    out << "<section class=\"hit\" id=\"event-" << h.event_id << "\">\n";
    if (!h.thumbnail_jpeg.empty()) {
      out << "<img src=\"data:image/jpeg;base64," << base64_encode(h.thumbnail_jpeg) << "\" alt=\"frame at "
          << util::format_clock(h.thumbnail_time_s) << "\">\n";
    }
    out << "<div>\n<p class=\"time\">#" << (i + 1) << " &middot; " << html_escape(h.camera) << " &middot; ";
    if (h.wall_start && h.wall_end) out << format_wallclock(*h.wall_start) << " &ndash; " << format_wallclock(*h.wall_end) << " &middot; ";
    out << html_escape(h.file) << " " << util::format_clock(h.start_s) << " &ndash; " << util::format_clock(h.end_s) << "</p>\n"
        << "<p class=\"caption\">" << html_escape(h.caption) << "</p>\n</div>\n</section>\n";
  }
  out << "</body>\n</html>\n";
}

}  // namespace smolvid::pipeline
