#include "pipeline/hashing.h"

#include <fmt/core.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

namespace smolvid::pipeline {

struct Digest::Impl {
  EVP_MD_CTX* ctx = nullptr;
  bool finished = false;
};

Digest::Digest(Kind kind) : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  const EVP_MD* md = kind == Kind::kSha256 ? EVP_sha256() : EVP_sha1();
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx, md, nullptr) != 1) {
    throw HashError("OpenSSL: could not initialise a digest context");
  }
}

Digest::~Digest() { EVP_MD_CTX_free(impl_->ctx); }

void Digest::update(const void* data, size_t size) {
  if (impl_->finished) throw HashError("Digest::update after hex()");
  if (EVP_DigestUpdate(impl_->ctx, data, size) != 1) throw HashError("OpenSSL: digest update failed");
}

std::string Digest::hex() {
  if (impl_->finished) throw HashError("Digest::hex called twice");
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(impl_->ctx, out, &n) != 1) throw HashError("OpenSSL: digest final failed");
  impl_->finished = true;
  std::string hex;
  hex.reserve(n * 2);
  for (unsigned int i = 0; i < n; ++i) hex += fmt::format("{:02x}", out[i]);
  return hex;
}

std::string sha256_hex(const std::string& data) {
  Digest d(Digest::Kind::kSha256);
  d.update(data);
  return d.hex();
}

namespace {

void hash_file_into(Digest& d, const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw HashError(fmt::format("cannot open {} for hashing: {}", path, std::strerror(errno)));
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) d.update(buf.data(), n);
  if (std::ferror(f.get())) throw HashError(fmt::format("read error while hashing {}", path));
}

}  // namespace

std::string sha256_file(const std::string& path) {
  Digest d(Digest::Kind::kSha256);
  hash_file_into(d, path);
  return d.hex();
}

std::string git_blob_sha1_file(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw HashError(fmt::format("cannot stat {} for hashing: {}", path, ec.message()));
  Digest d(Digest::Kind::kSha1);
  const std::string header = fmt::format("blob {}", size);
  d.update(header.c_str(), header.size() + 1);  // includes the terminating NUL
  hash_file_into(d, path);
  return d.hex();
}

}  // namespace smolvid::pipeline
