#include "sampler/motion_tracker.h"

#include <fmt/core.h>

#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "sampler/policy.h"

namespace smolvid::sampler {

MotionTracker::MotionTracker(MotionOptions motion, AnalysisOptions analysis, IgnoreMask mask)
    : motion_(motion), analysis_(analysis), mask_(std::move(mask)), analyzer_(analysis) {
  if (motion_.stay_fraction > motion_.start_fraction)
    throw SamplerError(fmt::format("motion tracking: stay_fraction ({}) must not exceed start_fraction ({})", motion_.stay_fraction,
                                   motion_.start_fraction));
  if (!(motion_.min_event_s >= 0) || !(motion_.merge_gap_s >= 0))
    throw SamplerError(fmt::format("motion tracking: min_event_s ({}) and merge_gap_s ({}) must be >= 0", motion_.min_event_s,
                                   motion_.merge_gap_s));
  for (const auto& poly : mask_) {
    if (poly.size() < 3) throw SamplerError(fmt::format("ignore mask: a polygon needs at least 3 points, got {}", poly.size()));
    for (const auto& [x, y] : poly)
      if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1))
        throw SamplerError(fmt::format("ignore mask: point ({}, {}) is outside [0, 1] (coordinates are fractions of the frame)", x, y));
  }
  analysis_.motion_features = true;
}

std::vector<MotionTracker::Update> MotionTracker::close_pending(bool force) {
  std::vector<Update> out;
  if (!open_ || (!force && !quiet_)) return out;
  Update u;
  u.event = *open_;
  u.kind = open_->end_s - open_->start_s >= motion_.min_event_s ? Update::kClosed : Update::kDropped;
  out.push_back(u);
  open_.reset();
  quiet_ = false;
  return out;
}

std::vector<MotionTracker::Update> MotionTracker::push(const decode::Frame& input) {
  std::vector<Update> out;
  if (have_last_ && !(input.pts_seconds > last_.time_s)) return out;
  FrameFeatures f;
  if (mask_.empty()) {
    f = analyzer_.push(input);
  } else {
    decode::Frame masked = input;
    cv::Mat m(masked.height, masked.width, masked.channels == 3 ? CV_8UC3 : CV_8UC1, masked.pixels.data());
    std::vector<std::vector<cv::Point>> polys;
    for (const auto& poly : mask_) {
      std::vector<cv::Point> pts;
      for (const auto& [x, y] : poly)
        pts.emplace_back(static_cast<int>(std::lround(x * masked.width)), static_cast<int>(std::lround(y * masked.height)));
      polys.push_back(std::move(pts));
    }
    cv::Mat covered = cv::Mat::zeros(m.size(), CV_8UC1);
    cv::fillPoly(covered, polys, cv::Scalar(255));
    m.setTo(cv::Scalar::all(0), covered);
    f = analyzer_.push(masked);
    // Changed pixels as a fraction of the pixels watched, not of the whole frame.
    const double watched = 1.0 - static_cast<double>(cv::countNonZero(covered)) / static_cast<double>(covered.total());
    f.motion = watched > 0 ? std::min(1.0, f.motion / watched) : 0.0;
  }
  have_prev_ = have_last_;
  if (have_last_) prev_time_ = last_.time_s;
  last_ = f;
  have_last_ = true;
  const double t = f.time_s, mo = f.motion;

  // A quiet event: a new burst within merge_gap_s extends it; past that it is final.
  if (open_ && quiet_) {
    if (mo >= motion_.start_fraction && t - open_->end_s <= motion_.merge_gap_s) {
      quiet_ = false;
      active_ = true;
    } else if (t - open_->end_s > motion_.merge_gap_s) {
      out = close_pending(false);
    }
  }
  if (!active_ && !quiet_ && mo >= motion_.start_fraction) {
    active_ = true;
    open_ = Event{t, t, mo, t};
    out.push_back(Update{Update::kOpened, *open_});
  } else if (active_ && mo < motion_.stay_fraction) {
    active_ = false;
    quiet_ = true;
    open_->end_s = t;
  } else if (active_) {
    open_->end_s = t;
  }
  if (active_ && mo > open_->peak) {
    open_->peak = mo;
    open_->peak_s = t;
  }
  return out;
}

std::vector<MotionTracker::Update> MotionTracker::finish() {
  if (active_ && open_) {
    open_->end_s = last_.time_s + (have_prev_ ? last_.time_s - prev_time_ : 0.0);
  }
  std::vector<Update> out = close_pending(true);
  active_ = false;
  quiet_ = false;
  have_last_ = false;
  have_prev_ = false;
  analyzer_ = FrameAnalyzer(analysis_);
  return out;
}

}  // namespace smolvid::sampler
