// tests/pipeline/test_util.h: an HTML tag-balance check and a child process with a readable
// stdout (the hub test server), for the pipeline tests; files and commands: tests/test_files.h.
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

#include "tests/test_files.h"

namespace smolvid::test {

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
