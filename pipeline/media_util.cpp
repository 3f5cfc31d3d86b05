#include "pipeline/media_util.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace smolvid::pipeline {

std::vector<uint8_t> encode_jpeg(const decode::Frame& frame, int max_side, int quality) {
  if (frame.width <= 0 || frame.height <= 0 || (frame.channels != 3 && frame.channels != 1) ||
      frame.pixels.size() != static_cast<size_t>(frame.width) * frame.height * frame.channels) {
    throw OutputError(fmt::format("encode_jpeg: frame at {:.3f} s is not a valid RGB24/GRAY8 image "
                                  "({}x{}x{}, {} bytes)", frame.pts_seconds, frame.width, frame.height,
                                  frame.channels, frame.pixels.size()));
  }
  if (quality < 1 || quality > 100) throw OutputError(fmt::format("encode_jpeg: quality {} not in [1, 100]", quality));
  const int type = frame.channels == 3 ? CV_8UC3 : CV_8UC1;
  cv::Mat src(frame.height, frame.width, type, const_cast<uint8_t*>(frame.pixels.data()));
  cv::Mat img;
  if (frame.channels == 3) {
    cv::cvtColor(src, img, cv::COLOR_RGB2BGR);
  } else {
    img = src;
  }
  const int longer = std::max(frame.width, frame.height);
  if (max_side > 0 && longer > max_side) {
    const double scale = static_cast<double>(max_side) / longer;
    const int w = std::max(1, static_cast<int>(std::lround(frame.width * scale)));
    const int h = std::max(1, static_cast<int>(std::lround(frame.height * scale)));
    cv::Mat small;
    cv::resize(img, small, cv::Size(w, h), 0, 0, cv::INTER_AREA);
    img = small;
  }
  std::vector<uint8_t> out;
  if (!cv::imencode(".jpg", img, out, {cv::IMWRITE_JPEG_QUALITY, quality})) {
    throw OutputError(fmt::format("encode_jpeg: OpenCV could not encode the frame at {:.3f} s", frame.pts_seconds));
  }
  return out;
}

std::string base64_encode(const std::vector<uint8_t>& bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t{bytes[i]} << 16;
    if (rest == 2) v |= uint32_t{bytes[i + 1]} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

int64_t to_millis(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) {
    throw OutputError(fmt::format("time {} s is not a finite, non-negative number of seconds", seconds));
  }
  if (seconds > 9.0e12) {  // beyond this, milliseconds no longer fit in 64 bits
    throw OutputError(fmt::format("time {} s is too large (at most 9e12 s)", seconds));
  }
  return static_cast<int64_t>(std::llround(seconds * 1000.0));
}

std::string format_clock(double seconds, char decimal) {
  const int64_t ms = to_millis(seconds);
  return fmt::format("{:02d}:{:02d}:{:02d}{}{:03d}", ms / 3600000, (ms / 60000) % 60, (ms / 1000) % 60, decimal, ms % 1000);
}

}  // namespace smolvid::pipeline
