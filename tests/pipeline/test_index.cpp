// Event index: schema, FTS5 search with bm25 ranking and filters, no-op re-index, crash
// consistency (a child process killed mid-file), JSON/HTML output. SQLite's own integrity checks
// are run through python's sqlite3 module.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "pipeline/index.h"
#include "pipeline/media_util.h"
#include "sampler/image.h"
#include "tests/pipeline/test_util.h"

namespace smolvid::pipeline {
namespace {

using smolvid::test::run_command;
using smolvid::test::shell_quote;
using smolvid::test::TempDir;

// 2024-05-01T10:00:00Z; 2024-05-01T00:00:00Z is 1714521600 (19844 days * 86400).
constexpr double kTen = 1714521600.0 + 10 * 3600;

decode::Frame solid_frame(uint8_t value) {
  decode::Frame f;
  f.width = 32;
  f.height = 24;
  f.pixels.assign(32 * 24 * 3, value);
  return f;
}

IndexedFile lobby_file() {
  IndexedFile f;
  f.path = "/videos/lobby-1000.mp4";
  f.camera = "lobby";
  f.content_hash = std::string(64, 'a');
  f.options_hash = options_hash({{"policy", "motion"}}, "fake/vlm");
  f.duration_s = 60.0;
  f.start_wallclock = kTen;
  f.model = "fake/vlm";
  f.options = {{"policy", "motion"}};
  return f;
}

IndexedFile garage_file() {
  IndexedFile f = lobby_file();
  f.path = "/videos/garage.avi";
  f.camera = "garage";
  f.content_hash = std::string(64, 'b');
  f.start_wallclock.reset();
  return f;
}

std::vector<Event> lobby_events() {
  return {{2.0, 8.0, "A red car parks near the entrance.", sampler::encode_jpeg(solid_frame(200)), 4.0},
          {20.0, 30.0, "A man walks a dog across the lobby.", sampler::encode_jpeg(solid_frame(100)), 25.0},
          {45.0, 55.0, "A red car and a red truck drive away.", {}, 0.0}};
}

std::vector<Event> garage_events() { return {{1.0, 3.0, "A blue car enters the garage.", sampler::encode_jpeg(solid_frame(50)), 2.0}}; }

SearchQuery text_query(const std::string& text) {
  SearchQuery q;
  q.text = text;
  return q;
}

std::vector<std::string> captions(const std::vector<EventHit>& hits) {
  std::vector<std::string> out;
  for (const auto& h : hits) out.push_back(h.caption);
  return out;
}

std::string sqlite_check(const std::string& db) {
  auto r = run_command("/usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                       "print(c.execute(\"PRAGMA integrity_check\").fetchone()[0]); "
                       "c.execute(\"INSERT INTO events_fts(events_fts) VALUES (\\\"integrity-check\\\")\"); "
                       "print(c.execute(\"SELECT count(*) FROM files\").fetchone()[0], c.execute(\"SELECT count(*) FROM events\").fetchone()[0])' " +
                       shell_quote(db) + " 2>&1");
  return r.output;
}

TEST(Index, TimeBoundsAndQueries) {
  EXPECT_EQ(*parse_wallclock("2024-05-01T10:00:00Z"), kTen);
  EXPECT_EQ(*parse_wallclock("2024-05-01 12:00+02:00"), kTen);
  EXPECT_EQ(*parse_wallclock("2024-05-01"), kTen - 36000);
  EXPECT_FALSE(parse_wallclock("90").has_value());
  EXPECT_EQ(format_wallclock(kTen + 59.9), "2024-05-01T10:00:59Z");
  const TimeBound video = parse_time_bound("01:30");
  EXPECT_FALSE(video.wall);
  EXPECT_EQ(video.seconds, 90.0);
  EXPECT_TRUE(parse_time_bound("2024-05-01T10:00Z").wall);
  EXPECT_THROW(parse_time_bound("yesterday"), IndexError);
  EXPECT_EQ(fts_query("red car", false), "\"red\" OR \"car\"");
  EXPECT_EQ(fts_query("NEAR(red \"car\" -", true), "\"NEAR\" AND \"red\" AND \"car\"");
  EXPECT_THROW(fts_query(" - ? ", false), IndexError);
  EXPECT_NE(options_hash({{"a", 1}}, "m"), options_hash({{"a", 2}}, "m"));
  EXPECT_EQ(options_hash({{"a", 1}, {"b", 2}}, "m"), options_hash({{"b", 2}, {"a", 1}}, "m"));
}

TEST(Index, SearchRanksAndFilters) {
  TempDir dir;
  const std::string db_path = dir.file("cams.sqlite");
  {
    EventIndex db(db_path);
    EXPECT_TRUE(db.add_file(lobby_file(), lobby_events()));
    EXPECT_TRUE(db.add_file(garage_file(), garage_events()));
    EXPECT_EQ(db.counts().files, 2);
    EXPECT_EQ(db.counts().events, 4);
  }
  EXPECT_EQ(sqlite_check(db_path), "ok\n2 4\n");
  EventIndex db(db_path);  // reopened: the schema is found, not recreated

  // Both red-car events rank above the blue car (one matching word); the dog never matches.
  const auto hits = db.search(text_query("red car"));
  ASSERT_EQ(hits.size(), 3u) << ::testing::PrintToString(captions(hits));
  EXPECT_EQ(std::set<std::string>({hits[0].caption, hits[1].caption}),
            std::set<std::string>({"A red car parks near the entrance.", "A red car and a red truck drive away."}));
  EXPECT_EQ(hits[2].caption, "A blue car enters the garage.");
  EXPECT_LE(hits[0].score, hits[1].score);
  EXPECT_LE(hits[1].score, hits[2].score);
  // Porter stemming: "cars" finds "car"; AND semantics on request.
  EXPECT_EQ(db.search(text_query("cars")).size(), 3u);
  SearchQuery all_words = text_query("red truck");
  all_words.match_all_words = true;
  EXPECT_EQ(captions(db.search(all_words)), std::vector<std::string>{"A red car and a red truck drive away."});
  // FTS syntax in user text is taken literally, not as an operator.
  EXPECT_NO_THROW(db.search(text_query("NEAR(red car")));

  SearchQuery garage = text_query("car");
  garage.camera = "garage";
  const auto g = db.search(garage);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].file, "/videos/garage.avi");
  EXPECT_FALSE(g[0].wall_start.has_value());
  EXPECT_DOUBLE_EQ(g[0].start_s, 1.0);

  // Wall-clock window 10:00:25-10:00:40 overlaps only the dog event (20-30 s after 10:00:00).
  SearchQuery window;
  window.from_wall = kTen + 25;
  window.to_wall = kTen + 40;
  const auto w = db.search(window);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].caption, "A man walks a dog across the lobby.");
  EXPECT_DOUBLE_EQ(*w[0].wall_start, kTen + 20);
  EXPECT_DOUBLE_EQ(*w[0].wall_end, kTen + 30);
  // Video-time window 0-5 s: the first lobby event and the garage event.
  SearchQuery early;
  early.to_video = 5.0;
  EXPECT_EQ(db.search(early).size(), 2u);
  // Without text, events come in wall-clock order, unknown wall time last.
  const auto timeline = db.search(SearchQuery{});
  ASSERT_EQ(timeline.size(), 4u);
  EXPECT_EQ(timeline[0].start_s, 2.0);
  EXPECT_EQ(timeline[2].start_s, 45.0);
  EXPECT_EQ(timeline[3].camera, "garage");
  // Thumbnails come back byte for byte.
  EXPECT_EQ(timeline[0].thumbnail_jpeg, lobby_events()[0].thumbnail_jpeg);
  EXPECT_TRUE(timeline[2].thumbnail_jpeg.empty());
  SearchQuery limited = text_query("car");
  limited.limit = 1;
  EXPECT_EQ(db.search(limited).size(), 1u);
}

TEST(Index, ReindexOfSameContentAndOptionsIsNoOp) {
  TempDir dir;
  EventIndex db(dir.file("cams.sqlite"));
  EXPECT_TRUE(db.add_file(lobby_file(), lobby_events()));
  EXPECT_FALSE(db.add_file(lobby_file(), lobby_events()));
  EXPECT_EQ(db.counts().events, 3);
  IndexedFile renamed = lobby_file();
  renamed.path = "/elsewhere/copy.mp4";  // same content, same options: still indexed
  EXPECT_TRUE(db.is_indexed(renamed.content_hash, renamed.options_hash));
  EXPECT_EQ(db.begin_file(renamed), nullptr);
  IndexedFile other_options = lobby_file();
  other_options.options_hash = options_hash({{"policy", "motion"}, {"threshold", 0.2}}, "fake/vlm");
  EXPECT_TRUE(db.add_file(other_options, lobby_events()));
  EXPECT_EQ(db.counts().files, 2);
  EXPECT_EQ(db.counts().events, 6);
}

TEST(Index, UncommittedFileLeavesNoTrace) {
  TempDir dir;
  const std::string db_path = dir.file("cams.sqlite");
  {
    EventIndex db(db_path);
    db.add_file(garage_file(), garage_events());
    {
      auto w = db.begin_file(lobby_file());
      ASSERT_NE(w, nullptr);
      w->add_event(lobby_events()[0]);
      EXPECT_THROW(w->add_event({5.0, 4.0, "backwards", {}, 0.0}), IndexError);
    }  // destroyed without commit: rolled back
    EXPECT_EQ(db.counts().files, 1);
    EXPECT_FALSE(db.is_indexed(lobby_file().content_hash, lobby_file().options_hash));
  }
  // A process killed with SIGKILL in the middle of a file.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    EventIndex db(db_path);
    auto w = db.begin_file(lobby_file());
    for (const Event& e : lobby_events()) w->add_event(e);
    raise(SIGKILL);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(sqlite_check(db_path), "ok\n1 1\n");
  EventIndex db(db_path);
  EXPECT_TRUE(db.search(text_query("red")).empty());
  EXPECT_TRUE(db.add_file(lobby_file(), lobby_events()));  // indexing it again does the work
  EXPECT_EQ(db.search(text_query("red")).size(), 2u);
}

TEST(Index, NotADatabaseIsReported) {
  TempDir dir;
  smolvid::test::write_file(dir.file("junk.sqlite"), std::string(4096, 'x'));
  try {
    EventIndex db(dir.file("junk.sqlite"));
    FAIL() << "expected IndexError";
  } catch (const IndexError& e) {
    EXPECT_NE(std::string(e.what()).find("junk.sqlite"), std::string::npos) << e.what();
  }
}

// An SQLite database of another application, made with python's sqlite3 module.
std::string other_application_db(const TempDir& dir) {
  const std::string path = dir.file("notes.sqlite");
  const auto r = run_command("/usr/bin/python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                             "c.execute(\"CREATE TABLE notes(body TEXT)\"); c.execute(\"INSERT INTO notes VALUES (1)\"); c.commit()' " +
                             shell_quote(path) + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return path;
}

bool has_sqlite_side_files(const std::string& db) {
  return std::filesystem::exists(db + "-wal") || std::filesystem::exists(db + "-shm") || std::filesystem::exists(db + "-journal");
}

TEST(Index, ReadOnlyOpenRefusesWhatIsNotAnIndexAndChangesNothing) {
  TempDir dir;
  const std::string empty = dir.file("empty.sqlite");
  smolvid::test::write_file(empty, "");
  const std::string junk = dir.file("junk.sqlite");
  smolvid::test::write_file(junk, std::string(4096, 'x'));
  for (const std::string& path : {other_application_db(dir), empty, junk}) {
    const std::string before = smolvid::test::read_file(path);
    try {
      EventIndex db(path, EventIndex::Access::kReadOnly);
      ADD_FAILURE() << path << ": opened as an index";
    } catch (const IndexError& e) {
      EXPECT_NE(std::string(e.what()).find(path + ": not a smolvid index"), std::string::npos) << e.what();
    }
    EXPECT_EQ(smolvid::test::read_file(path), before) << path << " was changed";
    EXPECT_FALSE(has_sqlite_side_files(path)) << path;
  }
  // A real index opens read only, searches, and refuses writes.
  const std::string cams = dir.file("cams.sqlite");
  EventIndex(cams).add_file(lobby_file(), lobby_events());
  const std::string before = smolvid::test::read_file(cams);
  {
    EventIndex db(cams, EventIndex::Access::kReadOnly);
    EXPECT_EQ(db.search(text_query("red car")).size(), 2u);
    EXPECT_THROW(db.add_file(garage_file(), garage_events()), IndexError);
  }
  EXPECT_EQ(smolvid::test::read_file(cams), before);
  EXPECT_EQ(sqlite_check(cams), "ok\n1 3\n");
}

TEST(Index, CreatingRefusesAnotherApplicationsDatabaseUntouched) {
  TempDir dir;
  const std::string other = other_application_db(dir);
  const std::string before = smolvid::test::read_file(other);
  try {
    EventIndex db(other);
    ADD_FAILURE() << "smolvid's tables were added to another application's database";
  } catch (const IndexError& e) {
    EXPECT_NE(std::string(e.what()).find(other + ": not a smolvid index"), std::string::npos) << e.what();
  }
  EXPECT_EQ(smolvid::test::read_file(other), before) << "the journal mode or the schema was changed";
  EXPECT_FALSE(has_sqlite_side_files(other));
  // An empty file is an empty database: it becomes an index.
  const std::string empty = dir.file("empty.sqlite");
  smolvid::test::write_file(empty, "");
  EXPECT_TRUE(EventIndex(empty).add_file(lobby_file(), lobby_events()));
  EXPECT_EQ(sqlite_check(empty), "ok\n1 3\n");
}

TEST(Index, DiscardIfUnusedRemovesOnlyAFileItCreatedAndLeftEmpty) {
  TempDir dir;
  const std::string fresh = dir.file("fresh.sqlite");
  {
    EventIndex db(fresh);
    EXPECT_TRUE(std::filesystem::exists(fresh));
    EXPECT_TRUE(db.discard_if_unused());
  }
  EXPECT_FALSE(std::filesystem::exists(fresh));
  EXPECT_FALSE(has_sqlite_side_files(fresh));
  // Created, and a video indexed: kept.
  {
    EventIndex db(fresh);
    db.add_file(lobby_file(), lobby_events());
    EXPECT_FALSE(db.discard_if_unused());
  }
  EXPECT_EQ(sqlite_check(fresh), "ok\n1 3\n");
  // An index that existed before, even one without videos, is never removed.
  const std::string existing = dir.file("existing.sqlite");
  { EventIndex created(existing); }
  {
    EventIndex db(existing);
    EXPECT_FALSE(db.discard_if_unused());
  }
  EXPECT_EQ(sqlite_check(existing), "ok\n0 0\n");
}

TEST(Index, JsonAndHtmlResults) {
  TempDir dir;
  EventIndex db(dir.file("cams.sqlite"));
  std::vector<Event> events = lobby_events();
  events[1].caption = "A <script>alert(1)</script> & a dog";
  db.add_file(lobby_file(), events);
  SearchQuery q = text_query("dog");
  q.camera = "lobby";
  const auto hits = db.search(q);
  ASSERT_EQ(hits.size(), 1u);
  const nlohmann::json j = search_to_json(hits, q, true);
  EXPECT_EQ(j["query"]["camera"], "lobby");
  ASSERT_EQ(j["results"].size(), 1u);
  EXPECT_EQ(j["results"][0]["rank"], 1);
  EXPECT_EQ(j["results"][0]["wall_start"], "2024-05-01T10:00:20Z");
  EXPECT_EQ(j["results"][0]["wall_end"], "2024-05-01T10:00:30Z");
  EXPECT_EQ(j["results"][0]["start_s"], 20.0);
  EXPECT_EQ(j["results"][0]["thumbnail"], "data:image/jpeg;base64," + base64_encode(events[1].thumbnail_jpeg));
  EXPECT_FALSE(search_to_json(hits, q, false)["results"][0].contains("thumbnail"));

  std::ostringstream html;
  write_search_html(hits, q, html);
  const std::string page = html.str();
  EXPECT_EQ(page.rfind("<!DOCTYPE html>\n", 0), 0u);
  EXPECT_EQ(smolvid::test::tag_balance_problem(page.substr(16)), "");
  EXPECT_EQ(page.find("<script>"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt; &amp; a dog"), std::string::npos);
  EXPECT_NE(page.find("data:image/jpeg;base64," + base64_encode(events[1].thumbnail_jpeg)), std::string::npos);
  EXPECT_NE(page.find("2024-05-01T10:00:20Z"), std::string::npos);
}

}  // namespace
}  // namespace smolvid::pipeline
