// pipeline/media_util.h: small helpers shared by the report writers (summaries, search results):
// base64, HTML escaping and millisecond times (JPEG thumbnails: sampler/image.h; text times:
// util/time_format.h).
//
// Usage:
//   std::vector<uint8_t> jpg = smolvid::sampler::encode_jpeg(frame, 320);   // longer side <= 320
//   std::string uri = "data:image/jpeg;base64," + smolvid::pipeline::base64_encode(jpg);
//   smolvid::pipeline::to_millis(3725.5);      // 3725500
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "decode/frame.h"

namespace smolvid::pipeline {

class OutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Standard base64 (RFC 4648, with '=' padding), as used in data: URIs.
std::string base64_encode(const std::vector<uint8_t>& bytes);

// Escapes & < > " ' for use in HTML text and attribute values.
std::string html_escape(const std::string& text);

// Milliseconds, rounded to nearest, for chapter/subtitle timestamps.
int64_t to_millis(double seconds);

}  // namespace smolvid::pipeline
