#include "server/events.h"

#include <fmt/core.h>
#include <sqlite3.h>

#include <filesystem>
#include <memory>

#include "server/api_error.h"

namespace smolvid::server {
namespace {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

Db open_read_only(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) throw ApiError(500, fmt::format("{}: cannot open the index: {}", path, sqlite3_errmsg(raw)), "server_error");
  return db;
}

Stmt prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    throw ApiError(500, fmt::format("index query failed: {}", sqlite3_errmsg(db)), "server_error");
  }
  return Stmt(raw);
}

std::optional<std::string> find_clip_column(const std::string& path) {
  Db db = open_read_only(path);
  Stmt s = prepare(db.get(), "PRAGMA table_info(events)");
  while (sqlite3_step(s.get()) == SQLITE_ROW) {
    const std::string name = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 1));
    if (name == "clip_path" || name == "clip") return name;
  }
  return std::nullopt;
}

std::string must_exist(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw std::invalid_argument(fmt::format("--db {}: no such file", path));
  return path;
}

}  // namespace

EventStore::EventStore(const std::string& db_path)
    : path_(must_exist(db_path)), index_(db_path), clip_column_(find_clip_column(db_path)) {}

nlohmann::json EventStore::search(const std::string& q, const std::string& camera, const std::string& from, const std::string& to,
                                  const std::string& limit) {
  pipeline::SearchQuery query;
  query.text = q;
  if (!camera.empty()) query.camera = camera;
  auto bound = [](const std::string& text, const char* param, std::optional<double>& wall, std::optional<double>& video) {
    if (text.empty()) return;
    try {
      const pipeline::TimeBound b = pipeline::parse_time_bound(text);
      (b.wall ? wall : video) = b.seconds;
    } catch (const std::exception& e) {
      throw bad_request(fmt::format("{}: {}", param, e.what()), param);
    }
  };
  bound(from, "from", query.from_wall, query.from_video);
  bound(to, "to", query.to_wall, query.to_video);
  if (!limit.empty()) {
    try {
      size_t used = 0;
      query.limit = std::stoi(limit, &used);
      if (used != limit.size() || query.limit < 1 || query.limit > 1000) throw std::out_of_range("limit");
    } catch (const std::exception&) {
      throw bad_request(fmt::format("limit must be an integer in [1, 1000], got '{}'", limit), "limit");
    }
  }
  std::vector<pipeline::EventHit> hits;
  try {
    std::lock_guard<std::mutex> lock(mu_);
    hits = index_.search(query);
  } catch (const pipeline::IndexError& e) {
    throw bad_request(fmt::format("q: {}", e.what()), "q");
  }
  nlohmann::json out = pipeline::search_to_json(hits, query);
  for (nlohmann::json& r : out["results"]) {
    const int64_t id = r["event_id"].get<int64_t>();
    r["thumbnail_url"] = r["thumbnail_time_s"].is_null() ? nlohmann::json(nullptr) : nlohmann::json(fmt::format("/v1/events/{}/thumbnail", id));
    // The clip URL carries a media fragment: a stored clip plays from its start, a source file
    // from the event's span.
    const std::optional<EventMedia> m = media(id);
    if (!m || m->clip_path.empty()) {
      r["clip_url"] = nullptr;
    } else if (m->stored_clip) {
      r["clip_url"] = fmt::format("/v1/events/{}/clip", id);
    } else {
      r["clip_url"] = fmt::format("/v1/events/{}/clip#t={:.3f},{:.3f}", id, m->start_s, m->end_s);
    }
  }
  return out;
}

std::optional<EventMedia> EventStore::media(int64_t event_id) {
  Db db = open_read_only(path_);
  const std::string clip = clip_column_ ? "e." + *clip_column_ : "NULL";
  Stmt s = prepare(db.get(), "SELECT e.thumbnail, f.path, e.start_s, e.end_s, " + clip + " FROM events e JOIN files f ON f.id = e.file_id WHERE e.id = ?");
  sqlite3_bind_int64(s.get(), 1, event_id);
  if (sqlite3_step(s.get()) != SQLITE_ROW) return std::nullopt;
  EventMedia m;
  if (const void* blob = sqlite3_column_blob(s.get(), 0)) {
    const auto* p = static_cast<const uint8_t*>(blob);
    m.thumbnail_jpeg.assign(p, p + sqlite3_column_bytes(s.get(), 0));
  }
  const std::string source = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 1));
  m.start_s = sqlite3_column_double(s.get(), 2);
  m.end_s = sqlite3_column_double(s.get(), 3);
  std::error_code ec;
  if (const unsigned char* c = sqlite3_column_text(s.get(), 4)) {
    const std::string stored = reinterpret_cast<const char*>(c);
    if (!stored.empty() && std::filesystem::is_regular_file(stored, ec)) {
      m.clip_path = stored;
      m.stored_clip = true;
    }
  }
  if (m.clip_path.empty() && std::filesystem::is_regular_file(source, ec)) m.clip_path = source;
  return m;
}

}  // namespace smolvid::server
