// decode/ffmpeg.h: the one place FFmpeg objects get an owner (internal to smolvid_decode; only
// decode/*.cpp include it, so FFmpeg headers never leak into sampler/ or pipeline/).
//
// Every FFmpeg object lives in a std::unique_ptr with a deleter that calls FFmpeg's own free
// function; PacketGuard unreferences a packet at the end of each loop iteration, so a forgotten
// av_packet_unref cannot happen. ffmpeg_error() puts av_strerror's text and the input in every
// DecodeError message.
#pragma once

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <memory>
#include <string>

#include "decode/video_reader.h"

namespace smolvid::decode::ff {

struct FormatContextDeleter {
  void operator()(AVFormatContext* p) const { avformat_close_input(&p); }
};
struct CodecContextDeleter {
  void operator()(AVCodecContext* p) const { avcodec_free_context(&p); }
};
struct PacketDeleter {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameDeleter {
  void operator()(AVFrame* p) const { av_frame_free(&p); }
};
struct SwsContextDeleter {
  void operator()(SwsContext* p) const { sws_freeContext(p); }
};
struct FilterGraphDeleter {
  void operator()(AVFilterGraph* p) const { avfilter_graph_free(&p); }
};
struct DictionaryDeleter {
  void operator()(AVDictionary* p) const { av_dict_free(&p); }
};

// A custom-I/O context owns its buffer (which FFmpeg may have reallocated): free both.
struct AvioContextDeleter {
  void operator()(AVIOContext* p) const {
    av_freep(&p->buffer);
    avio_context_free(&p);
  }
};

using AvioContextPtr = std::unique_ptr<AVIOContext, AvioContextDeleter>;
using FormatContextPtr = std::unique_ptr<AVFormatContext, FormatContextDeleter>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, CodecContextDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using SwsContextPtr = std::unique_ptr<SwsContext, SwsContextDeleter>;
using FilterGraphPtr = std::unique_ptr<AVFilterGraph, FilterGraphDeleter>;
using DictionaryPtr = std::unique_ptr<AVDictionary, DictionaryDeleter>;

// Allocators that throw instead of returning null.
PacketPtr make_packet();
FramePtr make_frame();

// Unreferences the packet when the loop iteration ends (normally, by continue, or by throw).
class PacketGuard {
 public:
  explicit PacketGuard(AVPacket* p) : p_(p) {}
  ~PacketGuard() { av_packet_unref(p_); }
  PacketGuard(const PacketGuard&) = delete;
  PacketGuard& operator=(const PacketGuard&) = delete;

 private:
  AVPacket* p_;
};

// Same for a frame received from the decoder or a buffersink.
class FrameGuard {
 public:
  explicit FrameGuard(AVFrame* f) : f_(f) {}
  ~FrameGuard() { av_frame_unref(f_); }
  FrameGuard(const FrameGuard&) = delete;
  FrameGuard& operator=(const FrameGuard&) = delete;

 private:
  AVFrame* f_;
};

// av_strerror's text for an AVERROR code, e.g. "Invalid data found when processing input".
std::string error_text(int errnum);

// A DecodeError "<path>: <what>: <FFmpeg's text>".
DecodeError ffmpeg_error(const std::string& path, const std::string& what, int errnum);

// Throws ffmpeg_error when errnum < 0; returns errnum otherwise.
int check(int errnum, const std::string& path, const std::string& what);

// Clockwise rotation (0/90/180/270) that makes the stream's frames upright, from its display
// matrix; 0 without one or for angles that are not a multiple of 90 degrees.
int display_rotation(const AVStream* stream);

// FFmpeg's log: silenced by default. Messages from a format or codec context whose `opaque` is a
// registered LogSink go to that sink (the reader turns them into warnings); everything else is
// dropped, unless the environment variable SMOLVID_FFMPEG_LOG is set (then all goes to stderr).
class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void on_ffmpeg_log(int level, const std::string& line) = 0;
};
void install_log_callback();
void register_log_sink(LogSink* sink);
void unregister_log_sink(LogSink* sink);

}  // namespace smolvid::decode::ff
