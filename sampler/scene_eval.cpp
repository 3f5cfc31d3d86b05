#include "sampler/scene_eval.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <tuple>

namespace smolvid::sampler {
namespace {

// One-to-one matching, closest pairs first: `cost(r, d)` is the distance of reference r and
// detection d, or a negative value when they cannot match.
template <typename Cost>
int match_greedy(size_t n_ref, size_t n_det, Cost cost) {
  std::vector<std::tuple<double, size_t, size_t>> pairs;
  for (size_t r = 0; r < n_ref; ++r)
    for (size_t d = 0; d < n_det; ++d)
      if (const double c = cost(r, d); c >= 0.0) pairs.emplace_back(c, r, d);
  std::sort(pairs.begin(), pairs.end());
  std::vector<bool> ref_used(n_ref), det_used(n_det);
  int matched = 0;
  for (const auto& [c, r, d] : pairs) {
    if (ref_used[r] || det_used[d]) continue;
    ref_used[r] = det_used[d] = true;
    ++matched;
  }
  return matched;
}

}  // namespace

double cut_tolerance(double fps) { return fps > 0.0 ? std::max(0.1, 1.0 / fps) : 0.1; }

double MatchCount::precision() const { return detected == 0 ? 1.0 : static_cast<double>(matched) / detected; }
double MatchCount::recall() const { return reference == 0 ? 1.0 : static_cast<double>(matched) / reference; }
MatchCount& MatchCount::operator+=(const MatchCount& o) {
  reference += o.reference;
  detected += o.detected;
  matched += o.matched;
  return *this;
}

std::vector<ReferenceClip> load_scene_reference(const std::string& json_path) {
  std::ifstream in(json_path);
  if (!in) throw SamplerError(fmt::format("scene reference {}: cannot be read", json_path));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
    std::vector<ReferenceClip> clips;
    for (const auto& c : j.at("clips")) {
      ReferenceClip r;
      r.file = c.at("file").get<std::string>();
      r.folder = c.at("folder").get<std::string>();
      if (r.folder != "media" && r.folder != "generated")
        throw SamplerError(fmt::format("scene reference {}: {} has folder '{}'; expected media or generated", json_path, r.file, r.folder));
      r.fps = c.at("fps").get<double>();
      r.cuts = c.at("cuts").get<std::vector<double>>();
      r.flat_colour = c.value("flat_colour", false);
      for (const auto& t : c.at("transitions")) {
        Boundary b;
        b.kind = t.at("kind").get<std::string>();
        b.start_s = t.at("start_s").get<double>();
        b.end_s = t.at("end_s").get<double>();
        if ((b.kind != "fade" && b.kind != "dissolve") || !(b.end_s > b.start_s))
          throw SamplerError(fmt::format("scene reference {}: {} lists a transition '{}' [{}, {}]; expected fade or dissolve with end > start",
                                         json_path, r.file, b.kind, b.start_s, b.end_s));
        r.transitions.push_back(b);
      }
      if (!std::is_sorted(r.cuts.begin(), r.cuts.end()))
        throw SamplerError(fmt::format("scene reference {}: the cuts of {} are not in ascending order", json_path, r.file));
      clips.push_back(std::move(r));
    }
    return clips;
  } catch (const nlohmann::json::exception& e) {
    throw SamplerError(fmt::format("scene reference {}: {}", json_path, e.what()));
  }
}

ClipScore score_boundaries(const Selection& sel, const ReferenceClip& ref, double tol) {
  const double first = sel.segments.empty() ? 0.0 : sel.segments.front().start_s;
  std::vector<double> cuts;
  std::vector<Boundary> transitions;
  for (const Boundary& b : sel.boundaries) {
    Boundary rel = b;
    rel.start_s -= first;
    rel.end_s -= first;
    if (b.kind == "cut") {
      cuts.push_back(rel.start_s);
    } else {
      transitions.push_back(rel);
    }
  }
  ClipScore s;
  s.cuts.reference = static_cast<int>(ref.cuts.size());
  s.cuts.detected = static_cast<int>(cuts.size());
  s.cuts.matched = match_greedy(ref.cuts.size(), cuts.size(), [&](size_t r, size_t d) {
    const double dist = std::abs(ref.cuts[r] - cuts[d]);
    return dist <= tol + 1e-9 ? dist : -1.0;
  });
  s.transitions.reference = static_cast<int>(ref.transitions.size());
  s.transitions.detected = static_cast<int>(transitions.size());
  // Overlap of [start - tol, end + tol) with the reference span; cost = 1 / (1 + overlap).
  auto overlap = [&](size_t r, size_t d) {
    const Boundary& a = ref.transitions[r];
    const Boundary& b = transitions[d];
    return std::min(a.end_s, b.end_s + tol) - std::max(a.start_s, b.start_s - tol);
  };
  s.transitions.matched = match_greedy(ref.transitions.size(), transitions.size(), [&](size_t r, size_t d) {
    const double o = overlap(r, d);
    return o > 0.0 ? 1.0 / (1.0 + o) : -1.0;
  });
  for (size_t r = 0; r < ref.transitions.size(); ++r)
    for (size_t d = 0; d < transitions.size(); ++d)
      if (overlap(r, d) > 0.0 && transitions[d].kind == ref.transitions[r].kind) {
        ++s.transition_kinds_agree;
        break;
      }
  return s;
}

}  // namespace smolvid::sampler
