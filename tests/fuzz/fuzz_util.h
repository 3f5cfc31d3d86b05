// tests/fuzz/fuzz_util.h: what the fuzz harnesses share.
//
// Every harness defines LLVMFuzzerTestOneInput. Built with clang and SMOLVID_FUZZ, it links
// libFuzzer (-fsanitize=fuzzer,address,undefined); with any other compiler it links replay_main.cpp,
// which runs the harness once over each file given (the regression and seed inputs CTest replays).
//
// A harness accepts the documented error of the code under test (its typed exception: bad input
// is allowed to be rejected) and aborts through FUZZ_CHECK on anything else: a broken invariant,
// an unexpected exception type, output that does not parse back.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#define FUZZ_CHECK(cond, ...)                                                      \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                           \
      std::fprintf(stderr, "\n");                                                  \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

namespace smolvid::fuzz {

// Bytes exposed as a file path without touching the disk: an anonymous memfd, reachable through
// /proc/self/fd/N (mmap and stat work on it like on a regular file). Closed by the destructor.
class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size) {
    fd_ = ::memfd_create("smolvid-fuzz", MFD_CLOEXEC);
    FUZZ_CHECK(fd_ >= 0, "memfd_create failed");
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::write(fd_, data + done, size - done);
      FUZZ_CHECK(n > 0, "write to memfd failed");
      done += static_cast<size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// Splits at the first occurrence of `sep`: {before, after} (after empty when absent).
inline std::pair<std::string_view, std::string_view> split_once(std::string_view s, char sep) {
  const size_t pos = s.find(sep);
  if (pos == std::string_view::npos) return {s, {}};
  return {s.substr(0, pos), s.substr(pos + 1)};
}

}  // namespace smolvid::fuzz
