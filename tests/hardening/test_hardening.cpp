// The smolvid executable under faults and hostile input: damaged media, kill -9 in the middle of
// long runs, a full disk, and names that try to escape the output folder or inject markup. Each
// test checks real outputs: the results file and database contents against an uninterrupted run,
// PRAGMA integrity_check (python3's sqlite3, an independent reader), the files on disk.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/cli/cli_util.h"
#include "tests/test_support.h"

namespace smolvid::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string tiny_args(int max_new_tokens = 3) {
  return "--model " + shell_quote(golden("tiny-smolvlm")) + " --max-new-tokens " + std::to_string(max_new_tokens) + " --threads 1";
}

// Every regular file below `root`, relative paths.
std::set<std::string> tree(const std::string& root) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file() || e.is_symlink()) out.insert(fs::relative(e.path(), root).string());
  }
  return out;
}

// Output or one clear line: exit 0, or exit 1 with exactly one "smolvid: error:" line; never a
// signal, never the timeout.
void expect_output_or_one_line(const CmdResult& r, const std::string& what) {
  ASSERT_NE(r.exit_code, 124) << what << ": hung (killed by timeout)";
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << what << ": exit " << r.exit_code << " (crash?)\n" << r.err;
  if (r.exit_code == 0) {
    EXPECT_FALSE(r.out.empty()) << what << ": exit 0 without output";
  } else {
    EXPECT_EQ(count_lines(r.err), 1u) << what << ":\n" << r.err;
    EXPECT_EQ(r.err.rfind("smolvid: error: ", 0), 0u) << what << ":\n" << r.err;
  }
}

TEST(EdgeMedia, EveryCommandGivesOutputOrOneClearLine) {
  TempDir dir;
  const std::string edge = shared_dir() + "/media/edge";
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(edge)) {
    const std::string path = e.path().string();
    if (e.path().extension() == ".sh") continue;  // the script that made them
    ++files;
    const std::string q = shell_quote(path);
    for (const std::string& cmd : {"probe " + q, "frames " + q + " --max-frames 4",
                                   "ask " + q + " 'What happens?' --max-frames 2 " + tiny_args(),
                                   "summarize " + q + " --segment 5s --frames-per-segment 1 --no-summary " + tiny_args()}) {
      SCOPED_TRACE(cmd);
      const CmdResult r = smolvid(cmd, dir, "timeout -k 5 180");
      expect_output_or_one_line(r, cmd);
      if (r.exit_code == 1) {
        EXPECT_NE(r.err.find(path), std::string::npos) << "the error does not name the file: " << r.err;
      }
    }
  }
  EXPECT_GE(files, 20u) << "fewer edge files than ../shared/media/edge holds";
}

// ---- crash consistency ---------------------------------------------------------------------------

// Runs `command` `kills` times, each killed with SIGKILL after a random delay in [min_ms, max_ms]
// (a run that finishes first counts as no kill), then once to completion. Returns the kills landed.
int kill_repeatedly(const std::string& command, int kills, int min_ms, int max_ms, std::mt19937& rng) {
  int landed = 0;
  for (int round = 0; round < 3 * kills && landed < kills; ++round) {
    const pid_t pid = spawn_shell(command);
    EXPECT_GT(pid, 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::uniform_int_distribution<int>(min_ms, max_ms)(rng));
    int status = 0;
    pid_t waited = 0;
    while ((waited = waitpid(pid, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (waited == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ++landed;
    } else {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a run failed on its own: " << command;
    }
  }
  return landed;
}

TEST(CrashConsistency, BatchSurvivesTwentyKills) {
  TempDir dir;
  const std::vector<std::string> clips = {media("realshort.mp4"), media("edge/one_frame.mp4"), media("edge/not_a_video.mp4")};
  std::ofstream manifest(dir.file("m.jsonl"));
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    ids.push_back("item-" + std::to_string(i));
    manifest << json{{"id", ids.back()}, {"video", clips[i % clips.size()]}, {"question", "What is shown?"}}.dump() << '\n';
  }
  manifest.close();
  const std::string results = dir.file("results.jsonl");
  const std::string command = "env HF_HUB_OFFLINE=1 " + shell_quote(smolvid_binary()) + " batch " + shell_quote(dir.file("m.jsonl")) +
                              " --out " + shell_quote(results) + " --resume --max-frames 2 --progress never " + tiny_args(2) +
                              " >/dev/null 2>&1";
  std::mt19937 rng(20240501);
  // Model loading takes about a second; kills land from start-up to a few items in.
  const int landed = kill_repeatedly(command, 20, 100, 2500, rng);
  EXPECT_EQ(landed, 20);
  const CmdResult last = run_shell(command, dir);
  ASSERT_EQ(last.exit_code, 0) << last.err;
  const std::map<std::string, int> got = result_ids(results);
  EXPECT_EQ(got.size(), ids.size());
  for (const std::string& id : ids) EXPECT_EQ(got.count(id) ? got.at(id) : 0, 1) << id << " is not in the results exactly once";
}

// python3's sqlite3 module reads the database: an independent check of what smolvid wrote.
json inspect_db(const std::string& db, const TempDir& dir) {
  const std::string script = R"PY(
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
out = {"integrity": c.execute("PRAGMA integrity_check").fetchone()[0],
       "fts_integrity": "ok",
       "files": [r[0] for r in c.execute("SELECT path FROM files ORDER BY path")],
       "events_per_file": dict(c.execute("SELECT f.path, count(e.id) FROM files f LEFT JOIN events e ON e.file_id = f.id GROUP BY f.id")),
       "duplicate_events": c.execute("SELECT count(*) FROM (SELECT file_id, start_s, end_s, count(*) n FROM events GROUP BY 1, 2, 3 HAVING n > 1)").fetchone()[0],
       "orphan_events": c.execute("SELECT count(*) FROM events WHERE file_id NOT IN (SELECT id FROM files)").fetchone()[0],
       "fts_rows": c.execute("SELECT count(*) FROM events_fts").fetchone()[0],
       "events": c.execute("SELECT count(*) FROM events").fetchone()[0]}
try:
    c.execute("INSERT INTO events_fts(events_fts) VALUES ('integrity-check')")
except sqlite3.DatabaseError as e:
    out["fts_integrity"] = str(e)
print(json.dumps(out))
)PY";
  write_file(dir.file("inspect.py"), script);
  const CmdResult r = run_shell("/usr/bin/python3 " + shell_quote(dir.file("inspect.py")) + " " + shell_quote(db), dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out);
}

TEST(CrashConsistency, IndexSurvivesTwentyKills) {
  TempDir dir;
  const std::vector<std::string> videos = {media("realshort.mp4"), media("balle1-vp9.avi"), media("asl_thanks.mkv")};
  std::string args;
  for (const std::string& v : videos) args += " " + shell_quote(v);
  auto command = [&](const std::string& db) {
    return "env HF_HUB_OFFLINE=1 " + shell_quote(smolvid_binary()) + " index" + args + " --db " + shell_quote(db) +
           " --frames-per-event 1 --progress never " + tiny_args(2) + " >/dev/null 2>&1";
  };
  // The reference: one uninterrupted run.
  const CmdResult ref_run = run_shell(command(dir.file("ref.sqlite")), dir);
  ASSERT_EQ(ref_run.exit_code, 0);
  const json ref = inspect_db(dir.file("ref.sqlite"), dir);
  ASSERT_EQ(ref["files"].size(), videos.size());

  std::mt19937 rng(77);
  const int landed = kill_repeatedly(command(dir.file("killed.sqlite")), 20, 100, 4000, rng);
  EXPECT_EQ(landed, 20);
  const CmdResult last = run_shell(command(dir.file("killed.sqlite")), dir);
  ASSERT_EQ(last.exit_code, 0);
  const json got = inspect_db(dir.file("killed.sqlite"), dir);
  EXPECT_EQ(got["integrity"], "ok");
  EXPECT_EQ(got["fts_integrity"], "ok");
  EXPECT_EQ(got["duplicate_events"], 0);
  EXPECT_EQ(got["orphan_events"], 0);
  EXPECT_EQ(got["files"], ref["files"]);
  EXPECT_EQ(got["events_per_file"], ref["events_per_file"]) << "events lost or stored twice";
  EXPECT_EQ(got["fts_rows"], got["events"]);
  // Thumbnails live inside the database: no stray file appears next to it.
  for (const std::string& f : tree(dir.path())) {
    EXPECT_TRUE(f.find(".sqlite") == std::string::npos || f == "ref.sqlite" || f == "killed.sqlite" ||
                f.rfind("ref.sqlite-", 0) == 0 || f.rfind("killed.sqlite-", 0) == 0)
        << "unexpected file " << f;
  }
}

// ---- full disk -------------------------------------------------------------------------------------

// A small filesystem: a 256 KiB tmpfs when we may mount (root; the test then fills it to 12 KiB
// free), else the process's file-size limit of 12 KiB (RLIMIT_FSIZE, with SIGXFSZ ignored so
// write(2) fails with EFBIG as it would with ENOSPC on a full disk).
struct SmallDisk {
  std::string dir;
  std::string prefix;  // command prefix that applies the limit
  bool mounted = false;
  explicit SmallDisk(const TempDir& tmp) : dir(tmp.file("disk")) {
    fs::create_directories(dir);
    if (::geteuid() == 0 && ::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=256k") == 0) {
      mounted = true;
    } else {
      prefix = "bash -c 'trap \"\" XFSZ; ulimit -f 12; exec \"$@\"' _ ";  // 12 blocks of 1 KiB
    }
  }
  ~SmallDisk() {
    if (mounted) ::umount(dir.c_str());
  }
};

TEST(FullDisk, OutputFailsWithOneLineAndKeepsWhatWasWritten) {
  TempDir dir;
  SmallDisk disk(dir);
  std::cerr << "full disk by " << (disk.mounted ? "a 256 KiB tmpfs" : "RLIMIT_FSIZE 12 KiB") << "\n";
  const std::string clip = media("coin_motion.mov");  // 8 s at 568x320
  const std::string out = disk.dir + "/summary.html";
  const std::string run = "env HF_HUB_OFFLINE=1 " + disk.prefix + shell_quote(smolvid_binary());
  // A first, small output fits and must survive the failed second one.
  const CmdResult small = run_shell(run + " summarize " + shell_quote(clip) + " --segment 30s --no-summary --out " +
                                        shell_quote(disk.dir + "/summary.srt") + " " + tiny_args(),
                                    dir);
  ASSERT_EQ(small.exit_code, 0) << small.err;
  write_file(out, "previous report\n");
  if (disk.mounted) {  // fill the tmpfs up to 12 KiB of free space
    const auto free_bytes = fs::space(disk.dir).available;
    ASSERT_GT(free_bytes, 12u * 1024);
    write_file(disk.dir + "/filler", std::string(free_bytes - 12 * 1024, 'x'));
  }
  const std::string before_srt = read_file(disk.dir + "/summary.srt");
  // Frames at full size as JPEG thumbnails in HTML: far more than the space left.
  const CmdResult big = run_shell(run + " summarize " + shell_quote(clip) + " --segment 1s --frames-per-segment 1 --no-summary --out " +
                                      shell_quote(out) + " " + tiny_args(),
                                  dir);
  EXPECT_EQ(big.exit_code, 1) << big.err;
  EXPECT_EQ(count_lines(big.err), 1u) << big.err;
  EXPECT_NE(big.err.find(out), std::string::npos) << big.err;
  EXPECT_TRUE(big.err.find("No space left on device") != std::string::npos || big.err.find("File too large") != std::string::npos) << big.err;
  EXPECT_EQ(read_file(out), "previous report\n") << "the failed write replaced the previous file";
  EXPECT_EQ(read_file(disk.dir + "/summary.srt"), before_srt);
  for (const std::string& f : tree(disk.dir)) EXPECT_EQ(f.find(".tmp"), std::string::npos) << "temporary file left: " << f;

  // frames --out into the same full disk: one line, no partial image under a final name.
  const CmdResult frames = run_shell(run + " frames " + shell_quote(media("realshort.mp4")) + " --max-frames 4 --out " +
                                         shell_quote(disk.dir + "/frames"),
                                     dir);
  EXPECT_EQ(frames.exit_code, 1) << frames.err;
  EXPECT_EQ(count_lines(frames.err), 1u) << frames.err;
  for (const std::string& f : tree(disk.dir)) {
    EXPECT_EQ(f.find(".tmp"), std::string::npos) << "temporary file left: " << f;
    if (f.rfind("frames/", 0) == 0) {  // every image written is whole: it decodes
      const CmdResult probe = run_shell("ffprobe -v error " + shell_quote(disk.dir + "/" + f), dir);
      EXPECT_EQ(probe.exit_code, 0) << f << " is not a whole JPEG: " << probe.err;
    }
  }
}

// ---- hostile names ---------------------------------------------------------------------------------

TEST(Escaping, HostileIdsAndNamesStayInsideAndAreEscaped) {
  TempDir dir;
  fs::create_directories(dir.file("out"));
  fs::create_directories(dir.file("videos"));
  // A video whose file name is markup.
  const std::string markup_video = dir.file("videos") + "/<script>alert(1).mp4";
  fs::copy_file(media("realshort.mp4"), markup_video);
  std::ofstream manifest(dir.file("m.jsonl"));
  const std::vector<std::string> ids = {"../../escape", "/tmp/absolute-id", std::string("nul\0byte", 8), "..", "a/../../b"};
  for (const std::string& id : ids) {
    manifest << json{{"id", id}, {"video", markup_video}, {"question", "What?"}}.dump() << '\n';
  }
  manifest << json{{"id", "traversal-video"}, {"video", dir.file("videos") + "/../../../etc/passwd"}, {"question", "What?"}}.dump() << '\n';
  manifest.close();
  const std::set<std::string> before = tree(dir.path());
  const CmdResult r = smolvid("batch " + shell_quote(dir.file("m.jsonl")) + " --out " + shell_quote(dir.file("out/results.jsonl")) +
                                  " --max-frames 1 --progress never " + tiny_args(2),
                              dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> added;
  for (const std::string& f : tree(dir.path())) {
    if (!before.count(f) && f.rfind("stdout", 0) != 0 && f.rfind("stderr", 0) != 0 && f.rfind("hf/", 0) != 0) added.insert(f);
  }
  EXPECT_EQ(added, (std::set<std::string>{"out/results.jsonl"})) << "batch wrote outside its results file";
  const std::map<std::string, int> got = result_ids(dir.file("out/results.jsonl"));
  for (const std::string& id : ids) EXPECT_EQ(got.count(id), 1u) << "id not kept verbatim: " << id;
  EXPECT_FALSE(fs::exists("/tmp/absolute-id"));

  // Summary HTML and search HTML show the markup as text.
  const std::string html = dir.file("out/summary.html");
  const CmdResult s = smolvid("summarize " + shell_quote(markup_video) + " --segment 30s --out " + shell_quote(html) + " " + tiny_args(), dir);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  const std::string page = read_file(html);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(1)"), std::string::npos);
  EXPECT_EQ(html_problem(html, dir), "");
  const std::string db = dir.file("out/index.sqlite");
  const CmdResult idx = smolvid("index " + shell_quote(markup_video) + " --camera '<b>cam\"</b>' --db " + shell_quote(db) + " " + tiny_args(), dir);
  ASSERT_EQ(idx.exit_code, 0) << idx.err;
  const CmdResult search = smolvid("search " + shell_quote(db) + " --html", dir);
  ASSERT_EQ(search.exit_code, 0) << search.err;
  EXPECT_EQ(search.out.find("<script"), std::string::npos);
  EXPECT_EQ(search.out.find("<b>cam"), std::string::npos);
  EXPECT_NE(search.out.find("&lt;b&gt;cam&quot;&lt;/b&gt;"), std::string::npos);
}

}  // namespace
}  // namespace smolvid::test
