// decode/live_source.cpp: LiveSource on FFmpeg 5.1 (demux with an interrupt callback for stalls
// and stop requests, decode, convert through decode/converter.h, remux clips by stream copy).
#include "decode/live_source.h"

#include <fmt/core.h>
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <deque>
#include <thread>

#include "decode/converter.h"
#include "decode/ffmpeg.h"

namespace smolvid::decode {
namespace {

using Steady = std::chrono::steady_clock;

double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string scheme_of(const std::string& url) {
  const auto pos = url.find("://");
  return pos == std::string::npos ? std::string() : url.substr(0, pos);
}

// An input that can never be read: reconnecting would not help.
class FatalInput : public DecodeError {
 public:
  using DecodeError::DecodeError;
};

struct RingPacket {
  ff::PacketPtr packet;
  double t = 0.0;  // session time (s)
  bool key = false;
};

struct OutputContextDeleter {
  void operator()(AVFormatContext* oc) const {
    if (!oc) return;
    if (oc->pb) avio_closep(&oc->pb);
    avformat_free_context(oc);
  }
};

}  // namespace

struct LiveSource::Impl {
  std::string url;
  std::string shown;  // redacted
  LiveSourceOptions o;
  bool file = false;

  // Session state.
  ff::FormatContextPtr fmt;
  ff::CodecContextPtr dec;
  AVStream* st = nullptr;
  int vstream = -1;
  std::unique_ptr<FrameConverter> gray, rgb;
  int session = 0;
  bool session_has_base = false;
  double base_t = 0.0;           // first packet time of the session (s, stream timebase)
  double base_wall = 0.0;        // receive clock at that packet
  double offset_s = 0.0;         // stream_s of base_t
  double next_analysis_t = 0.0;
  bool frames_seen = false;
  int64_t frame_seq = 0;

  // Across sessions: where the camera timeline stood when the last session ended.
  bool have_last = false;
  double last_stream_s = 0.0;
  double last_wall = 0.0;

  // Interrupt callback.
  const std::atomic<bool>* stop = nullptr;
  Steady::time_point deadline{};
  bool timed_out = false;

  // Pacing (realtime files).
  bool paced = false;
  Steady::time_point pace_start{};
  double pace_t0 = 0.0;

  // Packet ring and clip.
  std::deque<RingPacket> ring;
  std::unique_ptr<AVFormatContext, OutputContextDeleter> clip;
  std::string clip_path;
  std::string clip_error;
  bool clip_wait_key = false;
  bool clip_has_base = false;
  int64_t clip_base = 0;         // input timebase units subtracted from every timestamp
  int64_t clip_last_dts = AV_NOPTS_VALUE;

  Impl(std::string u, LiveSourceOptions opts) : url(std::move(u)), shown(LiveSource::redact(url)), o(std::move(opts)) {
    file = LiveSource::is_file_input(url);
    ff::install_log_callback();
  }

  static int interrupt_cb(void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    if (self->stop && self->stop->load()) return 1;
    if (Steady::now() > self->deadline) {
      self->timed_out = true;
      return 1;
    }
    return 0;
  }
  void arm(double seconds) {
    deadline = Steady::now() + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(seconds));
    timed_out = false;
  }
  bool stopping() const { return stop && stop->load(); }

  void close_session() {
    finish_clip_quietly();
    gray.reset();
    rgb.reset();
    dec.reset();
    fmt.reset();
    st = nullptr;
    ring.clear();
    session_has_base = false;
    paced = false;
  }

  void open_session() {
    if (file) {
      const std::string path = url.rfind("file:", 0) == 0 ? url.substr(5) : url;
      struct stat sb {};
      if (::stat(path.c_str(), &sb) != 0) throw FatalInput(fmt::format("{}: no such file", shown));
      if (S_ISDIR(sb.st_mode)) throw FatalInput(fmt::format("{}: is a directory, not a video file", shown));
    }
    AVFormatContext* raw = avformat_alloc_context();
    if (!raw) throw DecodeError(shown + ": avformat_alloc_context: out of memory");
    raw->interrupt_callback.callback = &Impl::interrupt_cb;
    raw->interrupt_callback.opaque = this;
    AVDictionary* dict = nullptr;
    const std::string scheme = scheme_of(url);
    const std::string stall_us = std::to_string(static_cast<int64_t>(o.stall_timeout_s * 1e6));
    if (scheme == "rtsp" || scheme == "rtsps") {
      av_dict_set(&dict, "rtsp_transport", o.rtsp_transport.c_str(), 0);
      av_dict_set(&dict, "timeout", stall_us.c_str(), 0);
    } else if (!file) {
      av_dict_set(&dict, "rw_timeout", stall_us.c_str(), 0);
    }
    arm(o.open_timeout_s);
    const int rc = avformat_open_input(&raw, url.c_str(), nullptr, &dict);
    const ff::DictionaryPtr unused(dict);
    if (rc < 0) {
      if (rc == AVERROR_PROTOCOL_NOT_FOUND) throw FatalInput(fmt::format("{}: unsupported protocol '{}'", shown, scheme));
      if (file) throw FatalInput(fmt::format("{}: cannot open: {}", shown, ff::error_text(rc)));
      if (timed_out) throw DecodeError(fmt::format("cannot connect: no answer within {} s", o.open_timeout_s));
      throw DecodeError(fmt::format("cannot connect: {}", ff::error_text(rc)));
    }
    fmt.reset(raw);
    arm(o.open_timeout_s);
    const int info_rc = avformat_find_stream_info(fmt.get(), nullptr);
    if (info_rc < 0) {
      if (file) throw FatalInput(fmt::format("{}: cannot read the stream parameters: {}", shown, ff::error_text(info_rc)));
      throw DecodeError(fmt::format("cannot read the stream parameters: {}", timed_out ? "timed out" : ff::error_text(info_rc)));
    }
    const AVCodec* codec = nullptr;
    vstream = av_find_best_stream(fmt.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (vstream == AVERROR_STREAM_NOT_FOUND) throw FatalInput(fmt::format("{}: no video stream", shown));
    if (vstream < 0 || !codec) throw FatalInput(fmt::format("{}: no decoder for its video codec in this FFmpeg build", shown));
    st = fmt->streams[vstream];
    for (unsigned i = 0; i < fmt->nb_streams; ++i)
      if (static_cast<int>(i) != vstream) fmt->streams[i]->discard = AVDISCARD_ALL;
    dec.reset(avcodec_alloc_context3(codec));
    if (!dec) throw DecodeError(shown + ": avcodec_alloc_context3: out of memory");
    ff::check(avcodec_parameters_to_context(dec.get(), st->codecpar), shown, "copying the codec parameters");
    dec->pkt_timebase = st->time_base;
    dec->thread_count = std::max(1, o.threads);
    ff::check(avcodec_open2(dec.get(), codec, nullptr), shown, fmt::format("opening the {} decoder", codec->name));

    // Analysis frames are sparse (analysis_fps), so yadif would see no neighbours: no
    // deinterlacing; the small frames do not need it.
    ConverterSpec spec;
    spec.rotation_degrees = ff::display_rotation(st);
    spec.apply_sar = true;
    spec.deinterlace = false;
    spec.time_base = st->time_base;
    spec.stream_sar = av_guess_sample_aspect_ratio(fmt.get(), st, nullptr);
    spec.pixel_format = PixelFormat::kGray8;
    spec.max_side = o.analysis_side;
    gray = std::make_unique<FrameConverter>(shown, spec);
    if (o.picture_side > 0) {
      spec.pixel_format = PixelFormat::kRgb24;
      spec.max_side = o.picture_side;
      rgb = std::make_unique<FrameConverter>(shown, spec);
    }
    ++session;
    frames_seen = false;
    session_has_base = false;
    frame_seq = 0;
  }

  double packet_time(const AVPacket* p) const {
    const double tb = av_q2d(st->time_base);
    if (p->pts != AV_NOPTS_VALUE) return p->pts * tb;
    if (p->dts != AV_NOPTS_VALUE) return p->dts * tb;
    return std::nan("");
  }

  // The first packet of a session fixes its place on the camera timeline.
  void set_base(double t) {
    session_has_base = true;
    base_t = t;
    base_wall = wall_now();
    offset_s = have_last ? last_stream_s + std::max(0.0, base_wall - last_wall) : 0.0;
    next_analysis_t = t;
  }
  double stream_time(double t) const { return offset_s + std::max(0.0, t - base_t); }

  void pace(double t) {
    if (!o.realtime || !file) return;
    if (!paced) {
      paced = true;
      pace_start = Steady::now();
      pace_t0 = t;
      return;
    }
    const auto due = pace_start + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(t - pace_t0));
    while (!stopping() && Steady::now() < due) {
      std::this_thread::sleep_for(std::min<Steady::duration>(due - Steady::now(), std::chrono::milliseconds(50)));
    }
  }

  void ring_push(const AVPacket* p, double t) {
    RingPacket r;
    r.packet = ff::make_packet();
    ff::check(av_packet_ref(r.packet.get(), p), shown, "keeping a packet for clips");
    r.t = t;
    r.key = (p->flags & AV_PKT_FLAG_KEY) != 0;
    ring.push_back(std::move(r));
    const double keep_from = t - o.preroll_s;
    // Drop whole GOPs while the next keyframe is still at or before keep_from.
    for (;;) {
      size_t next_key = 0;
      for (size_t i = 1; i < ring.size(); ++i)
        if (ring[i].key) {
          next_key = i;
          break;
        }
      const bool front_usable = ring.front().key;
      if (next_key == 0) {
        if (!front_usable && ring.size() > 1) ring.pop_front();  // no keyframe yet: nothing to start a clip at
        else break;
        continue;
      }
      if (!front_usable || ring[next_key].t <= keep_from || static_cast<int>(ring.size()) > o.max_ring_packets) {
        ring.erase(ring.begin(), ring.begin() + static_cast<std::ptrdiff_t>(next_key));
        continue;
      }
      break;
    }
    while (static_cast<int>(ring.size()) > o.max_ring_packets) ring.pop_front();  // no keyframe in reach at all
  }

  void clip_write(const AVPacket* in) {
    if (!clip) return;
    if (clip_wait_key) {
      if (!(in->flags & AV_PKT_FLAG_KEY)) return;
      clip_wait_key = false;
    }
    ff::PacketPtr p = ff::make_packet();
    int rc = av_packet_ref(p.get(), in);
    if (rc >= 0) {
      if (p->dts == AV_NOPTS_VALUE) p->dts = p->pts;
      if (p->pts == AV_NOPTS_VALUE) p->pts = p->dts;
      if (!clip_has_base) {
        clip_has_base = true;
        clip_base = p->dts != AV_NOPTS_VALUE ? p->dts : 0;
      }
      if (p->pts != AV_NOPTS_VALUE) p->pts -= clip_base;
      if (p->dts != AV_NOPTS_VALUE) p->dts -= clip_base;
      p->stream_index = 0;
      p->pos = -1;
      av_packet_rescale_ts(p.get(), st->time_base, clip->streams[0]->time_base);
      if (clip_last_dts != AV_NOPTS_VALUE && p->dts <= clip_last_dts) {
        p->dts = clip_last_dts + 1;
        if (p->pts < p->dts) p->pts = p->dts;
      }
      clip_last_dts = p->dts;
      rc = av_interleaved_write_frame(clip.get(), p.get());
    }
    if (rc < 0) {
      clip_error = fmt::format("clip {}: writing a packet: {}", clip_path, ff::error_text(rc));
      clip.reset();
    }
  }

  void start_clip(const std::string& path, double from_stream_s) {
    if (!st) throw DecodeError(fmt::format("clip {}: camera {} is not connected", path, shown));
    finish_clip_quietly();
    AVFormatContext* oc = nullptr;
    int rc = avformat_alloc_output_context2(&oc, nullptr, "mp4", path.c_str());
    if (rc < 0 || !oc) throw ff::ffmpeg_error(path, "creating the clip", rc);
    std::unique_ptr<AVFormatContext, OutputContextDeleter> out(oc);
    AVStream* os = avformat_new_stream(oc, nullptr);
    if (!os) throw DecodeError(path + ": avformat_new_stream: out of memory");
    ff::check(avcodec_parameters_copy(os->codecpar, st->codecpar), path, "copying the codec parameters");
    os->codecpar->codec_tag = 0;
    os->time_base = st->time_base;
    ff::check(avio_open(&oc->pb, path.c_str(), AVIO_FLAG_WRITE), path, "opening the clip for writing");
    AVDictionary* mux_opts = nullptr;
    // Fragmented: a clip cut short by a crash or a kill stays playable up to its last fragment.
    av_dict_set(&mux_opts, "movflags", "+frag_keyframe+empty_moov+default_base_moof", 0);
    rc = avformat_write_header(oc, &mux_opts);
    av_dict_free(&mux_opts);
    ff::check(rc, path, "writing the clip header");
    clip = std::move(out);
    clip_path = path;
    clip_error.clear();
    clip_has_base = false;
    clip_last_dts = AV_NOPTS_VALUE;
    // The keyframe at or before the wanted start, else the oldest keyframe kept.
    const double from_t = base_t + (from_stream_s - offset_s);
    size_t start = ring.size();
    for (size_t i = 0; i < ring.size(); ++i) {
      if (!ring[i].key) continue;
      if (start == ring.size() || ring[i].t <= from_t + 1e-6) start = i;
      if (ring[i].t > from_t) break;
    }
    clip_wait_key = start == ring.size();
    for (size_t i = start; i < ring.size() && clip; ++i) clip_write(ring[i].packet.get());
  }

  std::optional<std::string> finish_clip() {
    if (!clip && clip_error.empty()) return std::nullopt;
    std::string err = clip_error;
    clip_error.clear();
    if (clip) {
      const int rc = av_write_trailer(clip.get());
      clip.reset();
      if (rc < 0 && err.empty()) err = fmt::format("clip {}: writing the trailer: {}", clip_path, ff::error_text(rc));
    }
    if (!err.empty()) throw DecodeError(err);
    return clip_path;
  }
  void finish_clip_quietly() {
    try {
      finish_clip();
    } catch (const DecodeError&) {
      // The session ended under the clip; what was written stays (fragmented MP4).
    }
  }

  // Returns the cause that ended the session ("" when stopped).
  std::string read_session(const Callbacks& cb, bool* user_stop) {
    auto pkt = ff::make_packet();
    auto frame = ff::make_frame();
    const double tb = av_q2d(st->time_base);
    auto convert_one = [&](FrameConverter& conv, const AVFrame& f, const FrameMeta& meta) {
      Frame out;
      conv.push(f, meta, [&](const AVFrame& c, const FrameMeta& m) {
        out = to_frame(c, m);
        return true;
      });
      return out;
    };
    auto on_decoded = [&](AVFrame* f) -> bool {
      const int64_t ts = f->best_effort_timestamp;
      ++frame_seq;
      if (ts == AV_NOPTS_VALUE) return true;  // no time to place it on the camera timeline: not analysed
      const double t = ts * tb;
      frames_seen = true;
      if (o.analysis_fps > 0 && t + 1e-6 < next_analysis_t) return true;
      if (o.analysis_fps > 0) {
        const double step = 1.0 / o.analysis_fps;
        next_analysis_t = std::max(next_analysis_t + step, t + 0.5 * step);
      }
      LiveFrame lf;
      lf.session = session;
      lf.stream_s = stream_time(t);
      if (fmt->start_time_realtime != AV_NOPTS_VALUE && fmt->start_time_realtime > 0) {
        lf.wall_s = fmt->start_time_realtime / 1e6 + t;
        lf.wall_source = "rtcp";
      } else {
        lf.wall_s = base_wall + (t - base_t);
        lf.wall_source = "receive";
      }
      FrameMeta meta;
      meta.pts_seconds = lf.stream_s;
      meta.index = frame_seq - 1;
      meta.keyframe = f->key_frame != 0;
      lf.analysis = convert_one(*gray, *f, meta);
      if (rgb) lf.picture = convert_one(*rgb, *f, meta);
      if (lf.analysis.pixels.empty()) return true;
      last_stream_s = lf.stream_s;
      last_wall = wall_now();
      have_last = true;
      if (cb.on_frame && !cb.on_frame(lf)) {
        *user_stop = true;
        return false;
      }
      return true;
    };
    auto decode = [&](const AVPacket* p) -> bool {
      int send_rc = avcodec_send_packet(dec.get(), p);
      for (;;) {
        for (;;) {
          const int rc = avcodec_receive_frame(dec.get(), frame.get());
          if (rc < 0) break;
          ff::FrameGuard guard(frame.get());
          if (!on_decoded(frame.get())) return false;
        }
        if (send_rc != AVERROR(EAGAIN)) return true;
        send_rc = avcodec_send_packet(dec.get(), p);
      }
    };
    for (;;) {
      if (stopping()) return "";
      arm(o.stall_timeout_s);
      const int rc = av_read_frame(fmt.get(), pkt.get());
      if (rc < 0) {
        if (stopping()) return "";
        if (rc == AVERROR_EOF || (rc == AVERROR(EIO) && fmt->pb && avio_feof(fmt->pb) && file)) {
          if (file) decode(nullptr);
          return "end of stream";
        }
        if (timed_out) return fmt::format("stalled: no packet for {} s", o.stall_timeout_s);
        return fmt::format("connection lost: {}", ff::error_text(rc));
      }
      ff::PacketGuard guard(pkt.get());
      if (pkt->stream_index != vstream) continue;
      const double t = packet_time(pkt.get());
      if (!std::isnan(t)) {
        if (!session_has_base) set_base(t);
        pace(t);
        ring_push(pkt.get(), t);
      }
      clip_write(pkt.get());
      if (!decode(pkt.get())) return "";
    }
  }

  void run(const std::atomic<bool>& stop_flag, const Callbacks& cb) {
    if (o.rtsp_transport != "tcp" && o.rtsp_transport != "udp")
      throw DecodeError(fmt::format("{}: rtsp transport '{}': expected tcp or udp", shown, o.rtsp_transport));
    if (!(o.stall_timeout_s > 0) || !(o.open_timeout_s > 0) || !(o.backoff_initial_s > 0) || o.backoff_max_s < o.backoff_initial_s)
      throw DecodeError(fmt::format("{}: timeouts and backoff must be > 0 with backoff_max_s >= backoff_initial_s", shown));
    if (o.analysis_side <= 0 || o.analysis_fps < 0)
      throw DecodeError(fmt::format("{}: analysis_side must be > 0 and analysis_fps >= 0", shown));
    stop = &stop_flag;
    double backoff = o.backoff_initial_s;
    for (;;) {
      if (stopping()) return;
      std::string cause;
      bool user_stop = false;
      frames_seen = false;
      try {
        open_session();
        SessionInfo info;
        info.session = session;
        info.codec = avcodec_get_name(st->codecpar->codec_id);
        info.width = st->codecpar->width;
        info.height = st->codecpar->height;
        const AVRational r = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
        info.fps = r.num > 0 && r.den > 0 ? av_q2d(r) : 0.0;
        info.stream_offset_s = have_last ? last_stream_s : 0.0;
        if (cb.on_connected) cb.on_connected(info);
        cause = read_session(cb, &user_stop);
      } catch (const FatalInput&) {
        close_session();
        throw;
      } catch (const DecodeError& e) {
        cause = e.what();
      }
      const bool had_frames = frames_seen;
      const int ended = st ? session : 0;
      close_session();
      if (user_stop || stopping()) return;
      if (file && cause == "end of stream") return;
      if (had_frames) backoff = o.backoff_initial_s;
      if (cb.on_disconnected) cb.on_disconnected(Disconnect{ended, cause, had_frames, backoff});
      const auto until = Steady::now() + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(backoff));
      while (!stopping() && Steady::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      backoff = std::min(o.backoff_max_s, backoff * 2.0);
    }
  }
};

LiveSource::LiveSource(std::string url, LiveSourceOptions options) : impl_(std::make_unique<Impl>(std::move(url), std::move(options))) {}
LiveSource::~LiveSource() = default;

void LiveSource::run(const std::atomic<bool>& stop, const Callbacks& callbacks) { impl_->run(stop, callbacks); }
void LiveSource::start_clip(const std::string& path, double from_stream_s) { impl_->start_clip(path, from_stream_s); }
std::optional<std::string> LiveSource::finish_clip() { return impl_->finish_clip(); }
bool LiveSource::clip_open() const { return impl_->clip != nullptr; }
const std::string& LiveSource::url() const { return impl_->url; }

bool LiveSource::is_file_input(const std::string& url) {
  const std::string scheme = scheme_of(url);
  return scheme.empty() || scheme == "file";
}

std::string LiveSource::redact(const std::string& url) {
  const auto pos = url.find("://");
  if (pos == std::string::npos) return url;
  const auto host_end = url.find('/', pos + 3);
  const auto at = url.rfind('@', host_end == std::string::npos ? std::string::npos : host_end);
  if (at == std::string::npos || at < pos + 3) return url;
  return url.substr(0, pos + 3) + url.substr(at + 1);
}

}  // namespace smolvid::decode
