// tests/cli/cli_util.h: running the built smolvid binary and the independent checkers (ffprobe,
// ffmpeg, python3) from the end-to-end tests.
#pragma once

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/test_files.h"
#include "tests/test_support.h"

extern char** environ;

namespace smolvid::test {

struct CmdResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs a shell command line, capturing stdout and stderr separately (through files in `dir`).
inline CmdResult run_shell(const std::string& command, const TempDir& dir) {
  static int counter = 0;
  const std::string out = dir.file("stdout" + std::to_string(counter)), err = dir.file("stderr" + std::to_string(counter));
  ++counter;
  const int status = std::system(("(" + command + ") >" + shell_quote(out) + " 2>" + shell_quote(err)).c_str());
  CmdResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

// Parses a batch results file: every line complete JSON with status ok or error; returns id -> count.
inline std::map<std::string, int> result_ids(const std::string& path) {
  std::map<std::string, int> ids;
  const std::string text = read_file(path);
  EXPECT_TRUE(text.empty() || text.back() == '\n') << path << " ends with a partial line";
  size_t start = 0;
  for (size_t nl = text.find('\n'); nl != std::string::npos; start = nl + 1, nl = text.find('\n', start)) {
    const nlohmann::json line = nlohmann::json::parse(text.substr(start, nl - start));  // throws on a torn line
    ++ids[line["id"].get<std::string>()];
    EXPECT_TRUE(line["status"] == "ok" || line["status"] == "error") << line.dump();
  }
  return ids;
}

// Starts `command` under /bin/sh without waiting (exec'd, so the pid is the command's own).
inline pid_t spawn_shell(const std::string& command) {
  const std::string exec = "exec " + command;
  const char* argv[] = {"/bin/sh", "-c", exec.c_str(), nullptr};
  pid_t pid = -1;
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char* const*>(argv), environ) != 0) return -1;
  return pid;
}

// `smolvid ARGS` (ARGS already quoted where needed), with a clean Hugging Face environment: the
// cache is inside `dir` and the network is off, so no test can reach the Hub.
inline CmdResult smolvid(const std::string& args, const TempDir& dir, const std::string& env = "") {
  return run_shell("env -u HF_HUB_CACHE -u SMOLVID_MODEL HF_HUB_OFFLINE=1 HF_HOME=" + shell_quote(dir.file("hf")) + " " + env + " " +
                       shell_quote(smolvid_binary()) + " " + args,
                   dir);
}

inline size_t count_lines(const std::string& text) {
  size_t n = 0;
  for (char c : text) n += c == '\n';
  return n;
}

// ffprobe's container duration of a media file, in seconds.
inline double ffprobe_duration(const std::string& path, const TempDir& dir) {
  const CmdResult r = run_shell("ffprobe -v error -show_entries format=duration -of csv=p=0 " + shell_quote(path), dir);
  if (r.exit_code != 0) throw std::runtime_error("ffprobe failed on " + path + ": " + r.err);
  return std::stod(r.out);
}

// The average frame interval of the first video stream (1 / avg_frame_rate), in seconds.
inline double ffprobe_frame_interval(const std::string& path, const TempDir& dir) {
  const CmdResult r = run_shell("ffprobe -v error -select_streams v:0 -show_entries stream=avg_frame_rate -of csv=p=0 " + shell_quote(path), dir);
  const size_t slash = r.out.find('/');
  if (r.exit_code != 0 || slash == std::string::npos) throw std::runtime_error("ffprobe frame rate failed on " + path);
  return std::stod(r.out.substr(slash + 1)) / std::stod(r.out.substr(0, slash));
}

// "" when the HTML document is well-formed (every non-void element closed in order, checked by
// Python's html.parser), else the problem.
inline std::string html_problem(const std::string& html_path, const TempDir& dir) {
  const std::string script = R"PY(
import sys
from html.parser import HTMLParser
VOID = {"area","base","br","col","embed","hr","img","input","link","meta","source","track","wbr"}
class P(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True); self.stack = []; self.problem = None; self.doctype = False
    def handle_decl(self, d): self.doctype = self.doctype or d.lower().startswith("doctype html")
    def handle_starttag(self, t, a):
        if t not in VOID: self.stack.append(t)
    def handle_endtag(self, t):
        if self.problem: return
        if not self.stack or self.stack[-1] != t: self.problem = "</%s> closes %s" % (t, self.stack[-1] if self.stack else "nothing")
        else: self.stack.pop()
p = P(); p.feed(open(sys.argv[1], encoding="utf-8").read()); p.close()
if not p.doctype: print("no <!DOCTYPE html>")
elif p.problem: print(p.problem)
elif p.stack: print("<%s> never closed" % p.stack[-1])
)PY";
  write_file(dir.file("html_check.py"), script);
  const CmdResult r = run_shell("/usr/bin/python3 " + shell_quote(dir.file("html_check.py")) + " " + shell_quote(html_path), dir);
  if (r.exit_code != 0) return "python3 html check failed: " + r.err;
  return r.out;
}

}  // namespace smolvid::test
