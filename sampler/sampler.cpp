#include "sampler/sampler.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace smolvid::sampler {
namespace {

decode::ReaderOptions small_reader(decode::PixelFormat format, int side, int threads) {
  decode::ReaderOptions r;
  r.pixel_format = format;
  r.max_side = side;
  r.threads = threads;
  return r;
}

int budget_of(const SamplerOptions& o) {
  if (o.max_frames < 0 || o.max_frames > kMaxFrames)
    throw SamplerError(fmt::format("sampler: max_frames must be in [0, {}] (0 = default), got {}", kMaxFrames, o.max_frames));
  return o.max_frames > 0 ? o.max_frames : default_max_frames(o.policy);
}

// dHash of the (small) frames shown at `times`, in the order of `times`.
std::vector<uint64_t> hashes_at(const std::string& path, const std::vector<double>& times, decode::SeekMode mode,
                                const SamplerOptions& o) {
  decode::VideoReader small(path, small_reader(decode::PixelFormat::kGray8, o.analysis_side, o.threads));
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<uint64_t> got;
  small.decode_at(sorted, mode, [&](const decode::Frame& f) {
    got.push_back(difference_hash(f));
    return true;
  });
  if (got.size() != sorted.size())
    throw SamplerError(fmt::format("near-duplicate suppression on {}: asked the decoder for {} frames, got {}", path,
                                   sorted.size(), got.size()));
  std::vector<uint64_t> out;
  for (double t : times) out.push_back(got[std::lower_bound(sorted.begin(), sorted.end(), t) - sorted.begin()]);
  return out;
}

// Drops near-duplicates among a metadata policy's candidates, then thins to the budget.
void dedup_candidates(Selection& sel, const std::string& path, decode::SeekMode mode, int budget, const SamplerOptions& o) {
  std::vector<double> times;
  for (const Pick& p : sel.picks) times.push_back(p.time_s);
  const auto hashes = hashes_at(path, times, mode, o);
  const auto keep = near_duplicate_keep(hashes, o.dedup_options);
  std::vector<Pick> kept;
  for (size_t i : keep) kept.push_back(sel.picks[i]);
  if (kept.size() < sel.picks.size())
    sel.notes.push_back(fmt::format("near-duplicates: {} of {} candidate frames dropped (dHash within {} bits of a kept frame)",
                                    sel.picks.size() - kept.size(), sel.picks.size(), o.dedup_options.max_hamming));
  std::vector<Pick> out;
  for (size_t i : spread_evenly(kept.size(), static_cast<size_t>(budget))) out.push_back(std::move(kept[i]));
  sel.picks = std::move(out);
}

// The part of the video the options ask for, [from, to) on the stream timeline, or nullopt for
// the whole video. `span` is the video's [first frame, end); its end may be +inf when unknown.
std::optional<std::pair<double, double>> part_of(const SamplerOptions& o, std::pair<double, double> span,
                                                 const std::string& path) {
  for (const auto& [name, value] : {std::pair{"start", o.start_s}, std::pair{"end", o.end_s}}) {
    if (value && (!std::isfinite(*value) || *value < 0))
      throw SamplerError(fmt::format("sampler: {} time must be a finite number of seconds >= 0, got {}", name, *value));
  }
  if (o.start_s && o.end_s && !(*o.end_s > *o.start_s))
    throw SamplerError(fmt::format("sampler: the end time {} s must be after the start time {} s", *o.end_s, *o.start_s));
  if (!(o.start_s && *o.start_s > span.first) && !(o.end_s && *o.end_s < span.second)) return std::nullopt;
  const double from = std::max(span.first, o.start_s.value_or(span.first));
  const double to = std::min(span.second, o.end_s.value_or(span.second));
  if (!(to > from)) {
    throw SamplerError(fmt::format("{}: the range [{}, {}) s does not overlap the video [{:.3f}, {:.3f}) s", path,
                                   o.start_s ? fmt::format("{}", *o.start_s) : "start",
                                   o.end_s ? fmt::format("{}", *o.end_s) : "end", span.first, span.second));
  }
  return std::pair{from, to};
}

// Keeps the picks inside [from, to) and the segments overlapping it.
void keep_inside(Selection& sel, std::pair<double, double> part) {
  std::vector<Pick> picks;
  for (Pick& p : sel.picks) {
    if (p.time_s >= part.first && p.time_s < part.second) picks.push_back(std::move(p));
  }
  sel.picks = std::move(picks);
  std::vector<Segment> segments;
  for (Segment& s : sel.segments) {
    if (s.end_s > part.first && s.start_s < part.second) segments.push_back(std::move(s));
  }
  sel.segments = std::move(segments);
}

}  // namespace

const std::vector<std::string>& policy_names() {
  static const std::vector<std::string> names = {"smolvlm2", "uniform", "keyframes", "scenes", "motion"};
  return names;
}

int default_max_frames(const std::string& policy) {
  if (policy == "smolvlm2") return Smolvlm2Options{}.max_frames;
  if (std::find(policy_names().begin(), policy_names().end(), policy) != policy_names().end()) return 16;
  throw SamplerError(fmt::format("unknown sampling policy '{}': expected one of smolvlm2, uniform, keyframes, scenes, motion", policy));
}

VideoMeta video_meta(const decode::MediaInfo& info) {
  VideoMeta m;
  if (!info.duration.known() || !(info.duration.value > 0))
    throw SamplerError(fmt::format("{}: duration unknown (source '{}', value {}); expected a duration > 0 s", info.path,
                                   info.duration.source, info.duration.value));
  m.duration_s = info.duration.value;
  if (info.avg_frame_rate > 0) {
    m.fps = info.avg_frame_rate;
  } else if (info.fps_header.known() && info.fps_header.value > 0) {
    m.fps = info.fps_header.value;
  } else if (info.fps_measured.known() && info.fps_measured.value > 0) {
    m.fps = info.fps_measured.value;
  } else {
    throw SamplerError(fmt::format("{}: frame rate unknown (no header or measured rate); expected a rate > 0", info.path));
  }
  if (!info.frame_count.known() || info.frame_count.value < 1)
    throw SamplerError(fmt::format("{}: frame count unknown (source '{}', value {}); expected >= 1", info.path,
                                   info.frame_count.source, info.frame_count.value));
  m.frame_count = info.frame_count.value;
  m.start_time_s = info.start_time.known() ? info.start_time.value : 0.0;
  m.keyframe_times = info.keyframe_times;
  return m;
}

std::vector<FrameFeatures> analyze_video(const std::string& path, decode::PixelFormat format, int analysis_side,
                                         const AnalysisOptions& options, int threads, std::vector<std::string>* notes) {
  decode::VideoReader reader(path, small_reader(format, analysis_side, threads));
  FrameAnalyzer analyzer(options);
  std::vector<FrameFeatures> feats;
  int64_t n_dropped = 0;
  reader.decode_all([&](const decode::Frame& f) {
    if (!feats.empty() && !(f.pts_seconds > feats.back().time_s)) {
      ++n_dropped;
      return true;
    }
    feats.push_back(analyzer.push(f));
    return true;
  });
  if (notes) {
    if (n_dropped > 0)
      notes->push_back(fmt::format("{} frames whose timestamp did not ascend were left out of the analysis", n_dropped));
    for (const auto& w : reader.warnings()) notes->push_back("decoder: " + w);
  }
  if (feats.empty()) throw SamplerError(fmt::format("{}: the decoder produced no frames to analyse", path));
  return feats;
}

Selection select_frames(decode::VideoReader& reader, const SamplerOptions& o) {
  const int budget = budget_of(o);
  const std::string& path = reader.path();
  const std::string& policy = o.policy;
  if (!(o.fps >= 0 && o.fps <= kMaxFps)) throw SamplerError(fmt::format("sampler: fps must be in [0, {}], got {}", kMaxFps, o.fps));
  const decode::MediaInfo& info = reader.probe();
  const double first = info.start_time.known() ? info.start_time.value : 0.0;
  const double end = info.duration.known() && info.duration.value > 0 ? first + info.duration.value
                                                                         : std::numeric_limits<double>::infinity();
  const auto part = part_of(o, {first, end}, path);

  if (policy == "scenes" || policy == "motion") {
    const bool scenes = policy == "scenes";
    std::vector<std::string> notes;
    AnalysisOptions ao = o.analysis;
    ao.motion_features = !scenes;  // each policy computes only the features it uses
    ao.scene_features = scenes;
    const auto feats = analyze_video(path, scenes ? decode::PixelFormat::kRgb24 : decode::PixelFormat::kGray8,
                                     o.analysis_side, ao, o.threads, &notes);
    Selection sel;
    if (scenes) {
      SceneOptions so = o.scenes;
      so.max_frames = budget;
      sel = detect_scenes(feats, so);
    } else {
      MotionOptions mo = o.motion;
      mo.max_frames = budget;
      sel = detect_motion(feats, mo);
    }
    sel.notes.insert(sel.notes.end(), notes.begin(), notes.end());
    if (o.dedup) suppress_near_duplicates(sel, feats, o.dedup_options);
    if (part) keep_inside(sel, *part);
    return sel;
  }

  VideoMeta meta = [&] {
    if (policy != "keyframes") return video_meta(info);
    VideoMeta m;  // keyframes needs neither duration nor rate
    m.keyframe_times = info.keyframe_times;
    m.duration_s = info.duration.known() ? info.duration.value : 0.0;
    m.start_time_s = first;
    return m;
  }();
  if (part) {
    // The policy runs on the part alone, as if it were the whole video.
    meta.start_time_s = part->first;
    meta.duration_s = part->second - part->first;
    if (policy == "keyframes") {
      std::vector<double> inside;
      for (double t : meta.keyframe_times) {
        if (t >= part->first && t < part->second) inside.push_back(t);
      }
      meta.keyframe_times = inside;
    } else {
      meta.frame_count = std::max<int64_t>(1, static_cast<int64_t>(std::floor(meta.duration_s * meta.fps)));
    }
  }
  // With dedup, metadata policies (but smolvlm2, whose arithmetic is the reference) propose three
  // times the budget, drop near-duplicates, then thin to the budget.
  const int candidates = o.dedup ? 3 * budget : budget;
  Selection sel;
  decode::SeekMode mode = decode::SeekMode::kExact;
  if (policy == "smolvlm2") {
    Smolvlm2Options so;
    so.max_frames = budget;
    so.target_fps = o.fps > 0 ? o.fps : so.target_fps;
    so.skip_secs = o.skip_secs;
    sel = sample_smolvlm2(meta, so);
    // The policy picks frame indices; on a variable-frame-rate file index / fps is not the
    // frame's time, so report (and label) each pick with its frame's true presentation time.
    if (!part && info.variable_frame_rate) {
      for (Pick& p : sel.picks) {
        if (p.index < 0 || p.index >= static_cast<int64_t>(info.frame_times.size())) continue;
        p.time_s = info.frame_times[static_cast<size_t>(p.index)];
        set_offset(p, meta.start_time_s);
      }
    }
  } else if (policy == "uniform") {
    UniformOptions uo;
    uo.max_frames = candidates;
    uo.every_s = o.fps > 0 ? 1.0 / o.fps : 0.0;
    sel = sample_uniform(meta, uo);
  } else if (policy == "keyframes") {
    KeyframeOptions ko;
    ko.max_frames = candidates;
    sel = sample_keyframes(meta, ko);
    mode = decode::SeekMode::kNearestKeyframe;
  } else {
    default_max_frames(policy);  // throws the unknown-policy error
    throw SamplerError(fmt::format("sampling policy '{}' is not handled", policy));
  }
  if (part) {
    for (Pick& p : sel.picks) p.index = -1;  // a part's nominal indices are not the file's
    keep_inside(sel, *part);
  }
  if (o.dedup) dedup_candidates(sel, path, mode, budget, o);
  return sel;
}

Selection select_frames(const std::string& path, const SamplerOptions& o) {
  decode::VideoReader reader(path, small_reader(decode::PixelFormat::kGray8, o.analysis_side, o.threads));
  Selection sel = select_frames(reader, o);
  for (const auto& w : reader.warnings()) sel.notes.push_back("decoder: " + w);  // e.g. a truncated file's probe
  return sel;
}

std::vector<decode::Frame> fetch_frames(decode::VideoReader& reader, const Selection& sel, decode::SeekMode mode) {
  // smolvlm2 picks frame indices (the reference decodes by index); on a variable-frame-rate file
  // index / fps is not the frame's time, so take the frames by index in one sequential pass.
  // Picks without an index (-1, e.g. chosen by time in a sub-range) are fetched by time.
  const bool by_index = std::all_of(sel.picks.begin(), sel.picks.end(), [](const Pick& p) { return p.index >= 0; });
  if (sel.policy == "smolvlm2" && by_index && reader.probe().variable_frame_rate) {
    std::vector<int64_t> wanted;
    for (const Pick& p : sel.picks) wanted.push_back(p.index);
    std::sort(wanted.begin(), wanted.end());
    std::vector<decode::Frame> got;
    reader.decode_all([&](const decode::Frame& f) {
      if (std::binary_search(wanted.begin(), wanted.end(), f.index)) got.push_back(f);
      return f.index < wanted.back();
    });
    std::vector<decode::Frame> out;
    for (const Pick& p : sel.picks) {
      auto it = std::find_if(got.begin(), got.end(), [&](const decode::Frame& f) { return f.index == p.index; });
      if (it == got.end())
        throw SamplerError(fmt::format("{}: frame index {} was chosen but the decoder produced only {} of the {} chosen frames",
                                       reader.path(), p.index, got.size(), wanted.size()));
      out.push_back(*it);
    }
    return out;
  }
  std::vector<double> times;
  for (const Pick& p : sel.picks) times.push_back(p.time_s);
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<decode::Frame> got;
  reader.decode_at(sorted, mode, [&](const decode::Frame& f) {
    got.push_back(f);
    return true;
  });
  if (got.size() != sorted.size())
    throw SamplerError(fmt::format("{}: asked the decoder for the frames at {} times, got {}", reader.path(), sorted.size(), got.size()));
  std::vector<decode::Frame> out;
  out.reserve(times.size());
  for (double t : times) out.push_back(got[std::lower_bound(sorted.begin(), sorted.end(), t) - sorted.begin()]);
  return out;
}

}  // namespace smolvid::sampler
