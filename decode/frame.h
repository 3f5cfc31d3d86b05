// decode/frame.h: one decoded video frame, as handed out by smolvid::decode::VideoReader.
// Plain data: no FFmpeg types, so sampler/ and pipeline/ can use it without FFmpeg headers.
#pragma once

#include <cstdint>
#include <vector>

namespace smolvid::decode {

struct Frame {
  int width = 0;
  int height = 0;
  int channels = 3;               // 3 = RGB24, 1 = GRAY8
  std::vector<uint8_t> pixels;    // row-major, tightly packed: height * width * channels bytes
  double pts_seconds = 0.0;       // presentation time on the stream timeline
  int64_t index = 0;              // 0-based position of the frame in presentation order
  bool keyframe = false;
  bool pts_derived = false;       // the stream had no timestamp: derived from the frame rate

  const uint8_t* row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * channels; }
};

}  // namespace smolvid::decode
