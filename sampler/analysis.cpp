#include "sampler/analysis.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "sampler/cv_frame.h"
#include "sampler/policy.h"

namespace smolvid::sampler {
namespace {

uint64_t dhash_of_grey(const cv::Mat& grey) {
  cv::Mat small;
  cv::resize(grey, small, cv::Size(9, 8), 0, 0, cv::INTER_AREA);
  uint64_t h = 0;
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) h = (h << 1) | (small.at<uint8_t>(y, x + 1) > small.at<uint8_t>(y, x) ? 1u : 0u);
  return h;
}

cv::Mat luma_histogram(const cv::Mat& grey) {
  cv::Mat hist;
  const int channels[] = {0};
  const int bins[] = {32};
  const float range[] = {0, 256};
  const float* ranges[] = {range};
  cv::calcHist(&grey, 1, channels, cv::Mat(), hist, 1, bins, ranges);
  return hist;
}

// Edge pixels of a grey frame (Canny on a lightly blurred copy: codec noise makes no edges).
cv::Mat edge_map(const cv::Mat& grey) {
  cv::Mat blurred, edges;
  cv::GaussianBlur(grey, blurred, cv::Size(3, 3), 0);
  cv::Canny(blurred, edges, 40, 100);
  return edges;
}

// Share of the edge pixels in `edges` with no edge of `other` within the dilation `reach`.
double edges_without_match(const cv::Mat& edges, const cv::Mat& other_dilated, int count) {
  cv::Mat unmatched;
  cv::bitwise_and(edges, ~other_dilated, unmatched);
  return static_cast<double>(cv::countNonZero(unmatched)) / count;
}

// A frame's edge pixels, and the same dilated by the reach an edge may move and still match.
struct Edges {
  cv::Mat map, reach;
  int count = 0;
};

Edges edges_of(const cv::Mat& grey, const cv::Mat& kernel) {
  Edges e;
  e.map = edge_map(grey);
  cv::dilate(e.map, e.reach, kernel);
  e.count = cv::countNonZero(e.map);
  return e;
}

// Edge change ratio: min(entering, exiting). Frames with (almost) no edges, such as a flat
// colour field or black, have no ratio: 0 when both lack edges, 1 when only one does.
double edge_change_ratio(const Edges& prev, const Edges& cur) {
  const int min_edges = std::max(4, static_cast<int>(cur.map.total() / 500));
  if (prev.count < min_edges && cur.count < min_edges) return 0.0;
  if (prev.count < min_edges || cur.count < min_edges) return 1.0;
  return std::min(edges_without_match(cur.map, prev.reach, cur.count), edges_without_match(prev.map, cur.reach, prev.count));
}

std::array<uint8_t, 192> thumbnail(const cv::Mat& small) {
  cv::Mat t;
  cv::resize(small, t, cv::Size(8, 8), 0, 0, cv::INTER_AREA);
  std::array<uint8_t, 192> out{};
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x)
      for (int c = 0; c < 3; ++c)
        out[static_cast<size_t>((y * 8 + x) * 3 + c)] = t.channels() == 3 ? t.at<cv::Vec3b>(y, x)[c] : t.at<uint8_t>(y, x);
  return out;
}

}  // namespace

struct FrameAnalyzer::Impl {
  AnalysisOptions o;
  bool have_prev = false;
  cv::Mat prev_colour;  // HSV (3 channels) or grey
  cv::Mat prev_hist;
  cv::Mat background;   // CV_32F blurred grey
  cv::Mat prev_small;   // RGB or grey, as decoded (scene features)
  Edges prev_edges;
  cv::Mat edge_kernel;
  double prev_time = 0.0;
};

FrameAnalyzer::FrameAnalyzer(AnalysisOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.blur_kernel < 1 || options.blur_kernel % 2 == 0)
    throw SamplerError(fmt::format("frame analysis: blur_kernel must be odd and >= 1, got {}", options.blur_kernel));
  if (!(options.background_tau_s > 0))
    throw SamplerError(fmt::format("frame analysis: background_tau_s must be > 0, got {}", options.background_tau_s));
  if (!(options.foreground_slowdown >= 1.0))
    throw SamplerError(fmt::format("frame analysis: foreground_slowdown must be >= 1, got {}", options.foreground_slowdown));
  if (!(options.edge_reach >= 0.0) || options.edge_reach > 16.0)
    throw SamplerError(fmt::format("frame analysis: edge_reach must be in [0, 16] pixels, got {}", options.edge_reach));
  impl_->o = options;
  const int k = 2 * static_cast<int>(std::lround(options.edge_reach)) + 1;
  impl_->edge_kernel = cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(k, k));
}
FrameAnalyzer::~FrameAnalyzer() = default;
FrameAnalyzer::FrameAnalyzer(FrameAnalyzer&&) noexcept = default;
FrameAnalyzer& FrameAnalyzer::operator=(FrameAnalyzer&&) noexcept = default;

FrameFeatures FrameAnalyzer::push(const decode::Frame& frame) {
  Impl& s = *impl_;
  const cv::Mat small = fit_within(frame_view(frame), s.o.work_side);
  cv::Mat grey, colour;
  if (small.channels() == 3) {
    cv::cvtColor(small, grey, cv::COLOR_RGB2GRAY);
    cv::cvtColor(small, colour, cv::COLOR_RGB2HSV_FULL);  // hue on 0..255 like S and V
  } else {
    grey = small.clone();
    colour = grey;
  }

  FrameFeatures f;
  f.time_s = frame.pts_seconds;
  f.index = frame.index;
  f.keyframe = frame.keyframe;
  f.dhash = dhash_of_grey(grey);
  cv::Mat hist = luma_histogram(grey);

  cv::Mat blurred_f;
  if (s.o.motion_features) {
    cv::Mat blurred;
    cv::GaussianBlur(grey, blurred, cv::Size(s.o.blur_kernel, s.o.blur_kernel), 0);
    blurred.convertTo(blurred_f, CV_32F);
  }

  const bool same_size = s.have_prev && s.prev_colour.size() == colour.size() && s.prev_colour.type() == colour.type();
  if (same_size) {
    cv::Mat diff;
    cv::absdiff(colour, s.prev_colour, diff);
    cv::Scalar m = cv::mean(diff);
    if (colour.channels() == 3) {
      // Hue is circular: a difference of 250 is a difference of 6.
      cv::Mat hue;
      cv::extractChannel(diff, hue, 0);
      cv::Mat wrapped = 256 - hue;  // saturates to 255 where hue is 0, and min() keeps the 0
      cv::min(hue, wrapped, hue);
      m[0] = cv::mean(hue)[0];
    }
    f.content = colour.channels() == 3 ? (m[0] + m[1] + m[2]) / 3.0 : m[0];
    f.histogram = 1.0 - cv::compareHist(hist, s.prev_hist, cv::HISTCMP_CORREL);
  }
  Edges edges;
  if (s.o.scene_features) {
    cv::Scalar mean, stddev;
    cv::meanStdDev(grey, mean, stddev);
    f.luma_mean = mean[0];
    f.luma_std = stddev[0];
    f.thumb = thumbnail(small);
    edges = edges_of(grey, s.edge_kernel);
    if (same_size) {
      cv::Mat diff, largest;
      cv::absdiff(small, s.prev_small, diff);
      if (diff.channels() == 3) {
        std::vector<cv::Mat> planes;
        cv::split(diff, planes);
        largest = cv::max(cv::max(planes[0], planes[1]), planes[2]);
      } else {
        largest = diff;
      }
      f.changed = static_cast<double>(cv::countNonZero(largest > s.o.changed_pixel_threshold)) / static_cast<double>(largest.total());
      f.edge_change = edge_change_ratio(s.prev_edges, edges);
    }
  }
  if (same_size && s.o.motion_features) {
    cv::Mat fg_diff;
    cv::absdiff(blurred_f, s.background, fg_diff);
    cv::Mat fg = fg_diff > s.o.motion_pixel_threshold;  // 255 where changed
    f.motion = static_cast<double>(cv::countNonZero(fg)) / static_cast<double>(fg.total());

    const double dt = std::max(0.0, frame.pts_seconds - s.prev_time);
    const double alpha = 1.0 - std::exp(-dt / s.o.background_tau_s);
    const double alpha_fg = 1.0 - std::exp(-dt / (s.o.background_tau_s * s.o.foreground_slowdown));
    cv::Mat bg_mask = ~fg;
    cv::accumulateWeighted(blurred_f, s.background, alpha, bg_mask);
    cv::accumulateWeighted(blurred_f, s.background, alpha_fg, fg);
  } else if (!same_size) {
    // First frame, or the stream changed size mid-way: start over.
    s.background = blurred_f.clone();
  }
  s.prev_colour = colour;  // a fresh Mat each frame (cvtColor or clone above)
  if (s.o.scene_features) {
    s.prev_small = small.clone();  // small may wrap the caller's pixels (no resize needed)
    s.prev_edges = std::move(edges);
  }
  s.prev_hist = hist;
  s.prev_time = frame.pts_seconds;
  s.have_prev = true;
  return f;
}

uint64_t difference_hash(const decode::Frame& frame) {
  const cv::Mat m = frame_view(frame);
  if (m.channels() == 1) return dhash_of_grey(m);
  cv::Mat grey;
  cv::cvtColor(m, grey, cv::COLOR_RGB2GRAY);
  return dhash_of_grey(grey);
}

int hamming_distance(uint64_t a, uint64_t b) { return __builtin_popcountll(a ^ b); }

}  // namespace smolvid::sampler
