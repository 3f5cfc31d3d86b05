#include "util/file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace smolvid::util {

std::string read_file(const std::string& path) {
  const auto fail = [&](int err) { return FileError("cannot read '" + path + "': " + std::strerror(err)); };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw fail(errno);
  struct stat st {};
  if (::fstat(::fileno(f.get()), &st) == 0 && S_ISDIR(st.st_mode)) throw fail(EISDIR);
  std::string text;
  char buf[65536];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, f.get())) > 0) text.append(buf, got);
  if (std::ferror(f.get())) throw fail(errno != 0 ? errno : EIO);
  return text;
}

}  // namespace smolvid::util
