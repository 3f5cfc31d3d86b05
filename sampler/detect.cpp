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

namespace {

// A shot boundary in frame positions: transition frames [a, b) (a cut: a == b == its frame);
// `split` is the first frame of the next shot, or 0 when it splits nothing (a fade at an end).
struct Found {
  const char* kind = "cut";
  size_t a = 0, b = 0, split = 0;
  double score = 0.0;
};

// Mean of `field` over the window_frames frames on each side of i (frame 0 has no score).
double neighbour_mean(const std::vector<FrameFeatures>& f, size_t i, size_t w, double FrameFeatures::*field) {
  double sum = 0.0;
  int cnt = 0;
  for (size_t j = (i > w ? i - w : 1); j <= std::min(f.size() - 1, i + w); ++j) {
    if (j == i || j == 0) continue;
    sum += f[j].*field;
    ++cnt;
  }
  return cnt > 0 ? sum / cnt : 0.0;
}

bool spikes(const std::vector<FrameFeatures>& f, size_t i, const SceneOptions& o, double FrameFeatures::*field) {
  const double mean = neighbour_mean(f, i, static_cast<size_t>(o.window_frames), field);
  return mean <= 0.0 || f[i].*field / mean >= o.adaptive_ratio;
}

std::vector<Found> cut_candidates(const std::vector<FrameFeatures>& f, const SceneOptions& o) {
  std::vector<Found> cuts;
  for (size_t i = 1; i < f.size(); ++i) {
    const FrameFeatures& x = f[i];
    const bool by_content = x.content >= o.min_content && (x.content >= o.strong_content || x.histogram >= o.min_histogram) &&
                            spikes(f, i, o, &FrameFeatures::content);
    const bool by_shapes = x.changed >= o.min_changed && x.edge_change >= o.min_edge_change && spikes(f, i, o, &FrameFeatures::changed);
    if (by_content || by_shapes) cuts.push_back(Found{"cut", i, i, i, x.content});
  }
  return cuts;
}

bool is_black(const FrameFeatures& x, const SceneOptions& o) { return x.luma_mean <= o.black_level && x.luma_std <= o.black_spread; }

// From the black frame at `edge`, walks away (dir -1: back into a fade out, +1: on into a fade
// in) while the light rises by at least kStep a frame, allowing one held frame at a time (cel
// animation holds frames). Returns the last frame of that walk: the frame at full light.
size_t fade_reach(const std::vector<FrameFeatures>& f, size_t edge, int dir) {
  constexpr double kStep = 0.5;  // grey levels a frame
  size_t cur = edge, last_rise = edge;
  bool held = false;
  while (true) {
    if ((dir < 0 && cur == 0) || (dir > 0 && cur + 1 >= f.size())) break;
    const size_t next = dir < 0 ? cur - 1 : cur + 1;
    const double step = f[next].luma_mean - f[cur].luma_mean;
    if (step >= kStep) {
      held = false;
      last_rise = next;
    } else if (step > -kStep && !held) {
      held = true;
    } else {
      break;
    }
    cur = next;
  }
  return last_rise;
}

// A fade between `dark` (the black frame) and `lit` (full light): a steady change of at least
// min_fade_change over 2+ frames, no frame carrying more than half of it (else: a cut to black).
double fade_change(const std::vector<FrameFeatures>& f, size_t dark, size_t lit, const SceneOptions& o) {
  const size_t lo = std::min(dark, lit), hi = std::max(dark, lit);
  if (hi - lo < 2) return 0.0;
  const double change = std::abs(f[lit].luma_mean - f[dark].luma_mean);
  double largest = 0.0;
  for (size_t j = lo + 1; j <= hi; ++j) largest = std::max(largest, std::abs(f[j].luma_mean - f[j - 1].luma_mean));
  return change >= o.min_fade_change && largest <= 0.5 * change ? change : 0.0;
}

std::vector<Found> find_fades(const std::vector<FrameFeatures>& f, const SceneOptions& o) {
  const size_t n = f.size();
  std::vector<Found> fades;
  for (size_t r0 = 0; r0 < n;) {
    if (!is_black(f[r0], o)) {
      ++r0;
      continue;
    }
    size_t r1 = r0;  // the black run [r0, r1]
    while (r1 + 1 < n && is_black(f[r1 + 1], o)) ++r1;
    const size_t out_lit = fade_reach(f, r0, -1), in_lit = fade_reach(f, r1, +1);
    const double out = fade_change(f, r0, out_lit, o), in = fade_change(f, r1, in_lit, o);
    if (out > 0.0 || in > 0.0) {
      Found x;
      x.kind = "fade";
      x.a = out > 0.0 ? out_lit + 1 : r0;  // the first darker frame, or the cut to black
      x.b = in > 0.0 ? in_lit : r1 + 1;    // the first frame at full light, or the cut from black
      x.split = r0 == 0 || r1 + 1 == n ? 0 : (r0 + r1 + 1) / 2;
      x.score = std::max(out, in);
      fades.push_back(x);
    }
    r0 = r1 + 1;
  }
  return fades;
}

double thumb_distance(const FrameFeatures& x, const FrameFeatures& y) {
  int sum = 0;
  for (size_t k = 0; k < x.thumb.size(); ++k) sum += std::abs(static_cast<int>(x.thumb[k]) - static_cast<int>(y.thumb[k]));
  return static_cast<double>(sum) / static_cast<double>(x.thumb.size());
}

// True when a gain and an offset per colour channel map thumbnail `a` onto `b` (a change of light
// or colour grading, not of content): their residual is small next to the change itself.
bool colour_change_only(const FrameFeatures& a, const FrameFeatures& b) {
  double resid = 0.0, change = 0.0;
  for (int c = 0; c < 3; ++c) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    const int m = 64;
    for (int k = 0; k < m; ++k) {
      const double x = a.thumb[static_cast<size_t>(k * 3 + c)], y = b.thumb[static_cast<size_t>(k * 3 + c)];
      sx += x, sy += y, sxx += x * x, sxy += x * y;
      change += (y - x) * (y - x);
    }
    const double var = sxx - sx * sx / m;
    const double gain = var > 1e-9 ? (sxy - sx * sy / m) / var : 0.0;
    const double offset = (sy - gain * sx) / m;
    for (int k = 0; k < m; ++k) {
      const double x = a.thumb[static_cast<size_t>(k * 3 + c)], y = b.thumb[static_cast<size_t>(k * 3 + c)];
      resid += (y - gain * x - offset) * (y - gain * x - offset);
    }
  }
  return resid <= 0.0625 * change;  // residual RMS at most a quarter of the change's
}

// Every frame strictly between a and b is (1 - alpha) a + alpha b with a small residual, and
// alpha grows from a to b.
bool blends(const std::vector<FrameFeatures>& f, size_t a, size_t b, const SceneOptions& o) {
  const auto& ta = f[a].thumb;
  const auto& tb = f[b].thumb;
  double dd = 0.0;
  for (size_t k = 0; k < ta.size(); ++k) dd += (double(tb[k]) - ta[k]) * (double(tb[k]) - ta[k]);
  double prev_alpha = 0.0;
  for (size_t m = a + 1; m < b; ++m) {
    const auto& tm = f[m].thumb;
    double dot = 0.0;
    for (size_t k = 0; k < ta.size(); ++k) dot += (double(tm[k]) - ta[k]) * (double(tb[k]) - ta[k]);
    const double alpha = dot / dd;
    double r = 0.0;
    for (size_t k = 0; k < ta.size(); ++k) {
      const double e = double(tm[k]) - ta[k] - alpha * (double(tb[k]) - ta[k]);
      r += e * e;
    }
    if (r > o.dissolve_max_residual * o.dissolve_max_residual * dd || alpha < prev_alpha - 0.15 || alpha < -0.1 || alpha > 1.1)
      return false;
    prev_alpha = std::max(prev_alpha, alpha);
  }
  return true;
}

std::vector<Found> find_dissolves(const std::vector<FrameFeatures>& f, const SceneOptions& o, const std::vector<Found>& fades) {
  const size_t n = f.size();
  if (n < 5) return {};
  std::vector<double> step(n, 0.0), path(n, 0.0);  // path[i] = sum of steps 1..i
  for (size_t i = 1; i < n; ++i) {
    step[i] = thumb_distance(f[i - 1], f[i]);
    path[i] = path[i - 1] + step[i];
  }
  const double dt = (f[n - 1].time_s - f[0].time_s) / static_cast<double>(n - 1);
  std::vector<size_t> halves;  // window half-widths in frames, growing by half each time
  if (dt > 0.0) {
    const auto lo = std::max<size_t>(2, static_cast<size_t>(std::lround(o.dissolve_min_s / dt / 2)));
    const auto hi = std::max<size_t>(lo, static_cast<size_t>(std::lround(o.dissolve_max_s / dt / 2)));
    for (size_t h = lo; h <= hi; h = std::max(h + 1, h * 3 / 2)) halves.push_back(h);
  }
  std::vector<bool> in_fade(n, false), in_window(n, false);
  for (const Found& x : fades)
    for (size_t j = x.a; j < std::min(x.b + 1, n); ++j) in_fade[j] = true;
  for (size_t h : halves) {
    for (size_t i = h + 1; i + h + 1 < n; ++i) {
      const size_t a = i - h, b = i + h;
      if (in_fade[a] || in_fade[b] || in_fade[i]) continue;
      const double change = thumb_distance(f[a], f[b]);
      if (change < o.dissolve_min_change || path[b] - path[a] > 1.5 * change) continue;
      // A transition has a beginning and an end: the picture is quieter on both sides of it
      // than inside (a steady colour sweep or a long camera move is not).
      const size_t before = std::min(h, a), after = std::min(h, n - 1 - b);
      const double inside = (path[b] - path[a]) / static_cast<double>(b - a);
      if ((path[a] - path[a - before]) / static_cast<double>(before) > 0.5 * inside ||
          (path[b + after] - path[b]) / static_cast<double>(after) > 0.5 * inside)
        continue;
      if (*std::max_element(step.begin() + static_cast<long>(a) + 1, step.begin() + static_cast<long>(b) + 1) > change / 3.0) continue;
      if (is_black(f[a], o) || is_black(f[b], o) || colour_change_only(f[a], f[b]) || !blends(f, a, b, o)) continue;
      for (size_t j = a; j <= b; ++j) in_window[j] = true;
    }
  }
  // Each run of accepted windows, trimmed to the frames that carry the change.
  std::vector<Found> out;
  for (size_t a = 0; a < n;) {
    if (!in_window[a]) {
      ++a;
      continue;
    }
    size_t b = a;
    while (b + 1 < n && in_window[b + 1]) ++b;
    const double largest = *std::max_element(step.begin() + static_cast<long>(a) + 1, step.begin() + static_cast<long>(b) + 1);
    size_t first = a + 1, last = b;
    while (first < last && step[first] < 0.25 * largest) ++first;
    while (last > first && step[last] < 0.25 * largest) --last;
    Found x;
    x.kind = "dissolve";
    x.a = first;
    x.b = last + 1;
    x.split = (first + last + 1) / 2;
    x.score = thumb_distance(f[a], f[b]);
    out.push_back(x);
    a = b + 1;
  }
  return out;
}

}  // namespace

Selection detect_scenes(const std::vector<FrameFeatures>& f, const SceneOptions& o) {
  check_frames(f, "scenes");
  if (o.max_frames < 1) throw SamplerError(fmt::format("scenes detection: max_frames must be >= 1, got {}", o.max_frames));
  if (o.window_frames < 1) throw SamplerError(fmt::format("scenes detection: window_frames must be >= 1, got {}", o.window_frames));
  if (!(o.dissolve_min_s > 0.0) || !(o.dissolve_max_s >= o.dissolve_min_s))
    throw SamplerError(fmt::format("scenes detection: dissolve window must satisfy 0 < min <= max, got [{}, {}] s", o.dissolve_min_s,
                                   o.dissolve_max_s));
  const size_t n = f.size();
  const double start_time = f.front().time_s;

  // Transitions first; a cut candidate inside one (or at its edges) belongs to it.
  std::vector<Found> found = find_fades(f, o);
  const auto dissolves = find_dissolves(f, o, found);
  found.insert(found.end(), dissolves.begin(), dissolves.end());
  std::sort(found.begin(), found.end(), [](const Found& x, const Found& y) { return x.a < y.a; });
  const size_t w = static_cast<size_t>(o.window_frames);
  auto near_transition = [&](size_t i) {
    return std::any_of(found.begin(), found.end(), [&](const Found& t) { return i + w >= t.a && i <= t.b + w; });
  };
  std::vector<double> splits;  // times of the kept transitions' splits
  for (const Found& t : found)
    if (t.split > 0) splits.push_back(f[t.split].time_s);
  double last_cut_time = f.front().time_s;
  std::vector<Found> cuts;
  for (const Found& c : cut_candidates(f, o)) {
    const double t = f[c.a].time_s;
    if (near_transition(c.a) || t - last_cut_time < o.min_shot_s) continue;
    if (std::any_of(splits.begin(), splits.end(), [&](double s) { return std::abs(s - t) < o.min_shot_s; })) continue;
    cuts.push_back(c);
    last_cut_time = t;
  }
  found.insert(found.end(), cuts.begin(), cuts.end());
  std::sort(found.begin(), found.end(), [](const Found& x, const Found& y) { return x.a < y.a; });

  Selection sel;
  sel.policy = "scenes";
  sel.duration_s = range_end(f, n) - f.front().time_s;
  std::vector<Range> shots;
  std::vector<const Found*> opened_by{nullptr};
  Range cur;
  std::vector<bool> in_transition(n, false);
  for (const Found& x : found) {
    sel.boundaries.push_back(Boundary{x.kind, f[x.a].time_s, x.b == x.a ? f[x.a].time_s : range_end(f, x.b), x.score});
    for (size_t j = x.a; j < x.b; ++j) in_transition[j] = true;
    if (x.split == 0 || x.split <= cur.a) continue;
    cur.b = x.split;
    shots.push_back(cur);
    cur = Range{x.split, 0, x.score, x.split};
    opened_by.push_back(&x);
  }
  cur.b = n;
  shots.push_back(cur);

  const auto count = add_segments(sel, f, shots, "shot", /*weigh_by_score=*/false, o.max_frames);
  int dropped = 0;
  for (size_t k = 0; k < shots.size(); ++k) {
    const Range& r = shots[k];
    const Segment& s = sel.segments[k];
    if (count[k] == 0) {
      ++dropped;
      continue;
    }
    // Representative frames come from the shot's own frames, not from a fade or dissolve.
    std::vector<size_t> clean;
    for (size_t j = r.a; j < r.b; ++j)
      if (!in_transition[j]) clean.push_back(j);
    if (clean.empty())
      for (size_t j = r.a; j < r.b; ++j) clean.push_back(j);
    const auto pos = spread_evenly(clean.size(), static_cast<size_t>(count[k]));
    std::string why = "first shot";
    if (const Found* x = opened_by[k]; x && std::string(x->kind) == "cut") {
      why = fmt::format("opened by a cut, content score {:.1f}", s.score);
    } else if (x) {
      why = fmt::format("opened by a {} [{:.3f}, {:.3f}) s", x->kind, f[x->a].time_s, range_end(f, x->b));
    }
    for (size_t j = 0; j < pos.size(); ++j) {
      const std::string where = pos.size() == 1 ? "middle frame" : fmt::format("frame {} of {} spread over it", j + 1, pos.size());
      sel.picks.push_back(make_pick(f[clean[pos[j]]], start_time,
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
