// server/events.h: read access to an event index (pipeline/index.h) for GET /v1/events and the
// event's thumbnail and clip. Search goes through pipeline::EventIndex; the per-event lookups read
// the same SQLite file directly. A stored clip is used when the events table has a clip column
// (`clip_path` or `clip`, written by `smolvid watch --clips`); otherwise an event's clip is its
// span of the indexed source file, served whole (the page seeks to the span).
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/index.h"

namespace smolvid::server {

struct EventMedia {
  std::vector<uint8_t> thumbnail_jpeg;  // may be empty
  std::string clip_path;                // a stored clip or the source file; empty when neither exists
  bool stored_clip = false;             // true: clip_path is the event's own clip
  double start_s = 0, end_s = 0;        // the event on the source file's timeline
};

class EventStore {
 public:
  // Throws std::invalid_argument when `db_path` does not exist (no database is created).
  explicit EventStore(const std::string& db_path);

  // GET /v1/events query parameters: q, camera, from, to, limit. Throws ApiError 400.
  nlohmann::json search(const std::string& q, const std::string& camera, const std::string& from, const std::string& to,
                        const std::string& limit);
  // nullopt: no event with this id.
  std::optional<EventMedia> media(int64_t event_id);

 private:
  std::string path_;
  std::mutex mu_;
  pipeline::EventIndex index_;
  std::optional<std::string> clip_column_;
};

}  // namespace smolvid::server
