// decode/converter.cpp: the libavfilter chain of decode/converter.h.
#include "decode/converter.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace smolvid::decode {

namespace {

bool same_sar(AVRational a, AVRational b) { return av_cmp_q(a, b) == 0 || (a.num == 0 && b.num == 0); }

}  // namespace

FrameConverter::FrameConverter(std::string path, ConverterSpec spec)
    : path_(std::move(path)), spec_(spec), out_(ff::make_frame()) {}

void FrameConverter::reset() {
  graph_.reset();
  src_ = sink_ = nullptr;
  pending_.clear();
}

void FrameConverter::build(const AVFrame& frame) {
  reset();
  in_width_ = frame.width;
  in_height_ = frame.height;
  in_format_ = frame.format;
  in_sar_ = frame.sample_aspect_ratio;

  AVRational sar = frame.sample_aspect_ratio.num > 0 ? frame.sample_aspect_ratio : spec_.stream_sar;
  if (sar.num <= 0 || sar.den <= 0) sar = AVRational{1, 1};

  // Output size: SAR stretches the coded width (as `scale=iw*sar:ih` does), rotation swaps sides,
  // max_side bounds the longer side keeping the aspect ratio.
  const bool transposed = spec_.rotation_degrees == 90 || spec_.rotation_degrees == 270;
  int w = frame.width, h = frame.height;
  if (spec_.apply_sar && av_cmp_q(sar, AVRational{1, 1}) != 0) {
    w = static_cast<int>(std::lround(static_cast<double>(frame.width) * sar.num / sar.den));
    w = std::max(w, 1);
  }
  if (transposed) std::swap(w, h);
  if (spec_.max_side > 0 && std::max(w, h) > spec_.max_side) {
    const double s = static_cast<double>(spec_.max_side) / std::max(w, h);
    w = std::max(1, static_cast<int>(std::lround(w * s)));
    h = std::max(1, static_cast<int>(std::lround(h * s)));
  }
  const int rotated_w = transposed ? frame.height : frame.width;
  const int rotated_h = transposed ? frame.width : frame.height;

  std::vector<std::string> filters;
  if (spec_.deinterlace) filters.emplace_back("yadif");
  switch (spec_.rotation_degrees) {
    case 90: filters.emplace_back("transpose=clock"); break;
    case 180: filters.emplace_back("hflip"); filters.emplace_back("vflip"); break;
    case 270: filters.emplace_back("transpose=cclock"); break;
    default: break;
  }
  if (w != rotated_w || h != rotated_h) filters.push_back(fmt::format("scale={}:{}", w, h));
  filters.emplace_back(spec_.pixel_format == PixelFormat::kGray8 ? "format=pix_fmts=gray" : "format=pix_fmts=rgb24");
  chain_.clear();
  for (const std::string& f : filters) chain_ += (chain_.empty() ? "" : ",") + f;

  graph_.reset(avfilter_graph_alloc());
  if (!graph_) throw DecodeError(path_ + ": avfilter_graph_alloc: out of memory");
  graph_->nb_threads = 1;
  // The ffmpeg CLI passes "flags=bicubic" to every scale filter it inserts; do the same so the
  // RGB conversion is bit-identical. Frames shrunk for analysis (max_side) use area averaging:
  // cheaper than bicubic on large reductions and free of aliasing (= `ffmpeg -sws_flags area`).
  const bool shrunk = spec_.max_side > 0 && (w != rotated_w || h != rotated_h);
  graph_->scale_sws_opts = av_strdup(shrunk ? "flags=area" : "flags=bicubic");

  const std::string args = fmt::format("video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}", frame.width,
                                       frame.height, frame.format, spec_.time_base.num, spec_.time_base.den,
                                       sar.num, sar.den);
  ff::check(avfilter_graph_create_filter(&src_, avfilter_get_by_name("buffer"), "in", args.c_str(), nullptr,
                                         graph_.get()),
            path_, "creating the filter graph source (" + args + ")");
  ff::check(avfilter_graph_create_filter(&sink_, avfilter_get_by_name("buffersink"), "out", nullptr, nullptr,
                                         graph_.get()),
            path_, "creating the filter graph sink");

  AVFilterInOut* outputs = avfilter_inout_alloc();
  AVFilterInOut* inputs = avfilter_inout_alloc();
  if (!outputs || !inputs) {
    avfilter_inout_free(&outputs);
    avfilter_inout_free(&inputs);
    throw DecodeError(path_ + ": avfilter_inout_alloc: out of memory");
  }
  outputs->name = av_strdup("in");
  outputs->filter_ctx = src_;
  outputs->pad_idx = 0;
  outputs->next = nullptr;
  inputs->name = av_strdup("out");
  inputs->filter_ctx = sink_;
  inputs->pad_idx = 0;
  inputs->next = nullptr;
  const int rc = avfilter_graph_parse_ptr(graph_.get(), chain_.c_str(), &inputs, &outputs, nullptr);
  avfilter_inout_free(&inputs);
  avfilter_inout_free(&outputs);
  ff::check(rc, path_, "parsing the filter chain \"" + chain_ + "\"");
  ff::check(avfilter_graph_config(graph_.get(), nullptr), path_, "configuring the filter chain \"" + chain_ + "\"");
}

bool FrameConverter::drain(const ConvertedCallback& out) {
  for (;;) {
    const int rc = av_buffersink_get_frame(sink_, out_.get());
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return true;
    ff::check(rc, path_, "reading from the filter chain \"" + chain_ + "\"");
    ff::FrameGuard guard(out_.get());
    if (pending_.empty()) {
      throw DecodeError(fmt::format("{}: the filter chain \"{}\" produced more frames than it was given", path_, chain_));
    }
    const FrameMeta meta = pending_.front();
    pending_.pop_front();
    if (meta.emit_count > 0 && !out(*out_, meta)) return false;
  }
}

bool FrameConverter::push(const AVFrame& frame, const FrameMeta& meta, const ConvertedCallback& out) {
  if (graph_ && (frame.width != in_width_ || frame.height != in_height_ || frame.format != in_format_ ||
                 !same_sar(frame.sample_aspect_ratio, in_sar_))) {
    if (!flush(out)) return false;
  }
  if (!graph_) build(frame);
  pending_.push_back(meta);
  ff::check(av_buffersrc_add_frame_flags(src_, const_cast<AVFrame*>(&frame), AV_BUFFERSRC_FLAG_KEEP_REF), path_,
            "feeding the filter chain \"" + chain_ + "\"");
  return drain(out);
}

bool FrameConverter::flush(const ConvertedCallback& out) {
  if (!graph_) return true;
  ff::check(av_buffersrc_add_frame_flags(src_, nullptr, 0), path_, "flushing the filter chain \"" + chain_ + "\"");
  const bool go_on = drain(out);
  reset();
  return go_on;
}

Frame to_frame(const AVFrame& converted, const FrameMeta& meta) {
  Frame f;
  f.width = converted.width;
  f.height = converted.height;
  f.channels = converted.format == AV_PIX_FMT_GRAY8 ? 1 : 3;
  const size_t row_bytes = static_cast<size_t>(f.width) * f.channels;
  f.pixels.resize(row_bytes * f.height);
  for (int y = 0; y < f.height; ++y) {
    std::memcpy(f.pixels.data() + row_bytes * y, converted.data[0] + static_cast<ptrdiff_t>(y) * converted.linesize[0],
                row_bytes);
  }
  f.pts_seconds = meta.pts_seconds;
  f.index = meta.index;
  f.keyframe = meta.keyframe;
  f.pts_derived = meta.pts_derived;
  return f;
}

}  // namespace smolvid::decode
