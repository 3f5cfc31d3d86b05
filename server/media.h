// server/media.h: what a request may read from the server's disk, and turning request media into
// frames. Paths are allowed only inside the --media-dir folders (after resolving symlinks and
// "..", so a request cannot step outside); data: URLs carry the bytes inline.
//
// Usage:
//   MediaDirs dirs({"/srv/videos"});
//   std::string path = dirs.resolve("file:///srv/videos/a.mp4", "messages[0].content[1].video_url");
//   decode::Frame f = decode_image_bytes(bytes, "image_url");     // throws ApiError 400
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "decode/frame.h"

namespace smolvid::server {

class MediaDirs {
 public:
  // Each folder must exist; throws std::invalid_argument naming the one that does not.
  explicit MediaDirs(const std::vector<std::string>& dirs);

  // A request's path ("/abs/path", "file:///abs/path", or a path relative to the first folder)
  // resolved to the canonical path of an existing regular file inside one of the folders.
  // Throws ApiError: 403 outside every folder (or none configured), 404 no such file, 400 for a
  // remote URL (the server fetches nothing from the network). `param` names the request field.
  std::string resolve(const std::string& path_or_url, const std::string& param) const;

  // Video and image files in the folders (recursively, at most `limit`), as canonical paths.
  std::vector<std::string> list_media(size_t limit = 2000) const;

  const std::vector<std::string>& dirs() const { return dirs_; }

 private:
  std::vector<std::string> dirs_;  // canonical
};

// A data: URL ("data:image/jpeg;base64,....") -> its bytes; throws ApiError 400 naming `param`.
std::vector<uint8_t> decode_data_url(const std::string& url, const std::string& param);
bool is_data_url(const std::string& url);

// An encoded image (JPEG, PNG, WebP, BMP, TIFF) -> an upright RGB24 frame; 400 naming `param` when
// the bytes are not an image OpenCV can decode.
decode::Frame decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& param);

// True for file names that look like videos or images by extension.
bool is_video_name(const std::string& path);

}  // namespace smolvid::server
