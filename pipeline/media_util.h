// pipeline/media_util.h: small helpers shared by the report writers (summaries, search results):
// JPEG thumbnails, base64, HTML escaping and time formatting.
//
// Usage:
//   std::vector<uint8_t> jpg = smolvid::pipeline::encode_jpeg(frame, 320);   // longer side <= 320
//   std::string uri = "data:image/jpeg;base64," + smolvid::pipeline::base64_encode(jpg);
//   smolvid::pipeline::format_clock(3725.5);   // "01:02:05.500"
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

// JPEG of an RGB24 or GRAY8 frame, scaled down (area interpolation) so that its longer side is at
// most max_side pixels (0 = keep the size). quality in [1, 100]. Throws OutputError on an empty or
// inconsistent frame.
std::vector<uint8_t> encode_jpeg(const decode::Frame& frame, int max_side = 320, int quality = 80);

// Standard base64 (RFC 4648, with '=' padding), as used in data: URIs.
std::string base64_encode(const std::vector<uint8_t>& bytes);

// Escapes & < > " ' for use in HTML text and attribute values.
std::string html_escape(const std::string& text);

// "HH:MM:SS.mmm" (hours at least two digits); `decimal` is the separator before the
// milliseconds ('.' for WebVTT and text, ',' for SRT). Negative or non-finite seconds throw.
std::string format_clock(double seconds, char decimal = '.');

// Milliseconds, rounded to nearest, for chapter/subtitle timestamps.
int64_t to_millis(double seconds);

}  // namespace smolvid::pipeline
