#include "sampler/detect.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

namespace smolvid::sampler {
namespace {

void check_frames(const std::vector<FrameFeatures>& frames, const char* policy) {
  if (frames.empty()) throw SamplerError(fmt::format("{} detection: no analysis frames (expected at least 1)", policy));
  for (size_t i = 1; i < frames.size(); ++i)
    if (frames[i].time_s < frames[i - 1].time_s)
      throw SamplerError(fmt::format("{} detection: frame times must ascend; frame {} at {} s follows {} s", policy,
                                     frames[i].index, frames[i].time_s, frames[i - 1].time_s));
}

// End of the frame range [a, b): the next frame's time, or the last frame plus its predecessor's
// duration (the best guess for how long the final frame shows).
double range_end(const std::vector<FrameFeatures>& f, size_t b) {
  if (b < f.size()) return f[b].time_s;
  const size_t n = f.size();
  const double dt = n >= 2 ? f[n - 1].time_s - f[n - 2].time_s : 0.0;
  return f[n - 1].time_s + dt;
}

struct Range {
  size_t a = 0, b = 0;  // frame positions [a, b)
  double score = 0.0;
  size_t peak = 0;      // motion: frame position of the peak
};

Pick make_pick(const FrameFeatures& f, double start_time_s, std::string reason) {
  Pick p;
  p.time_s = f.time_s;
  p.index = f.index;
  set_offset(p, start_time_s);
  p.reason = std::move(reason);
  return p;
}

}  // namespace

std::vector<int> allocate_budget(const std::vector<double>& length, const std::vector<double>& weight,
                                 const std::vector<int>& capacity, int budget) {
  const size_t n = length.size();
  if (weight.size() != n || capacity.size() != n)
    throw SamplerError(fmt::format("allocate_budget: {} lengths but {} weights and {} capacities", n, weight.size(), capacity.size()));
  std::vector<int> count(n, 0);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return weight[x] > weight[y]; });
  int left = budget;
  for (size_t i : order) {
    if (left <= 0) break;
    if (capacity[i] > 0) {
      count[i] = 1;
      --left;
    }
  }
  // The rest in proportion to length (D'Hondt: next frame to the largest length / (count + 1)).
  while (left > 0) {
    size_t best = n;
    double best_q = -1.0;
    for (size_t i = 0; i < n; ++i) {
      if (count[i] == 0 || count[i] >= capacity[i]) continue;
      const double q = length[i] / (count[i] + 1);
      if (q > best_q) {
        best_q = q;
        best = i;
      }
    }
    if (best == n) break;
    ++count[best];
    --left;
  }
  return count;
}

namespace {

// Appends one segment per range to `sel` and shares the frame budget among them: each range's
// share weighs its length (shots) or its score (events), at most one frame per frame it holds.
std::vector<int> add_segments(Selection& sel, const std::vector<FrameFeatures>& f, const std::vector<Range>& ranges,
                              const char* kind, bool weigh_by_score, int budget) {
  std::vector<double> length, weight;
  std::vector<int> capacity;
  for (const Range& r : ranges) {
    Segment s;
    s.start_s = f[r.a].time_s;
    s.end_s = range_end(f, r.b);
    s.score = r.score;
    s.kind = kind;
    sel.segments.push_back(s);
    length.push_back(s.end_s - s.start_s);
    weight.push_back(weigh_by_score ? r.score : s.end_s - s.start_s);
    capacity.push_back(static_cast<int>(r.b - r.a));
  }
  return allocate_budget(length, weight, capacity, budget);
}

}  // namespace

Selection detect_scenes(const std::vector<FrameFeatures>& f, const SceneOptions& o) {
  check_frames(f, "scenes");
  if (o.max_frames < 1) throw SamplerError(fmt::format("scenes detection: max_frames must be >= 1, got {}", o.max_frames));
  if (o.window_frames < 1) throw SamplerError(fmt::format("scenes detection: window_frames must be >= 1, got {}", o.window_frames));
  const size_t n = f.size();
  const double start_time = f.front().time_s;

  std::vector<Range> shots;
  Range cur;
  double last_cut_time = f.front().time_s;
  const auto w = static_cast<size_t>(o.window_frames);
  for (size_t i = 1; i < n; ++i) {
    const double c = f[i].content;
    if (c < o.min_content || (c < o.strong_content && f[i].histogram < o.min_histogram)) continue;
    double sum = 0.0;
    int cnt = 0;
    for (size_t j = (i > w ? i - w : 1); j <= std::min(n - 1, i + w); ++j) {
      if (j == i || j == 0) continue;
      sum += f[j].content;
      ++cnt;
    }
    const double mean = cnt > 0 ? sum / cnt : 0.0;
    const double ratio = mean > 0.0 ? c / mean : std::numeric_limits<double>::infinity();
    if (ratio < o.adaptive_ratio) continue;
    if (f[i].time_s - last_cut_time < o.min_shot_s) continue;
    cur.b = i;
    shots.push_back(cur);
    cur = Range{i, 0, c, i};
    last_cut_time = f[i].time_s;
  }
  cur.b = n;
  shots.push_back(cur);

  Selection sel;
  sel.policy = "scenes";
  sel.duration_s = range_end(f, n) - f.front().time_s;
  const auto count = add_segments(sel, f, shots, "shot", /*weigh_by_score=*/false, o.max_frames);
  for (size_t k = 1; k < shots.size(); ++k)
    sel.boundaries.push_back(Boundary{"cut", f[shots[k].a].time_s, f[shots[k].a].time_s, shots[k].score});
  int dropped = 0;
  for (size_t k = 0; k < shots.size(); ++k) {
    const Range& r = shots[k];
    const Segment& s = sel.segments[k];
    if (count[k] == 0) {
      ++dropped;
      continue;
    }
    const auto pos = spread_evenly(r.b - r.a, static_cast<size_t>(count[k]));
    for (size_t j = 0; j < pos.size(); ++j) {
      const std::string where = pos.size() == 1 ? "middle frame" : fmt::format("frame {} of {} spread over it", j + 1, pos.size());
      const std::string why = k == 0 ? "first shot" : fmt::format("opened by a cut, content score {:.1f}", s.score);
      sel.picks.push_back(make_pick(f[r.a + pos[j]], start_time,
                                    fmt::format("scenes: shot {} of {} [{:.3f}, {:.3f}) s ({}): {}", k + 1, shots.size(),
                                                s.start_s, s.end_s, why, where)));
    }
  }
  if (dropped > 0)
    sel.notes.push_back(fmt::format("scenes: {} shots exceed the budget of {} frames: the {} shortest got no frame",
                                    shots.size(), o.max_frames, dropped));
  std::sort(sel.picks.begin(), sel.picks.end(), [](const Pick& a, const Pick& b) { return a.time_s < b.time_s; });
  return sel;
}

Selection detect_motion(const std::vector<FrameFeatures>& f, const MotionOptions& o) {
  check_frames(f, "motion");
  if (o.max_frames < 1) throw SamplerError(fmt::format("motion detection: max_frames must be >= 1, got {}", o.max_frames));
  if (o.stay_fraction > o.start_fraction)
    throw SamplerError(fmt::format("motion detection: stay_fraction ({}) must not exceed start_fraction ({})", o.stay_fraction,
                                   o.start_fraction));
  const size_t n = f.size();
  const double start_time = f.front().time_s;

  std::vector<Range> raw;
  bool active = false;
  Range cur;
  for (size_t i = 0; i < n; ++i) {
    const double m = f[i].motion;
    if (!active && m >= o.start_fraction) {
      active = true;
      cur = Range{i, 0, m, i};
    } else if (active && m < o.stay_fraction) {
      active = false;
      cur.b = i;
      raw.push_back(cur);
    }
    if (active && m > cur.score) {
      cur.score = m;
      cur.peak = i;
    }
  }
  if (active) {
    cur.b = n;
    raw.push_back(cur);
  }

  std::vector<Range> events;
  for (const Range& r : raw) {
    if (!events.empty() && f[r.a].time_s - range_end(f, events.back().b) <= o.merge_gap_s) {
      Range& e = events.back();
      e.b = r.b;
      if (r.score > e.score) {
        e.score = r.score;
        e.peak = r.peak;
      }
    } else {
      events.push_back(r);
    }
  }
  events.erase(std::remove_if(events.begin(), events.end(),
                              [&](const Range& r) { return range_end(f, r.b) - f[r.a].time_s < o.min_event_s; }),
               events.end());

  Selection sel;
  sel.policy = "motion";
  sel.duration_s = range_end(f, n) - f.front().time_s;
  if (events.empty()) {
    sel.picks.push_back(make_pick(f[n / 2], start_time,
                                  fmt::format("motion: no event (changed pixels never reached {:.1f}%): middle frame as an overview",
                                              100.0 * o.start_fraction)));
    sel.notes.push_back("motion: no event detected");
    return sel;
  }
  const auto count = add_segments(sel, f, events, "event", /*weigh_by_score=*/true, o.max_frames);
  int dropped = 0;
  for (size_t k = 0; k < events.size(); ++k) {
    const Range& r = events[k];
    const Segment& s = sel.segments[k];
    if (count[k] == 0) {
      ++dropped;
      continue;
    }
    const std::string head = fmt::format("motion: event {} of {} [{:.3f}, {:.3f}) s, peak {:.1f}% changed pixels", k + 1,
                                         events.size(), s.start_s, s.end_s, 100.0 * s.score);
    // The peak frame, plus the others spread evenly over the event.
    std::vector<size_t> pos = spread_evenly(r.b - r.a, static_cast<size_t>(count[k]));
    size_t nearest = 0;
    for (size_t j = 1; j < pos.size(); ++j)
      if (std::llabs(static_cast<long long>(r.a + pos[j]) - static_cast<long long>(r.peak)) <
          std::llabs(static_cast<long long>(r.a + pos[nearest]) - static_cast<long long>(r.peak)))
        nearest = j;
    pos[nearest] = r.peak - r.a;
    std::sort(pos.begin(), pos.end());
    pos.erase(std::unique(pos.begin(), pos.end()), pos.end());
    for (size_t p : pos) {
      const bool is_peak = r.a + p == r.peak;
      sel.picks.push_back(make_pick(f[r.a + p], start_time,
                                    fmt::format("{}: {}", head, is_peak ? "peak frame" : "spread over the event")));
    }
  }
  if (dropped > 0)
    sel.notes.push_back(fmt::format("motion: {} events exceed the budget of {} frames: the {} weakest got no frame",
                                    events.size(), o.max_frames, dropped));
  std::sort(sel.picks.begin(), sel.picks.end(), [](const Pick& a, const Pick& b) { return a.time_s < b.time_s; });
  return sel;
}

std::vector<size_t> near_duplicate_keep(const std::vector<uint64_t>& hashes, const DedupOptions& o) {
  if (o.max_hamming < 0 || o.max_hamming > 64)
    throw SamplerError(fmt::format("near-duplicate suppression: max_hamming must be in [0, 64], got {}", o.max_hamming));
  std::vector<size_t> keep;
  for (size_t i = 0; i < hashes.size(); ++i) {
    bool dup = false;
    for (size_t k : keep)
      if (hamming_distance(hashes[i], hashes[k]) <= o.max_hamming) {
        dup = true;
        break;
      }
    if (!dup) keep.push_back(i);
  }
  return keep;
}

void suppress_near_duplicates(Selection& sel, const std::vector<FrameFeatures>& frames, const DedupOptions& o) {
  if (sel.picks.empty()) return;
  check_frames(frames, "near-duplicate");
  std::unordered_map<int64_t, uint64_t> by_index;
  for (const auto& f : frames) by_index[f.index] = f.dhash;
  std::vector<uint64_t> hashes;
  for (const Pick& p : sel.picks) {
    if (auto it = by_index.find(p.index); p.index >= 0 && it != by_index.end()) {
      hashes.push_back(it->second);
      continue;
    }
    // The frame shown at p.time_s: the last one at or before it.
    auto it = std::upper_bound(frames.begin(), frames.end(), p.time_s,
                               [](double t, const FrameFeatures& f) { return t < f.time_s; });
    hashes.push_back(it == frames.begin() ? frames.front().dhash : std::prev(it)->dhash);
  }
  const auto keep = near_duplicate_keep(hashes, o);
  if (keep.size() == sel.picks.size()) return;
  std::vector<Pick> kept;
  for (size_t i : keep) kept.push_back(std::move(sel.picks[i]));
  sel.notes.push_back(fmt::format("near-duplicates: {} of {} frames dropped (dHash within {} bits of a kept frame)",
                                  sel.picks.size() - kept.size(), sel.picks.size(), o.max_hamming));
  sel.picks = std::move(kept);
}

}  // namespace smolvid::sampler
