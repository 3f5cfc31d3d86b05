// Fuzzes FFmpeg demuxing and decoding of arbitrary bytes through decode/'s in-memory input (a
// custom AVIOContext): VideoReader opens the bytes, probes them and decodes frames, or throws
// DecodeError. Work per input is bounded (frames scaled to 64 px, at most 32 frames decoded, one
// codec thread); libFuzzer's -timeout and -rss_limit_mb bound the rest.
#include <memory>
#include <vector>

#include "decode/video_reader.h"
#include "tests/fuzz/fuzz_util.h"

using namespace smolvid::decode;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = std::make_shared<const std::vector<uint8_t>>(data, data + size);
  ReaderOptions options;
  options.threads = 1;
  options.max_side = 64;
  try {
    VideoReader reader(MemoryInput{"fuzz input", bytes}, options);
    const MediaInfo& info = reader.probe();
    FUZZ_CHECK(info.video_stream_index >= 0, "probe without a video stream");
    int frames = 0;
    reader.decode_all([&](const Frame& f) {
      FUZZ_CHECK(f.width > 0 && f.height > 0 && f.width <= 64 && f.height <= 64, "frame %dx%d", f.width, f.height);
      return ++frames < 32;
    });
    if (!info.keyframe_times.empty()) {
      reader.decode_at({info.keyframe_times.front(), info.keyframe_times.back()}, SeekMode::kExact,
                       [](const Frame&) { return true; });
    }
  } catch (const DecodeError&) {
  }
  return 0;
}
