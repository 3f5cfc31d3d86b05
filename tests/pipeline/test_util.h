// tests/pipeline/test_util.h: temporary folders, whole-file I/O and running CLI tools (ffmpeg,
// ffprobe, python3) from the pipeline tests.
#pragma once

#include <sys/wait.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>
#include <vector>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>

namespace smolvid::test {

// A fresh folder under $TMPDIR (default /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::random_device rd;
    for (int attempt = 0; attempt < 100; ++attempt) {
      path_ = std::filesystem::path(base && *base ? base : "/tmp") / ("smolvid-test-" + std::to_string(rd()));
      if (std::filesystem::create_directory(path_)) return;
    }
    throw std::runtime_error("TempDir: could not create a temporary folder");
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
  if (!out) throw std::runtime_error("cannot write " + path);
}

// Every non-void element closes in order; returns "" or the first problem. (A hand scanner: the
// base64 attributes are too long for std::regex's recursive matcher.)
inline std::string tag_balance_problem(const std::string& html) {
  static const std::set<std::string> kVoid = {"area", "base", "br", "col", "embed", "hr", "img", "input",
                                              "link", "meta", "source", "track", "wbr"};
  std::vector<std::string> stack;
  size_t pos = 0;
  while ((pos = html.find('<', pos)) != std::string::npos) {
    size_t i = pos + 1;
    const bool closing = i < html.size() && html[i] == '/';
    if (closing) ++i;
    size_t name_end = i;
    while (name_end < html.size() && std::isalnum(static_cast<unsigned char>(html[name_end]))) ++name_end;
    if (name_end == i) return "stray '<' at offset " + std::to_string(pos);
    std::string name = html.substr(i, name_end - i);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    // Attributes: quoted values may not contain '"'; the tag ends at the first '>' outside quotes.
    bool in_quotes = false;
    size_t k = name_end;
    for (; k < html.size(); ++k) {
      if (html[k] == '"') in_quotes = !in_quotes;
      else if (html[k] == '>' && !in_quotes) break;
      else if (html[k] == '<') return "'<' inside tag <" + name + ">";
    }
    if (k == html.size()) return "<" + name + " never ends";
    if (closing) {
      if (stack.empty() || stack.back() != name) return "</" + name + "> closes " + (stack.empty() ? "nothing" : stack.back());
      stack.pop_back();
    } else if (!kVoid.count(name)) {
      stack.push_back(name);
    }
    pos = k + 1;
  }
  if (!stack.empty()) return "<" + stack.back() + "> never closed";
  return "";
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout (stderr too when the command redirects it)
};

// Runs `command` through /bin/sh and captures its stdout.
inline CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + command);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

}  // namespace smolvid::test

#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <vector>

extern char** environ;

namespace smolvid::test {

// A child process (e.g. scripts/hub_server.py) whose stdout's first line is read back; killed and
// reaped on destruction.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
      close(fds[0]);
      throw std::runtime_error("cannot start " + argv[0]);
    }
    out_ = fdopen(fds[0], "r");
  }
  ~ChildProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status;
      waitpid(pid_, &status, 0);
    }
    if (out_) fclose(out_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Blocks until the child prints a line (or exits: then "").
  std::string read_line() {
    std::string line;
    int c;
    while ((c = fgetc(out_)) != EOF && c != '\n') line += static_cast<char>(c);
    return line;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

}  // namespace smolvid::test
