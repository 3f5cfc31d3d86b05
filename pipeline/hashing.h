// pipeline/hashing.h: content hashes (OpenSSL) used by the model download (checksums of cached
// blobs) and the index (identity of an indexed file).
//
// Usage:
//   std::string h = smolvid::pipeline::sha256_file("clip.mp4");   // 64 lowercase hex digits
//   smolvid::pipeline::Sha256 acc; acc.update(data, n); std::string hex = acc.hex();
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace smolvid::pipeline {

class HashError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Incremental SHA-256 or SHA-1 (one object per digest; hex() finishes it).
class Digest {
 public:
  enum class Kind { kSha256, kSha1 };
  explicit Digest(Kind kind);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void update(const void* data, size_t size);
  void update(const std::string& data) { update(data.data(), data.size()); }
  std::string hex();  // lowercase hex; the digest cannot be updated afterwards

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string sha256_hex(const std::string& data);
// Whole file, streamed; throws HashError naming the file when it cannot be read.
std::string sha256_file(const std::string& path);
// Git's blob id of a file: SHA-1 of "blob <size>\0" + content (the Hub's ETag of non-LFS files).
std::string git_blob_sha1_file(const std::string& path);

}  // namespace smolvid::pipeline
