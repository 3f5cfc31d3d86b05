// decode/video_reader.h: in-process FFmpeg decoding (no subprocess), the only public header of
// smolvid_decode besides decode/frame.h. Knows nothing of models or sampling policies.
//
// Usage:
//   smolvid::decode::VideoReader reader("clip.mp4");           // throws DecodeError on bad input
//   const smolvid::decode::MediaInfo& info = reader.probe();   // demux-only facts, with sources
//   reader.decode_keyframes([](const smolvid::decode::Frame& f) {
//     std::printf("%.3f s keyframe\n", f.pts_seconds);
//     return true;                                              // false stops early
//   });
//   const smolvid::decode::DecodeStats& st = reader.stats();   // packets, frames, seeks, ...
//
// Units: times in seconds (double) on the stream's presentation timeline (the container's start
// time is NOT subtracted: cityCC0.mpg's first frame is at 0.54 s, as ffprobe reports). Sizes in
// pixels. Frames are RGB24 (or GRAY8 when asked), tightly packed, in display orientation (display
// matrix rotation applied) with square pixels when `apply_sar` is on.
// Ownership: a Frame owns its pixels; the callback may move nothing out of it but may copy it.
// Threading: one VideoReader is used from one thread at a time; the codec uses frame threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "decode/frame.h"

namespace smolvid::decode {

// Every decode failure: the message names the input and carries FFmpeg's error text.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A value together with where it came from, e.g. {12.5, "header"} or {12.48, "content"}.
// Sources used: "header" (container/stream header), "content" (measured from packets or
// frames), "derived" (computed from other values, e.g. frames / fps), "display-matrix",
// "codec" (codec parameters), "none" (not available; value is the type's default).
template <typename T>
struct Sourced {
  T value{};
  std::string source = "none";
  bool known() const { return source != "none"; }
};

struct AudioStreamInfo {
  int index = -1;
  std::string codec;
  int sample_rate = 0;
  int channels = 0;
};

struct MediaInfo {
  std::string path;
  std::string container;         // FFmpeg demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
  int video_stream_index = -1;
  std::string codec;             // e.g. "h264"
  std::string profile;           // e.g. "High", "" when the codec has none
  std::string pixel_format;      // e.g. "yuv420p"
  int coded_width = 0, coded_height = 0;
  int display_width = 0, display_height = 0;  // rotation and SAR applied
  int rotation_degrees = 0;      // clockwise rotation applied to get upright frames (0/90/180/270)
  int sar_num = 1, sar_den = 1;  // sample aspect ratio
  bool interlaced = false;       // field_order says the stream is interlaced
  bool deinterlaced = false;     // frames come out deinterlaced (yadif): interlaced && options.deinterlace
  std::string field_order;       // "progressive", "tt", "bb", "tb", "bt" or "unknown"
  Sourced<double> fps_header;    // r_frame_rate / avg_frame_rate from the stream header
  double r_frame_rate = 0.0;     // the header's r_frame_rate (0 = absent), as ffprobe prints it
  double avg_frame_rate = 0.0;   // the header's avg_frame_rate (0 = absent)
  Sourced<double> fps_measured;  // frames / time span of the packet timestamps (demux pass)
  Sourced<double> duration;      // header duration, else measured from packets ("content")
  Sourced<double> duration_header;
  Sourced<double> duration_measured;
  Sourced<int64_t> frame_count;  // counted packets ("content") or header nb_frames
  Sourced<int64_t> frame_count_header;  // nb_frames as the header declares it ("none" if absent)
  Sourced<double> start_time;
  Sourced<std::string> creation_time;  // the container's creation_time tag as written (ISO 8601),
                                       // else the video stream's ("header"); when recording began
                                       // or ended is up to the recorder
  std::vector<double> keyframe_times;  // pts (s) of packets with the key flag, demux-only pass
  std::vector<double> frame_times;     // pts (s) of every frame in presentation order (index i ->
                                       // frame i), demux-only pass; derived from the rate for raw streams
  bool timestamps_derived = false;     // no pts in the stream: times come from the frame rate
  bool variable_frame_rate = false;    // measured packet durations are not constant
  bool live = false;                   // network input without a duration or size: values measured cover
                                       // only the first ReaderOptions::live_probe_s seconds and
                                       // only decode_all can be used
  std::vector<AudioStreamInfo> audio_streams;
};

enum class PixelFormat { kRgb24, kGray8 };

struct ReaderOptions {
  int threads = 0;                  // codec frame threads; 0 = cores available to this process
  PixelFormat pixel_format = PixelFormat::kRgb24;
  int max_side = 0;                 // >0: scale so the longer display side is at most this
  bool apply_rotation = true;       // honour the display matrix
  bool apply_sar = true;            // stretch non-square pixels to square
  bool deinterlace = true;          // interlaced streams are deinterlaced (yadif, frame rate kept)
  double network_timeout_s = 10.0;  // rtsp://, http:// open/read timeout
  double live_probe_s = 5.0;        // live streams (network, no duration, no size): probe() reads this many
                                    // seconds of packets instead of the whole (endless) input
};

// Work counters, for tests and benchmarks: sampling 8 keyframes of a long file must not decode
// thousands of frames.
struct DecodeStats {
  int64_t packets_read = 0;     // video packets handed to the decoder or read past (skipped)
  int64_t frames_decoded = 0;   // frames the decoder produced
  int64_t frames_output = 0;    // frames converted and passed to the callback
  int64_t seeks = 0;
  int64_t corrupt_packets = 0;  // packets flagged corrupt or rejected by the decoder
  int64_t decode_errors = 0;
};

// Return false to stop decoding early.
using FrameCallback = std::function<bool(const Frame&)>;

enum class SeekMode {
  kExact,           // seek to the keyframe at or before t, decode forward to the frame at t
  kNearestKeyframe  // take the keyframe nearest to t (no decoding past it)
};

// A whole media file held in memory, read through a custom AVIOContext (no file, no protocol):
// for inputs that arrive as bytes (an upload, a fuzzer). `name` stands for the input in messages.
struct MemoryInput {
  std::string name;
  std::shared_ptr<const std::vector<uint8_t>> bytes;
};

class VideoReader {
 public:
  // Opens a file path or an URL (rtsp://, http://, https://, file://). Throws DecodeError for
  // unopenable inputs and for inputs without a video stream.
  explicit VideoReader(const std::string& path, ReaderOptions options = {});
  // Opens bytes in memory (the reader keeps the shared_ptr); same errors as a file.
  explicit VideoReader(MemoryInput input, ReaderOptions options = {});
  ~VideoReader();
  VideoReader(VideoReader&&) noexcept;
  VideoReader& operator=(VideoReader&&) noexcept;
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  // Demux-only facts (computed on first call by one pass over the packets, no decoding). The pass
  // reads the whole input: on a live stream (an rtsp camera) it returns only when the stream ends.
  // Problems met on the way (truncation, FFmpeg errors) go to warnings().
  const MediaInfo& probe();

  // Every frame in presentation order.
  void decode_all(const FrameCallback& on_frame);
  // Keyframes only; the decoder is told to skip non-key frames and non-key packets are never fed
  // (stats().frames_decoded grows by one per keyframe). Interlaced keyframes are deinterlaced each
  // on its own (yadif sees no neighbours). On raw streams (timestamps_derived) a keyframe's index is
  // its packet's position in decode order, exact for streams without B-frames.
  void decode_keyframes(const FrameCallback& on_frame);
  // The frames shown at the requested times (sorted ascending or not; output is in ascending
  // time order, one frame per distinct requested time: the last frame with pts <= t, or the
  // first frame when t precedes it). Chooses between seeking and one sequential pass from the
  // keyframe layout, so it never decodes more than decode_all would. When several requested times
  // map to the same frame, the callback gets that frame once per time. Seeks are checked (MPEG-PS/TS
  // seek by bisection) and counted in stats().seeks; raw streams without timestamps never seek.
  // kExact frames are bit-identical to the same frames from decode_all, deinterlaced ones included.
  void decode_at(const std::vector<double>& times_s, SeekMode mode, const FrameCallback& on_frame);

  const DecodeStats& stats() const;
  // Non-fatal problems met while decoding (e.g. "truncated: 147 frames decoded, then ...").
  const std::vector<std::string>& warnings() const;
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace smolvid::decode
