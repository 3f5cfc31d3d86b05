// util/file.h: reading a whole file into memory.
//
// Usage:
//   const std::string text = smolvid::util::read_file("config.json");   // bytes as stored
#pragma once

#include <stdexcept>
#include <string>

namespace smolvid::util {

class FileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The file's bytes, unchanged (binary mode). Throws FileError "cannot read 'PATH': REASON" when
// it cannot be opened or read (REASON from errno: "No such file or directory", "Is a directory").
std::string read_file(const std::string& path);

}  // namespace smolvid::util
