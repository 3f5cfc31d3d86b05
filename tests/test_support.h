// tests/test_support.h: where the shared data lives, for every test binary.
#pragma once

#include <cstdlib>
#include <string>

namespace smolvid::test {

// ../shared next to the repository (golden fixtures, media, reference configs); the SMOLVID_SHARED
// environment variable overrides it.
inline std::string shared_dir() {
  if (const char* env = std::getenv("SMOLVID_SHARED"); env && *env) return env;
  return SMOLVID_SHARED_DIR;
}
inline std::string media(const std::string& name) { return shared_dir() + "/media/" + name; }
inline std::string golden(const std::string& name) { return shared_dir() + "/golden/" + name; }
inline std::string reference(const std::string& name) { return shared_dir() + "/reference/" + name; }
inline std::string binary_dir() { return SMOLVID_BINARY_DIR; }
inline std::string source_dir() { return SMOLVID_SOURCE_DIR; }

}  // namespace smolvid::test
