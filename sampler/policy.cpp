#include "sampler/policy.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "util/time_format.h"

namespace smolvid::sampler {
namespace {

void check_meta(const VideoMeta& meta, const char* policy) {
  if (!(meta.duration_s > 0.0) || !std::isfinite(meta.duration_s))
    throw SamplerError(fmt::format("{} sampling: video duration must be > 0 s, got {}", policy, meta.duration_s));
  if (!(meta.fps > 0.0) || !std::isfinite(meta.fps))
    throw SamplerError(fmt::format("{} sampling: frame rate must be > 0, got {}", policy, meta.fps));
}

void check_budget(int max_frames, const char* policy) {
  if (max_frames < 1) throw SamplerError(fmt::format("{} sampling: max_frames must be >= 1, got {}", policy, max_frames));
}

}  // namespace

void set_offset(Pick& pick, double start_time_s) {
  pick.offset_s = pick.time_s - start_time_s;
  pick.label = util::format_mmss(std::max(0.0, pick.offset_s));
}

std::vector<size_t> spread_evenly(size_t count, size_t budget) {
  std::vector<size_t> out;
  if (count <= budget) {
    for (size_t i = 0; i < count; ++i) out.push_back(i);
    return out;
  }
  for (size_t k = 0; k < budget; ++k) {
    const double centre = (static_cast<double>(k) + 0.5) * static_cast<double>(count) / static_cast<double>(budget);
    auto i = static_cast<size_t>(std::floor(centre));
    i = std::min(i, count - 1);
    if (out.empty() || out.back() != i) out.push_back(i);
  }
  return out;
}

std::vector<int64_t> smolvlm2_indices(int64_t frame_count, double fps, double duration_s, const Smolvlm2Options& o) {
  if (frame_count < 1) throw SamplerError(fmt::format("smolvlm2 sampling: frame count must be >= 1, got {}", frame_count));
  if (!(fps > 0.0)) throw SamplerError(fmt::format("smolvlm2 sampling: frame rate must be > 0, got {}", fps));
  if (!(duration_s >= 0.0)) throw SamplerError(fmt::format("smolvlm2 sampling: duration must be >= 0 s, got {}", duration_s));
  check_budget(o.max_frames, "smolvlm2");

  // round() in Python 3 is round-half-to-even; nearbyint uses the current mode, which is that.
  const auto estimated = static_cast<int64_t>(std::nearbyint(o.target_fps * duration_s));
  const int64_t desired = std::max<int64_t>(1, std::min<int64_t>(estimated, o.max_frames));

  int64_t start = 0;
  int64_t end = frame_count - 1;
  if (duration_s - 2.0 * o.skip_secs > o.max_frames * o.target_fps) {
    start = static_cast<int64_t>(o.skip_secs * fps);
    end = static_cast<int64_t>(static_cast<double>(frame_count) - o.skip_secs * fps);
  }
  start = std::max<int64_t>(0, start);
  end = std::min<int64_t>(end, frame_count - 1);
  if (start >= end) {
    start = 0;
    end = frame_count - 1;
  }

  std::vector<int64_t> idx;
  if (desired == 1) {
    idx.push_back(start);
  } else {
    // numpy.linspace: step computed once, value_i = i * step + start, last forced to stop.
    const double step = static_cast<double>(end - start) / static_cast<double>(desired - 1);
    for (int64_t i = 0; i < desired; ++i) {
      const double v = static_cast<double>(i) * step + static_cast<double>(start);
      idx.push_back(static_cast<int64_t>(std::floor(v)));
    }
    idx.back() = end;
  }
  std::sort(idx.begin(), idx.end());
  idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
  return idx;
}

Selection sample_smolvlm2(const VideoMeta& meta, const Smolvlm2Options& o) {
  check_meta(meta, "smolvlm2");
  Selection sel;
  sel.policy = "smolvlm2";
  sel.duration_s = meta.duration_s;
  const auto idx = smolvlm2_indices(meta.frame_count, meta.fps, meta.duration_s, o);
  for (int64_t i : idx) {
    Pick p;
    p.index = i;
    p.offset_s = static_cast<double>(i) / meta.fps;
    // Aim at the middle of the frame's display interval: decode_at returns the last frame with
    // pts <= t, and rounding in i / fps must not land on the previous frame.
    p.time_s = meta.start_time_s + (static_cast<double>(i) + 0.5) / meta.fps;
    p.label = util::format_mmss(p.offset_s);
    p.reason = fmt::format("smolvlm2: frame {} of {} (linspace over {} s at {} fps target, max {})", i,
                           meta.frame_count, meta.duration_s, o.target_fps, o.max_frames);
    sel.picks.push_back(std::move(p));
  }
  return sel;
}

Selection sample_uniform(const VideoMeta& meta, const UniformOptions& o) {
  check_meta(meta, "uniform");
  check_budget(o.max_frames, "uniform");
  if (!(o.every_s >= 0.0) || !std::isfinite(o.every_s)) throw SamplerError(fmt::format("uniform sampling: every_s must be >= 0, got {}", o.every_s));
  Selection sel;
  sel.policy = "uniform";
  sel.duration_s = meta.duration_s;
  std::vector<double> offsets;
  std::vector<std::string> reasons;
  if (o.every_s > 0.0) {
    // The steps k * every_s < duration, counted without listing them (a tiny step must not cost
    // memory: only the kept ones are made).
    if (meta.duration_s / o.every_s > 1e9)
      throw SamplerError(fmt::format("uniform sampling: one frame every {} s over {} s is more than 1e9 steps", o.every_s,
                                     meta.duration_s));
    auto steps = static_cast<size_t>(std::ceil(meta.duration_s / o.every_s));
    while (steps > 0 && static_cast<double>(steps - 1) * o.every_s >= meta.duration_s) --steps;
    while (static_cast<double>(steps) * o.every_s < meta.duration_s) ++steps;
    const auto keep = spread_evenly(steps, static_cast<size_t>(o.max_frames));
    if (keep.size() < steps)
      sel.notes.push_back(fmt::format("uniform: {} frames at one every {} s exceed the budget of {}: thinned evenly",
                                      steps, o.every_s, o.max_frames));
    for (size_t i : keep) {
      offsets.push_back(static_cast<double>(i) * o.every_s);
      reasons.push_back(fmt::format("uniform: one frame every {} s (step {})", o.every_s, i));
    }
  } else {
    // Never more frames than the video holds.
    const int64_t n = std::max<int64_t>(1, std::min<int64_t>(o.max_frames, meta.frame_count > 0 ? meta.frame_count : o.max_frames));
    for (int64_t k = 0; k < n; ++k) {
      offsets.push_back((static_cast<double>(k) + 0.5) * meta.duration_s / static_cast<double>(n));
      reasons.push_back(fmt::format("uniform: centre of part {} of {} equal parts", k + 1, n));
    }
  }
  for (size_t i = 0; i < offsets.size(); ++i) {
    Pick p;
    p.time_s = meta.start_time_s + offsets[i];
    set_offset(p, meta.start_time_s);
    p.reason = reasons[i];
    sel.picks.push_back(std::move(p));
  }
  return sel;
}

Selection sample_keyframes(const VideoMeta& meta, const KeyframeOptions& o) {
  check_budget(o.max_frames, "keyframes");
  if (meta.keyframe_times.empty()) throw SamplerError("keyframes sampling: the video lists no keyframes (expected at least 1)");
  Selection sel;
  sel.policy = "keyframes";
  sel.duration_s = meta.duration_s;
  std::vector<double> times = meta.keyframe_times;
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  const auto keep = spread_evenly(times.size(), static_cast<size_t>(o.max_frames));
  if (keep.size() < times.size())
    sel.notes.push_back(fmt::format("keyframes: {} keyframes exceed the budget of {}: thinned evenly", times.size(), o.max_frames));
  for (size_t i : keep) {
    Pick p;
    p.time_s = times[i];
    set_offset(p, meta.start_time_s);
    p.reason = fmt::format("keyframe {} of {}", i + 1, times.size());
    sel.picks.push_back(std::move(p));
  }
  return sel;
}

}  // namespace smolvid::sampler
