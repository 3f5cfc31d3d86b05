// decode/live_source.h: a live camera (rtsp://, http(s):// streams FFmpeg opens, or a file paced
// as if live) read for as long as it runs: reconnects with capped exponential backoff after a
// dropped connection, a server restart or a stall, and keeps a short ring of packets so an event's
// video can be saved by stream copy from the keyframe before it (pre-roll).
//
// Usage:
//   smolvid::decode::LiveSource cam("rtsp://127.0.0.1:8554/door", LiveSourceOptions{});
//   std::atomic<bool> stop{false};
//   LiveSource::Callbacks cb;
//   cb.on_frame = [&](const LiveFrame& f) {          // analysis_fps frames per second
//     if (f.stream_s > 10 && !cam.clip_open()) cam.start_clip("/clips/e1.mp4", f.stream_s - 2);
//     return true;                                    // false stops run()
//   };
//   cb.on_disconnected = [](const Disconnect& d) { std::puts(d.cause.c_str()); };
//   cam.run(stop, cb);                                // returns on stop, at a file's end, or throws
//
// Times: `stream_s` is the camera's own continuous timeline in seconds: 0 at the first frame of
// the first session, advancing with the stream's timestamps; across a reconnect it advances by the
// wall-clock time spent disconnected, so events of different sessions never overlap. Wall-clock
// times are Unix seconds, from the stream's RTCP sender reports where FFmpeg reports them
// (AVFormatContext::start_time_realtime; source "rtcp"), else from this machine's clock when the
// session's first frame arrived plus the stream's timestamps (source "receive").
// Faults: a failed open, a read error, the end of a network stream and a stall (no packet for
// stall_timeout_s) end the session; run() reports it through on_disconnected and reconnects after
// backoff_initial_s, doubling up to backoff_max_s (reset after a session that delivered frames).
// Inputs that can never work (a missing file, an unknown protocol, no video stream) throw
// DecodeError instead. A file input ends run() at its end (no reconnect).
// Threading: run() and the clip calls happen on one thread (the callbacks run on it); `stop` may
// be set from any thread (a signal handler included) and interrupts blocking network reads.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "decode/frame.h"
#include "decode/video_reader.h"

namespace smolvid::decode {

struct LiveSourceOptions {
  std::string rtsp_transport = "tcp";  // rtsp:// only: "tcp" (interleaved) or "udp"
  double open_timeout_s = 10.0;        // connecting and reading the stream parameters
  double stall_timeout_s = 10.0;       // no packet for this long ends the session (> 0)
  double backoff_initial_s = 1.0;      // first wait before reconnecting (> 0)
  double backoff_max_s = 30.0;         // the wait doubles up to this (>= backoff_initial_s)
  bool realtime = false;               // files: deliver packets at the pace of their timestamps
  double analysis_fps = 5.0;           // frames handed to on_frame per second of stream (0 = all)
  int analysis_side = 128;             // longer side of the GRAY8 analysis frame (> 0)
  int picture_side = 512;              // longer side of the RGB24 picture (captions, thumbnails);
                                       // 0 = no picture
  int threads = 1;                     // decoder threads
  double preroll_s = 2.0;              // packets kept for clips: from the keyframe at or before
                                       // now - preroll_s
  int max_ring_packets = 4000;         // hard cap of the packet ring (streams with rare keyframes)
};

// One analysis frame of a session.
struct LiveFrame {
  Frame analysis;                       // GRAY8, longer side <= analysis_side
  Frame picture;                        // RGB24, longer side <= picture_side (empty when 0)
  int session = 0;                      // 1 for the first connection, +1 per reconnect
  double stream_s = 0.0;                // camera timeline (see above); also in the frames' pts_seconds
  double wall_s = 0.0;                  // Unix seconds
  const char* wall_source = "receive";  // "rtcp" | "receive"
};

struct SessionInfo {
  int session = 0;
  std::string codec;                    // e.g. "h264"
  int width = 0, height = 0;
  double fps = 0.0;                     // header rate (0 = unknown)
  double stream_offset_s = 0.0;         // stream_s of this session's first frame
};

struct Disconnect {
  int session = 0;                      // 0 when the connection never came up
  std::string cause;                    // one line, e.g. "stalled: no packet for 10 s"
  bool frames_seen = false;             // the session delivered at least one frame
  double retry_in_s = 0.0;
};

class LiveSource {
 public:
  LiveSource(std::string url, LiveSourceOptions options = {});
  ~LiveSource();
  LiveSource(const LiveSource&) = delete;
  LiveSource& operator=(const LiveSource&) = delete;

  struct Callbacks {
    std::function<void(const SessionInfo&)> on_connected;
    std::function<bool(const LiveFrame&)> on_frame;       // false stops run()
    std::function<void(const Disconnect&)> on_disconnected;
  };
  // Reads until `stop` is set, on_frame returns false, or a file input ends. Throws DecodeError
  // for inputs that can never be read (see above) and for bad options.
  void run(const std::atomic<bool>& stop, const Callbacks& callbacks);

  // Clips (call from the callbacks): starts an MP4 at the keyframe at or before from_stream_s
  // that is still in the ring (the oldest one otherwise), then appends every packet run() reads
  // until finish_clip() or the end of the session. Throws DecodeError naming the path.
  void start_clip(const std::string& path, double from_stream_s);
  // Writes the trailer; returns the path of the clip that was open (nullopt if none).
  std::optional<std::string> finish_clip();
  bool clip_open() const;

  // True for a local file path (no scheme, or file:).
  static bool is_file_input(const std::string& url);
  // The URL with any user:password@ removed, for logs and the database.
  static std::string redact(const std::string& url);
  const std::string& url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace smolvid::decode
