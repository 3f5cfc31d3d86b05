// server/web_assets.h: the files of web/ (index.html, app.js, style.css), compiled into the binary
// at build time by server/embed_web.cmake, so `smolvid serve` needs no files beside the executable.
#pragma once

#include <string_view>
#include <vector>

namespace smolvid::server {

struct WebAsset {
  std::string_view name;       // "index.html"
  std::string_view mime;       // "text/html" (the files are UTF-8)
  std::string_view bytes;
};

const std::vector<WebAsset>& web_assets();

}  // namespace smolvid::server
