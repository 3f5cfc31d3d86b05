#include "sampler/image.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unistd.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "sampler/cv_frame.h"
#include "sampler/policy.h"

namespace smolvid::sampler {
namespace {

// JPEG wants BGR order (or one grey channel).
cv::Mat jpeg_order(const cv::Mat& view) {
  if (view.channels() == 1) return view;
  cv::Mat bgr;
  cv::cvtColor(view, bgr, cv::COLOR_RGB2BGR);
  return bgr;
}

std::vector<uint8_t> encode(const cv::Mat& image, int quality, const std::string& what) {
  if (quality < 1 || quality > 100) throw SamplerError(fmt::format("JPEG of {}: quality {} not in [1, 100]", what, quality));
  std::vector<uint8_t> out;
  if (!cv::imencode(".jpg", image, out, {cv::IMWRITE_JPEG_QUALITY, quality})) {
    throw SamplerError(fmt::format("JPEG of {}: OpenCV could not encode the {}x{} image", what, image.cols, image.rows));
  }
  return out;
}

// Written under a temporary name and renamed, so a crash or a full disk never leaves a truncated
// image under the final name.
void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  const std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      throw SamplerError(fmt::format("cannot write image {} ({} bytes): {}", path, bytes.size(), std::strerror(errno)));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw SamplerError(fmt::format("cannot write image {}: {}", path, std::strerror(err)));
  }
}

std::string frame_name(const decode::Frame& f) { return fmt::format("the frame at {:.3f} s", f.pts_seconds); }

}  // namespace

cv::Mat frame_view(const decode::Frame& f) {
  if (f.width <= 0 || f.height <= 0 || (f.channels != 1 && f.channels != 3))
    throw SamplerError(fmt::format("frame {} at {} s has size {}x{}x{}; expected width, height > 0 and 1 or 3 channels",
                                   f.index, f.pts_seconds, f.width, f.height, f.channels));
  const size_t want = static_cast<size_t>(f.width) * f.height * f.channels;
  if (f.pixels.size() != want)
    throw SamplerError(fmt::format("frame {} at {} s holds {} bytes, expected {} for {}x{}x{}", f.index, f.pts_seconds,
                                   f.pixels.size(), want, f.width, f.height, f.channels));
  return cv::Mat(f.height, f.width, f.channels == 3 ? CV_8UC3 : CV_8UC1, const_cast<uint8_t*>(f.pixels.data()));
}

cv::Mat fit_within(const cv::Mat& image, int max_side) {
  const int longest = std::max(image.cols, image.rows);
  if (max_side <= 0 || longest <= max_side) return image;
  const double s = static_cast<double>(max_side) / longest;
  cv::Mat out;
  cv::resize(image, out,
             cv::Size(std::max(1, static_cast<int>(std::lround(image.cols * s))), std::max(1, static_cast<int>(std::lround(image.rows * s)))),
             0, 0, cv::INTER_AREA);
  return out;
}

std::vector<uint8_t> encode_jpeg(const decode::Frame& frame, int max_side, int quality) {
  return encode(jpeg_order(fit_within(frame_view(frame), max_side)), quality, frame_name(frame));
}

void write_jpeg(const std::string& path, const decode::Frame& frame, int quality) {
  write_bytes(path, encode_jpeg(frame, 0, quality));
}

void write_contact_sheet(const std::string& path, const std::vector<decode::Frame>& frames,
                         const std::vector<std::string>& labels, int thumb_width, int quality) {
  if (frames.empty()) throw SamplerError(fmt::format("contact sheet {}: no frames", path));
  if (labels.size() != frames.size())
    throw SamplerError(fmt::format("contact sheet {}: {} labels for {} frames", path, labels.size(), frames.size()));
  if (thumb_width < 1) throw SamplerError(fmt::format("contact sheet {}: thumbnail width {} must be >= 1", path, thumb_width));
  const int n = static_cast<int>(frames.size());
  const int cols = std::max(1, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n)))));
  const int rows = (n + cols - 1) / cols;
  std::vector<cv::Mat> thumbs;
  int thumb_height = 1;
  for (const decode::Frame& f : frames) {
    const cv::Mat view = frame_view(f);
    cv::Mat bgr;
    cv::cvtColor(view, bgr, view.channels() == 3 ? cv::COLOR_RGB2BGR : cv::COLOR_GRAY2BGR);
    const int h = std::max(1, static_cast<int>(std::lround(static_cast<double>(bgr.rows) * thumb_width / bgr.cols)));
    cv::Mat thumb;
    cv::resize(bgr, thumb, cv::Size(thumb_width, h), 0, 0, cv::INTER_AREA);
    thumb_height = std::max(thumb_height, h);
    thumbs.push_back(thumb);
  }
  const int gap = 4;
  cv::Mat sheet(rows * (thumb_height + gap) + gap, cols * (thumb_width + gap) + gap, CV_8UC3, cv::Scalar(32, 32, 32));
  for (int k = 0; k < n; ++k) {
    const int x = gap + (k % cols) * (thumb_width + gap);
    const int y = gap + (k / cols) * (thumb_height + gap);
    thumbs[k].copyTo(sheet(cv::Rect(x, y, thumbs[k].cols, thumbs[k].rows)));
    const double scale = thumb_width / 400.0;
    int base = 0;
    const cv::Size ts = cv::getTextSize(labels[k], cv::FONT_HERSHEY_SIMPLEX, scale, 1, &base);
    cv::rectangle(sheet, cv::Rect(x, y, ts.width + 8, ts.height + base + 8), cv::Scalar(0, 0, 0), cv::FILLED);
    cv::putText(sheet, labels[k], cv::Point(x + 4, y + 4 + ts.height), cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(255, 255, 255), 1,
                cv::LINE_AA);
  }
  write_bytes(path, encode(sheet, quality, "contact sheet " + path));
}

}  // namespace smolvid::sampler
