// decode/video_reader.cpp: VideoReader on FFmpeg 5.1 (demux, decode with frame threads, seek,
// convert through decode/converter.h).
#include "decode/video_reader.h"

#include <fmt/core.h>
#include <sched.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "decode/converter.h"
#include "decode/ffmpeg.h"

namespace smolvid::decode {

namespace {

using Clock = std::chrono::steady_clock;

// Seeking costs about as much as decoding this many frames (demuxer index lookup, decoder flush,
// refilling the frame-thread pipeline); decode_at seeks only when it skips more frames than this.
constexpr int64_t kSeekCostFrames = 4;
// Half a microsecond: timestamps closer than this are the same instant.
constexpr double kTimeEps = 5e-7;

// Elementary-stream demuxers: the stream has no container timestamps; whatever FFmpeg's parser
// invents is not a presentation time, so frame times are derived from the frame rate.
const std::set<std::string>& raw_stream_demuxers() {
  static const std::set<std::string> names = {"h264", "hevc", "mpegvideo", "m4v", "cavsvideo", "vc1", "dirac",
                                              "dnxhd", "h261", "h263", "obu", "avs2", "avs3", "vvc", "mjpeg",
                                              "mpjpeg", "rawvideo"};
  return names;
}

bool is_network_url(const std::string& path) {
  const auto pos = path.find("://");
  if (pos == std::string::npos) return false;
  const std::string scheme = path.substr(0, pos);
  return scheme != "file" && scheme != "pipe";
}

int cores_available() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

double q2d_or0(AVRational q) { return (q.num > 0 && q.den > 0) ? av_q2d(q) : 0.0; }

std::string field_order_name(AVFieldOrder fo) {
  switch (fo) {
    case AV_FIELD_PROGRESSIVE: return "progressive";
    case AV_FIELD_TT: return "tt";
    case AV_FIELD_BB: return "bb";
    case AV_FIELD_TB: return "tb";
    case AV_FIELD_BT: return "bt";
    default: return "unknown";
  }
}

bool is_interlaced(AVFieldOrder fo) {
  return fo == AV_FIELD_TT || fo == AV_FIELD_BB || fo == AV_FIELD_TB || fo == AV_FIELD_BT;
}

std::string base_name(const std::string& path) {
  const auto pos = path.find_last_of('/');
  return pos == std::string::npos ? path : path.substr(pos + 1);
}

}  // namespace

struct VideoReader::Impl : ff::LogSink {
  std::string path;
  ReaderOptions opts;
  bool network = false;

  // A MemoryInput's bytes and the AVIOContext reading them (null for paths and URLs). The context
  // must outlive fmt (avformat_close_input leaves a custom pb alone), so it is declared first.
  std::shared_ptr<const std::vector<uint8_t>> memory;
  int64_t memory_pos = 0;
  ff::AvioContextPtr avio;

  ff::FormatContextPtr fmt;
  ff::CodecContextPtr dec;
  AVStream* st = nullptr;
  int vstream = -1;
  bool fresh = false;  // the demuxer is at the start and nothing was read yet

  // Stream facts needed before probe().
  int rotation = 0;
  bool interlaced = false;
  bool derived_ts = false;
  double fps = 0.0;  // header frame rate, used to derive timestamps
  AVRational sar{0, 1};

  std::optional<MediaInfo> info;
  std::vector<double> frame_times;       // presentation times of every frame (probe), ascending
  std::vector<int64_t> keyframe_pos;     // positions in frame_times of the keyframes, ascending

  DecodeStats stats;
  std::vector<std::string> warnings;
  std::unique_ptr<FrameConverter> conv;

  // FFmpeg log lines of this reader (from codec threads too).
  std::mutex log_mu;
  int64_t log_errors = 0;
  std::vector<std::string> log_lines;

  // Network inputs: every blocking FFmpeg call gets a deadline checked by the interrupt callback.
  Clock::time_point deadline{};
  bool interrupted = false;

  Impl(std::string p, ReaderOptions o) : path(std::move(p)), opts(o), network(is_network_url(path)) {
    ff::install_log_callback();
    ff::register_log_sink(this);
  }
  Impl(MemoryInput in, ReaderOptions o) : path(std::move(in.name)), opts(o), memory(std::move(in.bytes)) {
    if (!memory) memory = std::make_shared<const std::vector<uint8_t>>();
    ff::install_log_callback();
    ff::register_log_sink(this);
  }

  static int memory_read(void* opaque, uint8_t* buf, int size) {
    auto* self = static_cast<Impl*>(opaque);
    const int64_t left = static_cast<int64_t>(self->memory->size()) - self->memory_pos;
    if (left <= 0) return AVERROR_EOF;
    const int n = static_cast<int>(std::min<int64_t>(left, size));
    std::copy_n(self->memory->data() + self->memory_pos, n, buf);
    self->memory_pos += n;
    return n;
  }
  static int64_t memory_seek(void* opaque, int64_t offset, int whence) {
    auto* self = static_cast<Impl*>(opaque);
    const auto size = static_cast<int64_t>(self->memory->size());
    int64_t base = 0;
    switch (whence & ~AVSEEK_FORCE) {
      case AVSEEK_SIZE: return size;
      case SEEK_SET: base = 0; break;
      case SEEK_CUR: base = self->memory_pos; break;
      case SEEK_END: base = size; break;
      default: return AVERROR(EINVAL);
    }
    if ((offset > 0 && base > INT64_MAX - offset) || base + offset < 0) return AVERROR(EINVAL);
    self->memory_pos = base + offset;  // past the end is allowed; reads there return EOF
    return self->memory_pos;
  }
  ~Impl() override {
    dec.reset();
    fmt.reset();
    ff::unregister_log_sink(this);
  }

  void on_ffmpeg_log(int level, const std::string& line) override {
    if (level > AV_LOG_ERROR) return;
    std::lock_guard<std::mutex> lock(log_mu);
    ++log_errors;
    if (log_lines.size() < 3) log_lines.push_back(line);
  }

  static int interrupt_cb(void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    if (!self->network) return 0;
    if (Clock::now() > self->deadline) {
      self->interrupted = true;
      return 1;
    }
    return 0;
  }
  void arm_deadline() {
    deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(std::max(0.001, opts.network_timeout_s)));
    interrupted = false;
  }
  DecodeError network_or_ffmpeg_error(const std::string& what, int rc) {
    if (interrupted) {
      return DecodeError(fmt::format("{}: {}: timed out after {} s (ReaderOptions::network_timeout_s)", path, what,
                                     opts.network_timeout_s));
    }
    return ff::ffmpeg_error(path, what, rc);
  }

  void check_local_file() {
    if (memory) {
      if (memory->empty()) throw DecodeError(fmt::format("{}: empty input (0 bytes), not a video", path));
      return;
    }
    if (network || path.rfind("file:", 0) == 0) return;
    struct stat sb {};
    if (::stat(path.c_str(), &sb) != 0) throw DecodeError(fmt::format("{}: no such file", path));
    if (S_ISDIR(sb.st_mode)) throw DecodeError(fmt::format("{}: is a directory, not a video file", path));
    if (sb.st_size == 0) throw DecodeError(fmt::format("{}: empty file (0 bytes), not a video", path));
  }

  void open() {
    dec.reset();
    fmt.reset();
    avio.reset();
    conv.reset();
    check_local_file();

    AVFormatContext* raw = avformat_alloc_context();
    if (!raw) throw DecodeError(path + ": avformat_alloc_context: out of memory");
    if (memory) {
      constexpr int kBufferSize = 32 * 1024;
      auto* buffer = static_cast<uint8_t*>(av_malloc(kBufferSize));
      memory_pos = 0;
      avio.reset(buffer ? avio_alloc_context(buffer, kBufferSize, 0, this, &Impl::memory_read, nullptr, &Impl::memory_seek)
                        : nullptr);
      if (!avio) {
        av_free(buffer);
        avformat_free_context(raw);
        throw DecodeError(path + ": avio_alloc_context: out of memory");
      }
      raw->pb = avio.get();
      raw->flags |= AVFMT_FLAG_CUSTOM_IO;
    }
    raw->interrupt_callback.callback = &Impl::interrupt_cb;
    raw->interrupt_callback.opaque = this;
    raw->opaque = static_cast<ff::LogSink*>(this);

    AVDictionary* dict = nullptr;
    if (network) {
      const std::string us = std::to_string(static_cast<int64_t>(opts.network_timeout_s * 1e6));
      av_dict_set(&dict, "rw_timeout", us.c_str(), 0);
      av_dict_set(&dict, "timeout", us.c_str(), 0);
    }
    arm_deadline();
    const int rc = avformat_open_input(&raw, memory ? nullptr : path.c_str(), nullptr, &dict);
    const ff::DictionaryPtr unused_options(dict);  // what the demuxer/protocol did not consume
    if (rc < 0) {
      // avformat_open_input frees the context on failure.
      if (rc == AVERROR_INVALIDDATA) {
        throw DecodeError(fmt::format("{}: not a recognised video or container format ({})", path,
                                      ff::error_text(rc)));
      }
      throw network_or_ffmpeg_error("cannot open", rc);
    }
    fmt.reset(raw);

    arm_deadline();
    const int info_rc = avformat_find_stream_info(fmt.get(), nullptr);
    if (info_rc < 0) throw network_or_ffmpeg_error("cannot read the stream parameters", info_rc);

    const AVCodec* codec = nullptr;
    vstream = av_find_best_stream(fmt.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (vstream == AVERROR_STREAM_NOT_FOUND || (vstream >= 0 && fmt->streams[vstream]->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
      std::string found;
      for (unsigned i = 0; i < fmt->nb_streams; ++i) {
        const AVCodecParameters* par = fmt->streams[i]->codecpar;
        found += fmt::format("{}{} {}", found.empty() ? "" : ", ", av_get_media_type_string(par->codec_type)
                                                                    ? av_get_media_type_string(par->codec_type)
                                                                    : "unknown",
                             avcodec_get_name(par->codec_id));
      }
      throw DecodeError(fmt::format("{}: no video stream (the file holds: {})", path,
                                    found.empty() ? "no streams" : found));
    }
    if (vstream == AVERROR_DECODER_NOT_FOUND || (vstream >= 0 && !codec)) {
      const int idx = av_find_best_stream(fmt.get(), AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
      const char* name = idx >= 0 ? avcodec_get_name(fmt->streams[idx]->codecpar->codec_id) : "unknown";
      throw DecodeError(fmt::format("{}: no decoder for video codec \"{}\" in this FFmpeg build", path, name));
    }
    ff::check(vstream, path, "finding the video stream");
    st = fmt->streams[vstream];

    dec.reset(avcodec_alloc_context3(codec));
    if (!dec) throw DecodeError(path + ": avcodec_alloc_context3: out of memory");
    ff::check(avcodec_parameters_to_context(dec.get(), st->codecpar), path, "copying the codec parameters");
    dec->pkt_timebase = st->time_base;
    dec->thread_count = opts.threads > 0 ? opts.threads : cores_available();
    dec->thread_type = FF_THREAD_FRAME;
    dec->opaque = static_cast<ff::LogSink*>(this);
    ff::check(avcodec_open2(dec.get(), codec, nullptr), path,
              fmt::format("opening the {} decoder", codec->name));

    // Stream facts used by every decoding mode.
    rotation = ff::display_rotation(st);
    interlaced = is_interlaced(st->codecpar->field_order);
    derived_ts = raw_stream_demuxers().count(fmt->iformat->name) > 0;
    const double avg = q2d_or0(st->avg_frame_rate);
    const double rfr = q2d_or0(st->r_frame_rate);
    fps = avg > 0 ? avg : rfr;
    sar = av_guess_sample_aspect_ratio(fmt.get(), st, nullptr);

    ConverterSpec spec;
    spec.pixel_format = opts.pixel_format;
    spec.rotation_degrees = opts.apply_rotation ? rotation : 0;
    spec.apply_sar = opts.apply_sar;
    spec.deinterlace = opts.deinterlace && interlaced;
    spec.max_side = opts.max_side;
    spec.time_base = st->time_base;
    spec.stream_sar = sar;
    conv = std::make_unique<FrameConverter>(path, spec);
    fresh = true;
  }

  // Every pass starts at the beginning: a used demuxer is reopened (seeking to the start is not
  // reliable on raw elementary streams).
  void begin_pass() {
    if (!fresh) open();
    fresh = false;
    dec->skip_frame = AVDISCARD_DEFAULT;
    conv->reset();
    std::lock_guard<std::mutex> lock(log_mu);
    log_errors = 0;
    log_lines.clear();
  }

  // Reads the next video packet into pkt. Returns false at the end of the input (a read error
  // other than EOF ends the input too and is reported in `read_error`).
  bool read_video_packet(AVPacket* pkt, int* read_error) {
    for (;;) {
      arm_deadline();
      const int rc = av_read_frame(fmt.get(), pkt);
      if (rc == AVERROR_EOF) return false;
      if (rc < 0) {
        if (interrupted) throw network_or_ffmpeg_error("reading", rc);
        *read_error = rc;
        return false;
      }
      if (pkt->stream_index == vstream) return true;
      av_packet_unref(pkt);
    }
  }

  // Sends one packet (nullptr: drain) and hands every frame the decoder returns to on_decoded.
  // Returns false when on_decoded asked to stop.
  template <typename OnDecoded>
  bool decode_packet(const AVPacket* pkt, AVFrame* frame, OnDecoded&& on_decoded) {
    for (;;) {
      const int send_rc = avcodec_send_packet(dec.get(), pkt);
      bool resend = false;
      if (send_rc == AVERROR(EAGAIN)) {
        resend = true;  // the decoder is full: take frames out, then send again
      } else if (send_rc < 0 && send_rc != AVERROR_EOF) {
        ++stats.corrupt_packets;
      }
      for (;;) {
        const int rc = avcodec_receive_frame(dec.get(), frame);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) break;
        if (rc < 0) {
          ++stats.decode_errors;
          break;
        }
        ff::FrameGuard guard(frame);
        ++stats.frames_decoded;
        if (frame->decode_error_flags || (frame->flags & AV_FRAME_FLAG_CORRUPT)) ++stats.decode_errors;
        if (!on_decoded(frame)) return false;
      }
      if (!resend) return true;
    }
  }

  FrameMeta meta_for(const AVFrame* f, int64_t seq, double* last_pts) const {
    FrameMeta m;
    m.keyframe = f->key_frame != 0;
    const int64_t ts = f->best_effort_timestamp;
    if (derived_ts || ts == AV_NOPTS_VALUE) {
      m.pts_derived = true;
      if (derived_ts || *last_pts < 0) {
        m.pts_seconds = fps > 0 ? static_cast<double>(seq) / fps : 0.0;
      } else {
        m.pts_seconds = *last_pts + (fps > 0 ? 1.0 / fps : 0.0);
      }
    } else {
      m.pts_seconds = static_cast<double>(ts) * av_q2d(st->time_base);
    }
    *last_pts = m.pts_seconds;
    m.index = seq;
    return m;
  }

  // Position in frame_times of the frame shown at `pts` (probe must have run).
  int64_t position_of(double pts) const {
    auto it = std::lower_bound(frame_times.begin(), frame_times.end(), pts - 1e-4);
    if (it == frame_times.end()) return static_cast<int64_t>(frame_times.size());
    return it - frame_times.begin();
  }

  bool emit(const AVFrame& converted, const FrameMeta& meta, const FrameCallback& on_frame) {
    Frame f = to_frame(converted, meta);
    for (int i = 0; i < meta.emit_count; ++i) {
      ++stats.frames_output;
      if (!on_frame(f)) return false;
    }
    return true;
  }

  // After a pass: report truncation/corruption as one warning with the counts.
  void end_pass(const char* mode, int64_t frames, int read_error, int64_t corrupt) {
    std::lock_guard<std::mutex> lock(log_mu);
    if (read_error == 0 && log_errors == 0 && corrupt == 0) return;
    const bool all = std::string(mode) == "decode_all";
    std::string w = fmt::format("{}: {}: {} frames decoded", base_name(path), mode, frames);
    if (all && st->nb_frames > 0) w += fmt::format(" of {} the header declares", st->nb_frames);
    if (read_error != 0) w += fmt::format("; reading stopped early: {} (truncated?)", ff::error_text(read_error));
    if (log_errors > 0) {
      w += fmt::format("; {} FFmpeg error messages, first: \"{}\"", log_errors,
                       log_lines.empty() ? std::string() : log_lines.front());
    }
    w += fmt::format("; {} corrupt packets", corrupt);
    warnings.push_back(w);
  }

  void decode_all(const FrameCallback& on_frame) {
    begin_pass();
    auto pkt = ff::make_packet();
    auto frame = ff::make_frame();
    int64_t seq = 0, before = stats.frames_output, corrupt_before = stats.corrupt_packets;
    double last_pts = -1;
    auto out = [&](const AVFrame& c, const FrameMeta& m) { return emit(c, m, on_frame); };
    auto on_decoded = [&](AVFrame* f) { return conv->push(*f, meta_for(f, seq++, &last_pts), out); };
    int read_error = 0;
    bool stopped = false;
    while (!stopped && read_video_packet(pkt.get(), &read_error)) {
      ff::PacketGuard guard(pkt.get());
      ++stats.packets_read;
      if (pkt->flags & AV_PKT_FLAG_CORRUPT) ++stats.corrupt_packets;
      stopped = !decode_packet(pkt.get(), frame.get(), on_decoded);
    }
    if (!stopped) stopped = !decode_packet(nullptr, frame.get(), on_decoded);
    if (!stopped) conv->flush(out);
    end_pass("decode_all", stats.frames_output - before, read_error, stats.corrupt_packets - corrupt_before);
  }

  // Keyframe numbering and timestamp planning use the probe's frame list, which a live stream
  // only has for its first seconds.
  void require_not_live(const char* mode) const {
    if (info && info->live) {
      throw DecodeError(fmt::format("{}: {} needs a finite input; this is a live stream (no duration): use decode_all",
                                    path, mode));
    }
  }

  void decode_keyframes(const FrameCallback& on_frame) {
    if (!derived_ts) probe_once();
    require_not_live("keyframes-only decoding");
    begin_pass();
    dec->skip_frame = AVDISCARD_NONKEY;
    auto pkt = ff::make_packet();
    auto frame = ff::make_frame();
    int64_t packet_seq = 0, key_packet_seq = 0, before = stats.frames_output, corrupt_before = stats.corrupt_packets;
    auto out = [&](const AVFrame& c, const FrameMeta& m) { return emit(c, m, on_frame); };
    auto on_decoded = [&](AVFrame* f) {
      FrameMeta m;
      m.keyframe = true;
      const int64_t ts = f->best_effort_timestamp;
      if (derived_ts) {
        // No timestamps: the keyframe's position is its packet's position in decode order (exact
        // without B-frames; with them a keyframe shows up to the reorder depth later). The
        // parser's invented timestamps are no better (cube.mpeg).
        m.index = f->pts != AV_NOPTS_VALUE ? f->pts : key_packet_seq;  // pts = packet number, set below
        m.pts_seconds = fps > 0 ? m.index / fps : 0.0;
        m.pts_derived = true;
      } else if (ts != AV_NOPTS_VALUE) {
        m.pts_seconds = ts * av_q2d(st->time_base);
        m.index = position_of(m.pts_seconds);
      } else {
        m.pts_derived = true;
        m.index = key_packet_seq;
        m.pts_seconds = fps > 0 ? key_packet_seq / fps : 0.0;
      }
      if (!conv->push(*f, m, out)) return false;
      // yadif's neighbours would be other keyframes seconds away: deinterlace each one alone.
      return !conv->has_delay() || conv->flush(out);
    };
    int read_error = 0;
    bool stopped = false;
    while (!stopped && read_video_packet(pkt.get(), &read_error)) {
      ff::PacketGuard guard(pkt.get());
      ++stats.packets_read;
      const int64_t this_seq = packet_seq++;
      if (!(pkt->flags & AV_PKT_FLAG_KEY)) continue;  // never handed to the decoder
      if (pkt->flags & AV_PKT_FLAG_CORRUPT) ++stats.corrupt_packets;
      key_packet_seq = this_seq;
      if (derived_ts) {  // the decoder hands the packet number back on the frame (after its delay)
        pkt->pts = this_seq;
        pkt->dts = AV_NOPTS_VALUE;
      }
      stopped = !decode_packet(pkt.get(), frame.get(), on_decoded);
    }
    if (!stopped) stopped = !decode_packet(nullptr, frame.get(), on_decoded);
    if (!stopped) conv->flush(out);
    dec->skip_frame = AVDISCARD_DEFAULT;
    end_pass("decode_keyframes", stats.frames_output - before, read_error, stats.corrupt_packets - corrupt_before);
  }

  static double packet_time(const AVPacket* pkt, double tb) {
    if (pkt->pts != AV_NOPTS_VALUE) return pkt->pts * tb;
    if (pkt->dts != AV_NOPTS_VALUE) return pkt->dts * tb;
    return std::nan("");
  }

  // Seeks so that the next packet to feed, left in `pkt`, is a keyframe at or before the frame at
  // `pos`. Demuxers without an index (MPEG-PS/TS) seek by bisection and can land past the wanted
  // keyframe, so the landing is checked and the seek retried further back. Returns false when no
  // good landing was found (the caller then restarts sequentially).
  bool seek_to_keyframe(int64_t pos, AVPacket* pkt) {
    const double tb = av_q2d(st->time_base);
    const double want = frame_times[static_cast<size_t>(pos)];
    double back = 0.0;
    for (int attempt = 0; attempt < 8; ++attempt, back = back == 0.0 ? 1.0 : back * 2.0) {
      const int64_t ts = std::llround((want - back) / tb);
      arm_deadline();
      const int rc = av_seek_frame(fmt.get(), vstream, ts, AVSEEK_FLAG_BACKWARD);
      if (rc < 0) {
        warnings.push_back(fmt::format("{}: seek to {:.3f} s failed ({}); decoding sequentially", base_name(path),
                                       want, ff::error_text(rc)));
        return false;
      }
      ++stats.seeks;
      avcodec_flush_buffers(dec.get());
      int read_error = 0;
      bool found = false;
      while (read_video_packet(pkt, &read_error)) {
        if (pkt->flags & AV_PKT_FLAG_KEY) {
          found = true;
          break;
        }
        ++stats.packets_read;  // read past, never fed
        av_packet_unref(pkt);
      }
      if (!found) continue;
      const double t = packet_time(pkt, tb);
      if (std::isnan(t) || t <= want + 1e-4) return true;
      ++stats.packets_read;
      av_packet_unref(pkt);  // landed past the keyframe: go further back
    }
    warnings.push_back(fmt::format("{}: seeking does not reach the keyframe at {:.3f} s; decoding sequentially",
                                   base_name(path), want));
    return false;
  }

  void decode_at(const std::vector<double>& times_in, SeekMode mode, const FrameCallback& on_frame) {
    probe_once();
    require_not_live("decoding frames at given times");
    if (times_in.empty() || frame_times.empty()) return;
    std::vector<double> times(times_in);
    std::sort(times.begin(), times.end());
    times.erase(std::unique(times.begin(), times.end()), times.end());

    // Each requested time -> the position of the frame it asks for.
    std::map<int64_t, int> wanted;  // position -> how many requested times map to it
    for (double t : times) {
      int64_t pos;
      const auto ub = std::upper_bound(frame_times.begin(), frame_times.end(), t + kTimeEps);
      const int64_t exact = std::max<int64_t>(0, (ub - frame_times.begin()) - 1);
      if (mode == SeekMode::kExact || keyframe_pos.empty()) {
        pos = exact;
      } else {
        auto kb = std::lower_bound(keyframe_pos.begin(), keyframe_pos.end(), exact);
        int64_t best = kb == keyframe_pos.end() ? keyframe_pos.back() : *kb;
        if (kb != keyframe_pos.begin()) {
          const int64_t prev = *(kb - 1);
          if (std::fabs(frame_times[prev] - t) <= std::fabs(frame_times[best] - t)) best = prev;
        }
        pos = best;
      }
      ++wanted[pos];
    }
    const std::vector<std::pair<int64_t, int>> targets(wanted.begin(), wanted.end());
    auto keyframe_before = [&](int64_t pos) -> int64_t {
      auto it = std::upper_bound(keyframe_pos.begin(), keyframe_pos.end(), pos);
      return it == keyframe_pos.begin() ? 0 : *(it - 1);
    };
    auto keyframes_between = [&](int64_t from, int64_t to) -> int64_t {  // keyframes in [from, to)
      return std::lower_bound(keyframe_pos.begin(), keyframe_pos.end(), to) -
             std::lower_bound(keyframe_pos.begin(), keyframe_pos.end(), from);
    };

    const bool keys_only = mode == SeekMode::kNearestKeyframe && !keyframe_pos.empty();
    bool can_seek = !derived_ts && fmt->pb && (fmt->pb->seekable & AVIO_SEEKABLE_NORMAL) && !keyframe_pos.empty();
    // yadif needs the frames on both sides of a wanted frame to give the pixels a sequential pass
    // gives: start one frame earlier, and push one frame past it before stopping or seeking.
    const bool delay = conv->has_delay() && !keys_only;
    begin_pass();
    if (keys_only) dec->skip_frame = AVDISCARD_NONKEY;
    auto pkt = ff::make_packet();
    auto frame = ff::make_frame();
    size_t ti = 0;
    int64_t next_pos = 0, seq = 0, before = stats.frames_output, corrupt_before = stats.corrupt_packets;
    double last_pts = -1;
    int64_t last_seek_pos = 0, packet_seq = 0, key_packet_seq = 0;
    bool user_stop = false, tail_pending = false;
    auto out = [&](const AVFrame& c, const FrameMeta& m) {
      user_stop = !emit(c, m, on_frame);
      return !user_stop;
    };
    auto on_decoded = [&](AVFrame* f) {
      FrameMeta m = meta_for(f, seq++, &last_pts);
      if (!derived_ts) {
        m.index = position_of(m.pts_seconds);
      } else if (keys_only) {  // numbered like decode_keyframes does
        m.index = f->pts != AV_NOPTS_VALUE ? f->pts : key_packet_seq;
        m.pts_seconds = fps > 0 ? m.index / fps : 0.0;
      }
      next_pos = m.index + 1;
      m.emit_count = 0;
      // A frame at or past the wanted one answers it (past only when the wanted frame is missing).
      while (ti < targets.size() && m.index >= targets[ti].first) {
        m.emit_count += targets[ti].second;
        ++ti;
      }
      if (m.emit_count == 0 && !delay) return true;  // not wanted: not converted
      if (!conv->push(*f, m, out)) return false;
      if (keys_only && conv->has_delay() && !conv->flush(out)) return false;  // each keyframe deinterlaced alone
      tail_pending = delay && m.emit_count > 0;
      return ti < targets.size() || tail_pending;
    };

    // Where a seek for `target` lands, and whether decoding on from `pos` costs more than seeking.
    // Keyframes-only: every keyframe skipped is a whole intra frame saved, worth a seek. Seeks only
    // ever go forward (a landing before the keyframe must not trigger the same seek again).
    auto seek_from = [&](int64_t target) {
      if (keys_only) return target;
      return delay && target > 0 ? keyframe_before(target - 1) : keyframe_before(target);
    };
    auto wants_seek = [&](int64_t pos, int64_t target) {
      const int64_t from = seek_from(target);
      const bool saves = keys_only ? keyframes_between(pos, target) > 0 : from - pos > kSeekCostFrames;
      return saves && from > last_seek_pos;
    };
    bool force_seek = false;

    int read_error = 0;
    bool stopped = false;
    while (!stopped && (ti < targets.size() || tail_pending)) {
      bool have_packet = false;
      if (can_seek && !tail_pending) {
        const int64_t target = targets[ti].first;
        const int64_t from = seek_from(target);
        const bool jump = force_seek || wants_seek(next_pos, target);
        force_seek = false;
        if (jump) {
          if (!conv->flush(out)) return;
          if (seek_to_keyframe(keys_only ? target : from, pkt.get())) {
            next_pos = last_seek_pos = keys_only ? target : from;
            have_packet = true;
          } else {
            // The demuxer is somewhere unknown: start again from the beginning, without seeking.
            can_seek = false;
            open();
            fresh = false;
            if (keys_only) dec->skip_frame = AVDISCARD_NONKEY;
            next_pos = seq = 0;
            last_pts = -1;
          }
        }
      }
      if (!have_packet && !read_video_packet(pkt.get(), &read_error)) {
        stopped = !decode_packet(nullptr, frame.get(), on_decoded);
        break;
      }
      ff::PacketGuard guard(pkt.get());
      ++stats.packets_read;
      const int64_t this_seq = packet_seq++;
      if (keys_only && !(pkt->flags & AV_PKT_FLAG_KEY)) continue;
      if (pkt->flags & AV_PKT_FLAG_CORRUPT) ++stats.corrupt_packets;
      key_packet_seq = this_seq;
      if (derived_ts && keys_only) {  // as in decode_keyframes
        pkt->pts = this_seq;
        pkt->dts = AV_NOPTS_VALUE;
      }
      stopped = !decode_packet(pkt.get(), frame.get(), on_decoded);
      // Frame threads hold a few frames back. When this packet carries the wanted frame and the
      // next wanted frame is reached by a seek (or there is none), drain now instead of feeding
      // packets that the seek would throw away.
      if (!stopped && can_seek && !delay && ti < targets.size() && pkt->pts != AV_NOPTS_VALUE &&
          position_of(pkt->pts * av_q2d(st->time_base)) == targets[ti].first &&
          (ti + 1 == targets.size() || wants_seek(targets[ti].first + 1, targets[ti + 1].first))) {
        stopped = !decode_packet(nullptr, frame.get(), on_decoded);
        avcodec_flush_buffers(dec.get());
        force_seek = true;
      }
    }
    if (user_stop) return;
    conv->flush(out);
    dec->skip_frame = AVDISCARD_DEFAULT;
    if (ti < targets.size()) {
      warnings.push_back(fmt::format("{}: decode_at: {} of {} requested frames were not found (stream ended)",
                                     base_name(path), targets.size() - ti, targets.size()));
    }
    end_pass("decode_at", stats.frames_output - before, read_error, stats.corrupt_packets - corrupt_before);
  }

  void probe_once() {
    if (!info) info = compute_probe();
  }

  MediaInfo compute_probe();
};

MediaInfo VideoReader::Impl::compute_probe() {
  begin_pass();
  MediaInfo mi;
  mi.path = path;
  mi.container = fmt->iformat->name;
  mi.video_stream_index = vstream;
  const AVCodecParameters* par = st->codecpar;
  mi.codec = avcodec_get_name(par->codec_id);
  if (const char* prof = avcodec_profile_name(par->codec_id, par->profile)) mi.profile = prof;
  if (const char* pf = av_get_pix_fmt_name(static_cast<AVPixelFormat>(par->format))) mi.pixel_format = pf;
  mi.coded_width = par->width;
  mi.coded_height = par->height;
  mi.rotation_degrees = rotation;
  mi.sar_num = sar.num > 0 ? sar.num : 1;
  mi.sar_den = sar.num > 0 ? sar.den : 1;
  mi.field_order = field_order_name(par->field_order);
  mi.interlaced = interlaced;
  mi.deinterlaced = interlaced && opts.deinterlace;
  int dw = par->width, dh = par->height;
  if (mi.sar_num != mi.sar_den) dw = std::max(1, static_cast<int>(std::lround(static_cast<double>(dw) * mi.sar_num / mi.sar_den)));
  if (rotation == 90 || rotation == 270) std::swap(dw, dh);
  mi.display_width = dw;
  mi.display_height = dh;
  mi.r_frame_rate = q2d_or0(st->r_frame_rate);
  mi.avg_frame_rate = q2d_or0(st->avg_frame_rate);
  if (fps > 0) mi.fps_header = {fps, "header"};
  const double tb = av_q2d(st->time_base);
  // The container's duration (what ffprobe's format=duration prints), else the stream's.
  if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0) {
    mi.duration_header = {fmt->duration / static_cast<double>(AV_TIME_BASE), "header"};
  } else if (st->duration != AV_NOPTS_VALUE && st->duration > 0) {
    mi.duration_header = {st->duration * tb, "header"};
  }
  if (st->nb_frames > 0) mi.frame_count_header = {st->nb_frames, "header"};
  if (derived_ts) {
    // set from the derived frame times below
  } else if (st->start_time != AV_NOPTS_VALUE) {
    mi.start_time = {st->start_time * tb, "header"};
  } else if (fmt->start_time != AV_NOPTS_VALUE) {
    mi.start_time = {fmt->start_time / static_cast<double>(AV_TIME_BASE), "header"};
  }
  if (const AVDictionaryEntry* e = av_dict_get(fmt->metadata, "creation_time", nullptr, 0); e && *e->value) {
    mi.creation_time = {e->value, "header"};
  } else if (const AVDictionaryEntry* se = av_dict_get(st->metadata, "creation_time", nullptr, 0); se && *se->value) {
    mi.creation_time = {se->value, "header"};
  }
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVCodecParameters* ap = fmt->streams[i]->codecpar;
    if (ap->codec_type != AVMEDIA_TYPE_AUDIO) continue;
    mi.audio_streams.push_back({static_cast<int>(i), avcodec_get_name(ap->codec_id), ap->sample_rate,
                                ap->ch_layout.nb_channels});
  }

  // Demux-only pass: every video packet's time and key flag, nothing decoded.
  struct Pkt {
    double t;
    bool key;
    double dur;
  };
  std::vector<Pkt> pkts;
  // A live stream never ends: read only its first seconds. Live = a network input with neither a
  // duration nor a known size (a finite file served over HTTP has a Content-Length).
  const int64_t input_size = fmt->pb ? avio_size(fmt->pb) : -1;
  mi.live = network && !mi.duration_header.known() && input_size <= 0;
  auto pkt = ff::make_packet();
  int read_error = 0;
  int64_t seq = 0;
  while (read_video_packet(pkt.get(), &read_error)) {
    ff::PacketGuard guard(pkt.get());
    if (pkt->size <= 0) continue;  // empty index entries (tree.avi) hold no frame
    const int64_t s = seq++;
    const bool key = pkt->flags & AV_PKT_FLAG_KEY;
    double t;
    if (derived_ts) {
      t = fps > 0 ? s / fps : 0.0;  // decode order, as decode_keyframes numbers keyframes
    } else if (pkt->pts != AV_NOPTS_VALUE) {
      t = pkt->pts * tb;
    } else if (pkt->dts != AV_NOPTS_VALUE) {
      t = pkt->dts * tb;
    } else {
      continue;  // no time at all: counted below through seq
    }
    pkts.push_back({t, key, pkt->duration > 0 ? pkt->duration * tb : 0.0});
    if (mi.live && t - pkts.front().t >= opts.live_probe_s) break;
  }
  {
    std::lock_guard<std::mutex> lock(log_mu);
    if (read_error != 0 || log_errors > 0) {
      std::string w = fmt::format("{}: probe: {} video packets read", base_name(path), seq);
      if (st->nb_frames > 0) w += fmt::format(" of {} the header declares", st->nb_frames);
      if (read_error != 0) w += fmt::format("; reading stopped early: {} (truncated?)", ff::error_text(read_error));
      if (log_errors > 0) {
        w += fmt::format("; {} FFmpeg error messages, first: \"{}\"", log_errors,
                         log_lines.empty() ? std::string() : log_lines.front());
      }
      warnings.push_back(w);
    }
  }

  mi.frame_count = {seq, "content"};
  frame_times.clear();
  keyframe_pos.clear();
  if (derived_ts) {
    mi.timestamps_derived = true;
    for (int64_t i = 0; i < seq; ++i) frame_times.push_back(fps > 0 ? i / fps : 0.0);
  } else {
    for (const Pkt& p : pkts) frame_times.push_back(p.t);
    std::sort(frame_times.begin(), frame_times.end());
  }
  mi.frame_times = frame_times;
  for (const Pkt& p : pkts) {
    if (p.key) mi.keyframe_times.push_back(p.t);
  }
  std::sort(mi.keyframe_times.begin(), mi.keyframe_times.end());
  for (double kt : mi.keyframe_times) {
    const int64_t pos = position_of(kt);
    if (pos < static_cast<int64_t>(frame_times.size())) keyframe_pos.push_back(pos);
  }
  std::sort(keyframe_pos.begin(), keyframe_pos.end());
  keyframe_pos.erase(std::unique(keyframe_pos.begin(), keyframe_pos.end()), keyframe_pos.end());

  if (!frame_times.empty()) {
    if (!mi.start_time.known()) mi.start_time = {frame_times.front(), derived_ts ? "derived" : "content"};
    // Frame interval: the median gap between consecutive presentation times.
    std::vector<double> gaps;
    for (size_t i = 1; i < frame_times.size(); ++i) gaps.push_back(frame_times[i] - frame_times[i - 1]);
    double median = 0.0;
    if (!gaps.empty()) {
      std::vector<double> sorted(gaps);
      std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
      median = sorted[sorted.size() / 2];
    }
    const double last_dur = !pkts.empty() && pkts.back().dur > 0 ? pkts.back().dur : median;
    if (derived_ts) {
      if (fps > 0) {
        mi.duration_measured = {seq / fps, "derived"};
        mi.fps_measured = {fps, "derived"};
      }
    } else {
      const double span = frame_times.back() - frame_times.front() + last_dur;
      if (span > 0) {
        mi.duration_measured = {span, "content"};
        mi.fps_measured = {static_cast<double>(frame_times.size()) / span, "content"};
      }
      const double tol = std::max(0.1 * median, 1.5 * tb);
      for (double g : gaps) {
        if (std::fabs(g - median) > tol) {
          mi.variable_frame_rate = true;
          break;
        }
      }
    }
  }
  // The header's duration unless it is missing or disagrees with the packets (cube.mpeg says
  // 0.04 s for 3.16 s of frames; truncated files keep the untruncated duration).
  const bool header_ok = mi.duration_header.known() &&
                         (!mi.duration_measured.known() ||
                          std::fabs(mi.duration_header.value - mi.duration_measured.value) <=
                              std::max(0.5, 0.05 * mi.duration_measured.value));
  if (mi.live) {
    // Counts and rates describe the window probed, not the stream; a live stream has no duration.
    const std::string window = fmt::format("content (first {} s of a live stream)", opts.live_probe_s);
    if (mi.frame_count.known()) mi.frame_count.source = window;
    if (mi.fps_measured.known()) mi.fps_measured.source = window;
    if (mi.duration_measured.known()) mi.duration_measured.source = window;
    warnings.push_back(fmt::format("{}: live stream (no duration): probe read only its first {} s", base_name(path),
                                   opts.live_probe_s));
  } else if (mi.timestamps_derived && mi.duration_measured.known()) {
    mi.duration = mi.duration_measured;
  } else if (header_ok) {
    mi.duration = mi.duration_header;
  } else if (mi.duration_measured.known()) {
    mi.duration = mi.duration_measured;
  }
  return mi;
}

VideoReader::VideoReader(const std::string& path, ReaderOptions options)
    : impl_(std::make_unique<Impl>(path, options)) {
  impl_->open();
}
VideoReader::VideoReader(MemoryInput input, ReaderOptions options)
    : impl_(std::make_unique<Impl>(std::move(input), options)) {
  impl_->open();
}
VideoReader::~VideoReader() = default;
VideoReader::VideoReader(VideoReader&&) noexcept = default;
VideoReader& VideoReader::operator=(VideoReader&&) noexcept = default;

const MediaInfo& VideoReader::probe() {
  impl_->probe_once();
  return *impl_->info;
}
void VideoReader::decode_all(const FrameCallback& on_frame) { impl_->decode_all(on_frame); }
void VideoReader::decode_keyframes(const FrameCallback& on_frame) { impl_->decode_keyframes(on_frame); }
void VideoReader::decode_at(const std::vector<double>& times_s, SeekMode mode, const FrameCallback& on_frame) {
  impl_->decode_at(times_s, mode, on_frame);
}
const DecodeStats& VideoReader::stats() const { return impl_->stats; }
const std::vector<std::string>& VideoReader::warnings() const { return impl_->warnings; }
const std::string& VideoReader::path() const { return impl_->path; }

}  // namespace smolvid::decode
