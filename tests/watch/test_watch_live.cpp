// `smolvid watch` end to end against a real RTSP server on loopback (GStreamer's gst-rtsp-server,
// tests/watch/rtsp_server.py), started, killed and restarted by the tests, with the tiny golden
// model. The footage is 14 s of bottle-detection.mp4 (a fixed camera; MEDIA.md: hands in view
// about 12-16 and 22 s), re-encoded to H.264 by the ffmpeg CLI. What watch finds is checked
// against `smolvid index` on the same file, the database with sqlite3, clips with ffprobe, hooks
// with a shell command and a loopback HTTP listener (tests/watch/webhook_sink.py).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/index.h"
#include "tests/test_files.h"
#include "tests/test_support.h"

extern char** environ;

namespace smolvid::test {
namespace {

using nlohmann::json;
using Seconds = std::chrono::duration<double>;

std::string smolvid_binary() { return binary_dir() + "/cli/smolvid"; }
std::string tiny_args() {
  return "--model " + shell_quote(golden("tiny-smolvlm")) + " --max-new-tokens 4 --threads 1";
}

double wall_now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind to a free port failed");
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool file_has(const std::string& path, const std::string& text) {
  return std::filesystem::exists(path) && read_file(path).find(text) != std::string::npos;
}
size_t count_in(const std::string& path, const std::string& text) {
  if (!std::filesystem::exists(path)) return 0;
  const std::string s = read_file(path);
  size_t n = 0;
  for (size_t p = s.find(text); p != std::string::npos; p = s.find(text, p + 1)) ++n;
  return n;
}
bool wait_until(const std::function<bool()>& done, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + Seconds(timeout_s);
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

// A background process (/bin/sh -c "exec COMMAND"), killed when the object goes.
class Process {
 public:
  explicit Process(const std::string& command) {
    const std::string exec = "exec " + command;
    const char* argv[] = {"/bin/sh", "-c", exec.c_str(), nullptr};
    if (posix_spawn(&pid_, "/bin/sh", nullptr, nullptr, const_cast<char* const*>(argv), environ) != 0)
      throw std::runtime_error("cannot start: " + command);
  }
  ~Process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  void signal(int sig) const { ::kill(pid_, sig); }
  // The exit status, or -1 (then killed) when it did not end within timeout_s.
  int wait(double timeout_s) {
    int status = 0;
    const bool ended = wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout_s);
    if (!ended) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void kill_now() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

// The RTSP server with the given mounts ("/door=FILE"), ready when it returns.
std::unique_ptr<Process> start_rtsp(int port, const std::vector<std::string>& mounts, const TempDir& dir, const std::string& tag) {
  std::string cmd = "/usr/bin/python3 " + shell_quote(source_dir() + "/tests/watch/rtsp_server.py") + " --port " + std::to_string(port);
  for (const auto& m : mounts) cmd += " --mount " + shell_quote(m);
  const std::string log = dir.file("rtsp-" + tag + ".log");
  auto p = std::make_unique<Process>(cmd + " >" + shell_quote(log) + " 2>&1");
  if (!wait_until([&] { return file_has(log, "ready"); }, 20)) throw std::runtime_error("the RTSP server did not start: " + read_file(log));
  return p;
}

struct Row {
  int64_t id = 0;
  std::string camera;
  double start_s = 0, end_s = 0, wall_start = 0;
  std::string caption, status, time_source, clip;
};

std::vector<Row> events_in(const std::string& db, const std::string& camera = "") {
  sqlite3* h = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  const std::string sql =
      "SELECT id, camera, start_s, end_s, coalesce(wall_start, -1), caption, caption_status, time_source, coalesce(clip_path, '') "
      "FROM events WHERE ?1 = '' OR camera = ?1 ORDER BY camera, start_s";
  EXPECT_EQ(sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(h);
  sqlite3_bind_text(st, 1, camera.c_str(), -1, SQLITE_TRANSIENT);
  std::vector<Row> rows;
  auto text = [&](int c) { return std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, c))); };
  while (sqlite3_step(st) == SQLITE_ROW) {
    rows.push_back({sqlite3_column_int64(st, 0), text(1), sqlite3_column_double(st, 2), sqlite3_column_double(st, 3),
                    sqlite3_column_double(st, 4), text(5), text(6), text(7), text(8)});
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return rows;
}

std::string sql_text(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    const auto* p = sqlite3_column_text(st, 0);
    out = p ? reinterpret_cast<const char*>(p) : "";
  } else {
    out = std::string("error: ") + sqlite3_errmsg(h);
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

std::vector<json> json_lines(const std::string& path) {
  std::vector<json> out;
  if (!std::filesystem::exists(path)) return out;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

class LiveWatch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    clip_ = dir_->file("door.mp4");
    // 14 s with two hand movements; no B-frames and a keyframe every second, like an IP camera.
    const auto enc = run_command("ffmpeg -v error -y -ss 10 -t 14 -i " + shell_quote(media("bottle-detection.mp4")) +
                                 " -an -c:v libx264 -preset ultrafast -bf 0 -g 25 -pix_fmt yuv420p " + shell_quote(clip_) + " 2>&1");
    ASSERT_EQ(enc.exit_code, 0) << enc.output;
    const std::string db = dir_->file("index.sqlite");
    const auto idx = run_command("env HF_HUB_OFFLINE=1 " + shell_quote(smolvid_binary()) + " index " + shell_quote(clip_) + " --db " +
                                 shell_quote(db) + " --camera door " + tiny_args() + " --progress never 2>&1");
    ASSERT_EQ(idx.exit_code, 0) << idx.output;
    indexed_ = new std::vector<Row>(events_in(db));
    ASSERT_GE(indexed_->size(), 2u) << "the footage must hold at least two events for these tests";
  }
  static void TearDownTestSuite() {
    delete indexed_;
    delete dir_;
  }

  // `smolvid watch ARGS` in the background, stdout and stderr into files under `tag`.
  std::unique_ptr<Process> start_watch(const std::string& args, const std::string& tag) {
    out_ = dir_->file(tag + ".out.jsonl");
    err_ = dir_->file(tag + ".err.log");
    return std::make_unique<Process>("env HF_HUB_OFFLINE=1 " + shell_quote(smolvid_binary()) + " watch " + args + " " + tiny_args() + " >" +
                                     shell_quote(out_) + " 2>" + shell_quote(err_));
  }
  void expect_agrees_with_index(const std::vector<Row>& got, double offset_s = 0.0) {
    const std::vector<Row>& want = *indexed_;
    ASSERT_EQ(got.size(), want.size()) << "watch log:\n" << read_file(err_);
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(got[i].start_s, offset_s + want[i].start_s, 1.0) << "event " << i;
      EXPECT_NEAR(got[i].end_s, offset_s + want[i].end_s, 1.0) << "event " << i;
    }
  }

  static TempDir* dir_;
  static std::string clip_;
  static std::vector<Row>* indexed_;
  std::string out_, err_;
};
TempDir* LiveWatch::dir_ = nullptr;
std::string LiveWatch::clip_;
std::vector<Row>* LiveWatch::indexed_ = nullptr;

TEST_F(LiveWatch, TcpEventsAgreeWithIndexWithClipsAndEachHookFiresOnce) {
  const int port = free_port(), hook_port = free_port();
  auto server = start_rtsp(port, {"/door=" + clip_}, *dir_, "tcp");
  const std::string posts = dir_->file("posts.jsonl"), hooked = dir_->file("hook.jsonl"), clips = dir_->file("clips");
  std::filesystem::create_directories(clips);
  Process sink("/usr/bin/python3 " + shell_quote(source_dir() + "/tests/watch/webhook_sink.py") + " --port " + std::to_string(hook_port) +
               " --out " + shell_quote(posts) + " >" + shell_quote(dir_->file("sink.log")) + " 2>&1");
  ASSERT_TRUE(wait_until([&] { return file_has(dir_->file("sink.log"), "ready"); }, 20));
  const std::string db = dir_->file("tcp.sqlite");
  const double t0 = wall_now();
  auto watch = start_watch("door=rtsp://127.0.0.1:" + std::to_string(port) + "/door --db " + shell_quote(db) + " --clips " +
                               shell_quote(clips) + " --stall-timeout 3 --on-event " + shell_quote("cat >> " + shell_quote(hooked)) +
                               " --webhook http://127.0.0.1:" + std::to_string(hook_port) + "/events",
                           "tcp");
  ASSERT_TRUE(wait_until([&] { return file_has(err_, "disconnected:"); }, 60)) << read_file(err_);  // the file ended
  // Hooks fire once a caption is done: wait for them before stopping (pending ones would be sent
  // as 'pending' at shutdown, which the last test covers).
  ASSERT_TRUE(wait_until([&] { return !json_lines(out_).empty() && json_lines(posts).size() == json_lines(out_).size() &&
                                      json_lines(hooked).size() == json_lines(out_).size(); },
                         60))
      << read_file(err_);
  watch->signal(SIGTERM);
  ASSERT_EQ(watch->wait(60), 0) << read_file(err_);
  const double t1 = wall_now();

  const std::vector<Row> got = events_in(db, "door");
  expect_agrees_with_index(got);
  std::set<int64_t> ids;
  for (const Row& r : got) {
    ids.insert(r.id);
    EXPECT_TRUE(r.time_source == "rtcp" || r.time_source == "receive") << r.time_source;
    EXPECT_GT(r.wall_start, t0 - 5) << "wall clock from " << r.time_source;
    EXPECT_LT(r.wall_start, t1 + 5) << "wall clock from " << r.time_source;
    EXPECT_EQ(r.status, "done");
  }
  // One JSON line per event on stdout, when it closes.
  std::set<int64_t> printed;
  for (const json& e : json_lines(out_)) {
    EXPECT_EQ(e["camera"], "door");
    EXPECT_TRUE(printed.insert(e["event_id"].get<int64_t>()).second) << "printed twice: " << e.dump();
  }
  EXPECT_EQ(printed, ids);
  // Each hook got each event exactly once, with its caption.
  std::map<int64_t, std::string> captions;
  for (const Row& r : got) captions[r.id] = r.caption;
  for (const std::string& path : {hooked, posts}) {
    std::set<int64_t> seen;
    for (const json& e : json_lines(path)) {
      const int64_t id = e["event_id"].get<int64_t>();
      EXPECT_TRUE(seen.insert(id).second) << path << ": event " << id << " delivered twice";
      EXPECT_EQ(e["caption_status"], "done");
      EXPECT_EQ(e["caption"].get<std::string>(), captions[id]);
    }
    EXPECT_EQ(seen, ids) << path;
  }
  // Clips: stream copies (same codec and size as the source, by ffprobe) that start on a keyframe
  // and cover their event.
  const auto src = run_command("ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width,height,profile -of csv=p=0 " +
                               shell_quote(clip_));
  for (const Row& r : got) {
    ASSERT_FALSE(r.clip.empty()) << "event " << r.id << " has no clip";
    ASSERT_TRUE(std::filesystem::exists(r.clip)) << r.clip;
    const auto probe = run_command("ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width,height,profile -of csv=p=0 " +
                                   shell_quote(r.clip));
    EXPECT_EQ(probe.output, src.output) << r.clip;
    const auto first = run_command("ffprobe -v error -select_streams v:0 -read_intervals %+#1 -show_entries frame=key_frame -of csv=p=0 " +
                                   shell_quote(r.clip));
    EXPECT_EQ(first.output.substr(0, 1), "1") << r.clip << " does not start on a keyframe";
    const auto frames = run_command("ffprobe -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 " +
                                    shell_quote(r.clip));
    EXPECT_GE(std::stod(frames.output) / 25.0, r.end_s - r.start_s - 0.1) << r.clip << " is shorter than its event";
  }
  // smolvid search reads what watch wrote, unchanged.
  const auto search = run_command(shell_quote(smolvid_binary()) + " search " + shell_quote(db) + " --camera door --json -n 100");
  ASSERT_EQ(search.exit_code, 0) << search.output;
  EXPECT_EQ(json::parse(search.output)["results"].size(), got.size());
}

TEST_F(LiveWatch, UdpTwoCamerasShareOneModel) {
  const int port = free_port();
  auto server = start_rtsp(port, {"/a=" + clip_, "/b=" + clip_}, *dir_, "udp");
  const std::string db = dir_->file("udp.sqlite");
  const std::string base = "rtsp://127.0.0.1:" + std::to_string(port);
  auto watch = start_watch(base + "/a " + base + "/b --camera left --camera right --rtsp-transport udp --stall-timeout 3 --db " + shell_quote(db),
                           "udp");
  ASSERT_TRUE(wait_until([&] { return count_in(err_, "disconnected:") >= 2; }, 60)) << read_file(err_);
  ASSERT_TRUE(wait_until([&] { return sql_text(db, "SELECT count(*) FROM events WHERE caption_status = 'pending'") == "0"; }, 60));
  watch->signal(SIGTERM);
  ASSERT_EQ(watch->wait(60), 0) << read_file(err_);
  for (const char* cam : {"left", "right"}) {
    SCOPED_TRACE(cam);
    const auto got = events_in(db, cam);
    expect_agrees_with_index(got);
    for (const Row& r : got) EXPECT_EQ(r.status, "done");
  }
  EXPECT_EQ(count_in(err_, "caption of event"), 0u) << "a caption failed:\n" << read_file(err_);
}

TEST_F(LiveWatch, ReconnectsAfterTheServerIsKilledForFiveSecondsAndRecordsTheGap) {
  const int port = free_port();
  auto server = start_rtsp(port, {"/door=" + clip_}, *dir_, "restart1");
  const std::string db = dir_->file("restart.sqlite");
  auto watch = start_watch("door=rtsp://127.0.0.1:" + std::to_string(port) + "/door --stall-timeout 3 --backoff 0.5 --backoff-max 2 --db " +
                               shell_quote(db),
                           "restart");
  ASSERT_TRUE(wait_until([&] { return file_has(err_, "connected"); }, 30)) << read_file(err_);
  std::this_thread::sleep_for(std::chrono::seconds(6));
  server->kill_now();
  std::this_thread::sleep_for(std::chrono::seconds(5));
  server = start_rtsp(port, {"/door=" + clip_}, *dir_, "restart2");
  ASSERT_TRUE(wait_until([&] { return file_has(err_, "back after"); }, 30)) << read_file(err_);
  ASSERT_TRUE(wait_until(
      [&] {
        const std::string log = read_file(err_);
        return log.find("disconnected:", log.find("back after")) != std::string::npos;  // the replay ended
      },
      60))
      << read_file(err_);
  watch->signal(SIGTERM);
  ASSERT_EQ(watch->wait(60), 0) << read_file(err_);

  // Each failed attempt is one line, and the wait doubles (0.5, 1, 2, 2 s with --backoff-max 2).
  EXPECT_TRUE(file_has(err_, "cannot connect: Connection refused; reconnecting in 1 s")) << read_file(err_);
  EXPECT_TRUE(file_has(err_, "reconnecting in 2 s")) << read_file(err_);
  pipeline::EventIndex index(db);
  const auto gaps = index.gaps("door");
  ASSERT_GE(gaps.size(), 1u) << read_file(err_);
  const pipeline::StreamGap& g = gaps.front();
  EXPECT_GE(g.end_s - g.start_s, 5.0);
  EXPECT_LT(g.end_s - g.start_s, 15.0);
  EXPECT_FALSE(g.cause.empty());
  EXPECT_GE(*g.wall_end - *g.wall_start, 5.0);
  // After the gap the server plays the file again from its start: the same events, shifted by the
  // gap's end; before it, whatever the first 6 s held, the event open at the kill closed at the last
  // frame seen. No event twice, none overlapping another.
  const auto got = events_in(db, "door");
  std::vector<Row> after;
  for (size_t i = 0; i < got.size(); ++i) {
    if (i > 0) {
      EXPECT_GT(got[i].start_s, got[i - 1].end_s) << "events " << got[i - 1].id << " and " << got[i].id << " overlap";
    }
    if (got[i].start_s >= g.end_s) {
      after.push_back(got[i]);
    } else {
      EXPECT_LE(got[i].end_s, g.start_s + 0.5);
    }
  }
  expect_agrees_with_index(after, g.end_s);
}

TEST_F(LiveWatch, SigtermInTheMiddleOfAnEventClosesItAndLeavesAConsistentDatabase) {
  // The longest event the index found; SIGTERM half-way through it.
  const Row* longest = &indexed_->front();
  for (const Row& r : *indexed_)
    if (r.end_s - r.start_s > longest->end_s - longest->start_s) longest = &r;
  ASSERT_GE(longest->end_s - longest->start_s, 1.0);
  const int port = free_port();
  auto server = start_rtsp(port, {"/door=" + clip_}, *dir_, "term");
  const std::string db = dir_->file("term.sqlite"), clips = dir_->file("term-clips");
  std::filesystem::create_directories(clips);
  auto watch = start_watch("rtsp://127.0.0.1:" + std::to_string(port) + "/door --camera door --clips " + shell_quote(clips) + " --db " + shell_quote(db),
                           "term");
  ASSERT_TRUE(wait_until([&] { return file_has(err_, "connected"); }, 30)) << read_file(err_);
  std::this_thread::sleep_for(Seconds(longest->start_s + 0.5 * (longest->end_s - longest->start_s)));
  watch->signal(SIGTERM);
  ASSERT_EQ(watch->wait(60), 0) << read_file(err_);
  EXPECT_EQ(sql_text(db, "PRAGMA integrity_check"), "ok");
  const auto got = events_in(db, "door");
  ASSERT_FALSE(got.empty()) << read_file(err_);
  const Row& last = got.back();
  EXPECT_NEAR(last.start_s, longest->start_s, 1.0);
  EXPECT_LT(last.end_s, longest->end_s) << "the event was cut at the last frame seen";
  EXPECT_GE(last.end_s, last.start_s);
  EXPECT_TRUE(last.status == "done" || last.status == "pending") << last.status;
  EXPECT_TRUE(std::filesystem::exists(last.clip)) << "clip of the event cut short: " << last.clip;
  const auto probe = run_command("ffprobe -v error -show_entries stream=codec_name -of csv=p=0 " + shell_quote(last.clip));
  EXPECT_EQ(probe.output, "h264\n");
  EXPECT_EQ(json_lines(out_).size(), got.size());
}

// A server that stops sending without closing the connection (SIGSTOP) is a stall: after
// --stall-timeout without a packet watch drops the session, reconnects once the server answers
// again (SIGCONT), and records the gap with its cause.
TEST_F(LiveWatch, AStalledStreamIsDetectedAndReconnected) {
  const int port = free_port();
  auto server = start_rtsp(port, {"/door=" + clip_}, *dir_, "stall");
  const std::string db = dir_->file("stall.sqlite");
  auto watch = start_watch("door=rtsp://127.0.0.1:" + std::to_string(port) + "/door --stall-timeout 2 --backoff 0.5 --db " + shell_quote(db),
                           "stall");
  ASSERT_TRUE(wait_until([&] { return file_has(err_, "connected"); }, 30)) << read_file(err_);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  server->signal(SIGSTOP);
  ASSERT_TRUE(wait_until([&] { return file_has(err_, "stalled: no packet for 2 s"); }, 20)) << read_file(err_);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  server->signal(SIGCONT);
  ASSERT_TRUE(wait_until([&] { return file_has(err_, "back after"); }, 30)) << read_file(err_);
  watch->signal(SIGTERM);
  ASSERT_EQ(watch->wait(60), 0) << read_file(err_);
  pipeline::EventIndex index(db);
  const auto gaps = index.gaps("door");
  ASSERT_EQ(gaps.size(), 1u) << read_file(err_);
  EXPECT_EQ(gaps[0].cause, "stalled: no packet for 2 s");
  EXPECT_GE(gaps[0].end_s - gaps[0].start_s, 2.0);
}

// A camera that can never work (here a missing file) gives one line and does not stop the others;
// a file camera ends at its end, its events agreeing with index on the same file.
TEST_F(LiveWatch, ABadCameraFailsWithOneLineAndTheOthersGoOn) {
  const std::string db = dir_->file("bad.sqlite"), missing = dir_->file("missing.mp4");
  auto watch = start_watch("gone=" + shell_quote(missing) + " door=" + shell_quote(clip_) + " --db " + shell_quote(db), "bad");
  EXPECT_EQ(watch->wait(120), 1) << read_file(err_);
  EXPECT_EQ(count_in(err_, missing + ": no such file"), 2u) << read_file(err_);  // the error, then the summary
  EXPECT_TRUE(file_has(err_, "smolvid: error: watch: 1 of 2 cameras could not run")) << read_file(err_);
  expect_agrees_with_index(events_in(db, "door"));
  EXPECT_TRUE(events_in(db, "gone").empty());
}

}  // namespace
}  // namespace smolvid::test
