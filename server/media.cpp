#include "server/media.h"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

#include "pipeline/jobs.h"
#include "server/api_error.h"

namespace fs = std::filesystem;

namespace smolvid::server {
namespace {

bool inside(const fs::path& dir, const fs::path& path) {
  auto d = dir.begin(), p = path.begin();
  for (; d != dir.end(); ++d, ++p) {
    if (p == path.end() || *d != *p) return false;
  }
  return true;
}

std::string lower_ext(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext;
}

}  // namespace

MediaDirs::MediaDirs(const std::vector<std::string>& dirs) {
  for (const std::string& d : dirs) {
    std::error_code ec;
    if (!fs::is_directory(d, ec)) throw std::invalid_argument(fmt::format("--media-dir {}: not a directory", d));
    dirs_.push_back(fs::canonical(d).string());
  }
}

std::string MediaDirs::resolve(const std::string& path_or_url, const std::string& param) const {
  std::string p = path_or_url;
  if (p.rfind("file://", 0) == 0) {
    p = p.substr(7);
  } else if (p.find("://") != std::string::npos) {
    throw bad_request(fmt::format("{}: only data: URLs, file:// URLs and paths inside the media folders are accepted; the server "
                                  "does not fetch '{}'",
                                  param, p.substr(0, p.find("://") + 3)),
                      param);
  }
  if (p.empty()) throw bad_request(fmt::format("{}: empty path", param), param);
  if (dirs_.empty()) {
    throw ApiError(403, fmt::format("{}: '{}': the server has no --media-dir, so it reads no files", param, p), "permission_error", param);
  }
  fs::path path(p);
  if (path.is_relative()) path = fs::path(dirs_.front()) / path;
  std::error_code ec;
  const fs::path full = fs::weakly_canonical(path, ec);
  const bool allowed = !ec && std::any_of(dirs_.begin(), dirs_.end(), [&](const std::string& d) { return inside(d, full); });
  if (!allowed) throw ApiError(403, fmt::format("{}: '{}' is outside the media folders", param, p), "permission_error", param);
  if (!fs::is_regular_file(full, ec)) throw ApiError(404, fmt::format("{}: '{}': no such file", param, p), "invalid_request_error", param);
  return full.string();
}

bool is_video_name(const std::string& path) {
  static const char* const kExts[] = {".mp4", ".mkv", ".webm", ".mov", ".avi", ".mpg", ".mpeg", ".m4v", ".ts", ".gif", ".flv", ".wmv"};
  const std::string ext = lower_ext(path);
  return std::any_of(std::begin(kExts), std::end(kExts), [&](const char* e) { return ext == e; });
}

std::vector<std::string> MediaDirs::list_media(size_t limit) const {
  std::vector<std::string> out;
  for (const std::string& d : dirs_) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(d, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator() && out.size() < limit; it.increment(ec)) {
      if (ec) break;
      const std::string path = it->path().string();
      if (it->is_regular_file(ec) && (is_video_name(path) || pipeline::is_image_path(path))) out.push_back(path);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool is_data_url(const std::string& url) { return url.rfind("data:", 0) == 0; }

std::vector<uint8_t> decode_data_url(const std::string& url, const std::string& param) {
  const size_t comma = url.find(',');
  if (!is_data_url(url) || comma == std::string::npos) throw bad_request(fmt::format("{}: not a data: URL", param), param);
  const std::string header = url.substr(5, comma - 5);
  if (header.size() < 7 || header.compare(header.size() - 7, 7, ";base64") != 0) {
    throw bad_request(fmt::format("{}: data: URL must be base64 (data:<mime>;base64,...)", param), param);
  }
  static const auto kTable = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
    t['-'] = 62;  // base64url
    t['_'] = 63;
    return t;
  }();
  std::vector<uint8_t> out;
  out.reserve((url.size() - comma) * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = comma + 1; i < url.size(); ++i) {
    const char c = url[i];
    if (c == '=') break;
    if (c == '\n' || c == '\r' || c == ' ') continue;
    const int8_t v = kTable[static_cast<uint8_t>(c)];
    if (v < 0) throw bad_request(fmt::format("{}: invalid base64 character at offset {}", param, i - comma - 1), param);
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
    }
  }
  if (out.empty()) throw bad_request(fmt::format("{}: the data: URL holds no bytes", param), param);
  return out;
}

decode::Frame decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& param) {
  cv::Mat bgr;
  try {
    bgr = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<uint8_t*>(bytes.data())), cv::IMREAD_COLOR);
  } catch (const cv::Exception&) {
    bgr = cv::Mat();
  }
  if (bgr.empty()) throw bad_request(fmt::format("{}: the {} bytes are not an image that can be decoded (JPEG, PNG, WebP, BMP, TIFF)", param, bytes.size()), param);
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  decode::Frame f;
  f.width = rgb.cols;
  f.height = rgb.rows;
  f.channels = 3;
  f.pixels.resize(static_cast<size_t>(f.width) * f.height * 3);
  for (int y = 0; y < f.height; ++y) std::copy_n(rgb.ptr<uint8_t>(y), static_cast<size_t>(f.width) * 3, f.pixels.data() + static_cast<size_t>(y) * f.width * 3);
  return f;
}

}  // namespace smolvid::server
