// decode/converter.h: decoded AVFrame -> RGB24/GRAY8 in display orientation, through an
// in-process libavfilter graph (internal to smolvid_decode).
//
// The chain is the one the ffmpeg CLI builds for the same job, so pixels equal what
// `ffmpeg -i FILE [-vf ...] -pix_fmt rgb24` prints (same filters, same swscale flags "bicubic"):
//   buffer -> [yadif] -> [transpose=clock | hflip,vflip | transpose=cclock] -> [scale=W:H]
//          -> format=rgb24|gray -> buffersink
// The graph is rebuilt when the input size, pixel format or sample aspect ratio changes
// (res_change_mid.ts); the old graph is flushed first so no frame is lost.
// Frames go through 1:1 (yadif in its default send_frame mode keeps the count), so each pushed
// frame carries a FrameMeta that comes back with its converted output, in order.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "decode/ffmpeg.h"

namespace smolvid::decode {

struct FrameMeta {
  double pts_seconds = 0.0;
  int64_t index = 0;
  bool keyframe = false;
  bool pts_derived = false;
  // How many times the converted frame is handed out (decode_at: once per requested time that
  // maps to it; 0 = converted only to keep yadif's temporal neighbours).
  int emit_count = 1;
};

struct ConverterSpec {
  PixelFormat pixel_format = PixelFormat::kRgb24;
  int rotation_degrees = 0;  // clockwise, 0/90/180/270
  bool apply_sar = true;
  bool deinterlace = false;  // the stream is interlaced and the caller wants it deinterlaced
  int max_side = 0;
  AVRational time_base{1, 1};
  AVRational stream_sar{0, 1};  // used when a frame carries none
};

// Called with each converted frame and its meta; returns false to stop.
using ConvertedCallback = std::function<bool(const AVFrame&, const FrameMeta&)>;

class FrameConverter {
 public:
  FrameConverter(std::string path, ConverterSpec spec);

  // True when output lags input (yadif needs the next frame): then every frame of a run must be
  // pushed, not only the ones handed out.
  bool has_delay() const { return spec_.deinterlace; }

  // Pushes one decoded frame. Returns false when the callback asked to stop.
  bool push(const AVFrame& frame, const FrameMeta& meta, const ConvertedCallback& out);
  // Ends the current run (end of stream, or before a seek): drains pending frames, drops the graph.
  bool flush(const ConvertedCallback& out);
  // Drops the graph and the pending metas without output.
  void reset();

  // The filter chain of the current graph (empty before the first frame), e.g.
  // "yadif,transpose=clock,format=pix_fmts=rgb24".
  const std::string& chain() const { return chain_; }

 private:
  void build(const AVFrame& frame);
  bool drain(const ConvertedCallback& out);

  std::string path_;
  ConverterSpec spec_;
  ff::FilterGraphPtr graph_;
  AVFilterContext* src_ = nullptr;
  AVFilterContext* sink_ = nullptr;
  int in_width_ = 0, in_height_ = 0, in_format_ = -1;
  AVRational in_sar_{0, 1};
  std::string chain_;
  std::deque<FrameMeta> pending_;
  ff::FramePtr out_;
};

// Copies a converted (RGB24 or GRAY8) AVFrame into a tightly packed Frame.
Frame to_frame(const AVFrame& converted, const FrameMeta& meta);

}  // namespace smolvid::decode
