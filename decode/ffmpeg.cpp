// decode/ffmpeg.cpp: allocation, error text and log routing for decode/ffmpeg.h.
#include "decode/ffmpeg.h"

#include <fmt/core.h>

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <unordered_set>

namespace smolvid::decode::ff {

PacketPtr make_packet() {
  PacketPtr p(av_packet_alloc());
  if (!p) throw DecodeError("av_packet_alloc: out of memory");
  return p;
}

FramePtr make_frame() {
  FramePtr f(av_frame_alloc());
  if (!f) throw DecodeError("av_frame_alloc: out of memory");
  return f;
}

std::string error_text(int errnum) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  if (av_strerror(errnum, buf, sizeof(buf)) < 0) return fmt::format("FFmpeg error {}", errnum);
  return buf;
}

DecodeError ffmpeg_error(const std::string& path, const std::string& what, int errnum) {
  return DecodeError(fmt::format("{}: {}: {}", path, what, error_text(errnum)));
}

int check(int errnum, const std::string& path, const std::string& what) {
  if (errnum < 0) throw ffmpeg_error(path, what, errnum);
  return errnum;
}

int display_rotation(const AVStream* stream) {
  const uint8_t* matrix = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, nullptr);
  if (!matrix) return 0;
  double theta = -av_display_rotation_get(reinterpret_cast<const int32_t*>(matrix));
  if (std::isnan(theta)) return 0;
  theta -= 360.0 * std::floor(theta / 360.0 + 0.9 / 360.0);
  const int r = static_cast<int>(std::lround(theta / 90.0)) * 90 % 360;
  return std::fabs(theta - std::lround(theta / 90.0) * 90.0) < 1.0 ? r : 0;
}

namespace {

std::mutex& sinks_mutex() {
  static std::mutex m;
  return m;
}
std::unordered_set<LogSink*>& sinks() {
  static std::unordered_set<LogSink*> s;
  return s;
}

void* opaque_of(void* avcl) {
  if (!avcl) return nullptr;
  const AVClass* cls = *static_cast<const AVClass**>(avcl);
  if (cls == avformat_get_class()) return static_cast<AVFormatContext*>(avcl)->opaque;
  if (cls == avcodec_get_class()) return static_cast<AVCodecContext*>(avcl)->opaque;
  return nullptr;
}

void log_callback(void* avcl, int level, const char* format, va_list args) {
  static const bool to_stderr = std::getenv("SMOLVID_FFMPEG_LOG") != nullptr;
  if (level > AV_LOG_WARNING && !to_stderr) return;
  char line[1024];
  int print_prefix = 1;
  va_list copy;
  va_copy(copy, args);
  av_log_format_line2(avcl, level, format, copy, line, sizeof(line), &print_prefix);
  va_end(copy);
  if (to_stderr) {
    std::fputs(line, stderr);
    return;
  }
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return;
  // "[h264 @ 0x55d0c1a2b3c0] msg" -> "[h264] msg": the address means nothing to a reader.
  if (const auto at = text.find(" @ 0x"); at != std::string::npos && text.front() == '[') {
    if (const auto close = text.find(']', at); close != std::string::npos) text.erase(at, close - at);
  }
  void* opaque = opaque_of(avcl);
  std::lock_guard<std::mutex> lock(sinks_mutex());
  auto it = sinks().find(static_cast<LogSink*>(opaque));
  if (it != sinks().end()) (*it)->on_ffmpeg_log(level, text);
}

}  // namespace

void install_log_callback() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(log_callback); });
}

void register_log_sink(LogSink* sink) {
  std::lock_guard<std::mutex> lock(sinks_mutex());
  sinks().insert(sink);
}

void unregister_log_sink(LogSink* sink) {
  std::lock_guard<std::mutex> lock(sinks_mutex());
  sinks().erase(sink);
}

}  // namespace smolvid::decode::ff
