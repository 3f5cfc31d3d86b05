// sampler/scene_eval.h: scores the scenes policy's boundaries against a reference list of cuts and
// transitions (tests/sampler/data/scene_cuts.json): precision and recall of hard cuts within a
// time tolerance, and of gradual transitions (fades, dissolves) by overlap.
//
// Usage:
//   auto clips = smolvid::sampler::load_scene_reference("tests/sampler/data/scene_cuts.json");
//   for (const auto& c : clips) {
//     Selection sel = select_frames(media_dir + "/" + c.file, opts);   // policy "scenes"
//     ClipScore s = score_boundaries(sel, c, kSceneTolerance);
//     std::printf("%s cuts P %.2f R %.2f\n", c.file.c_str(), s.cuts.precision(), s.cuts.recall());
//   }
//
// Reference times are seconds from the clip's first frame (as the ffmpeg CLI reports them);
// detected boundaries are on the stream timeline and are shifted by the selection's first frame.
// A detected cut matches at most one reference cut no farther than the tolerance; a detected cut
// inside a reference transition is a false cut (the picture changed gradually there). A detected
// transition matches a reference transition it overlaps (widened by the tolerance), whatever the
// kind; kinds that agree are counted apart. Malformed reference files throw SamplerError.
#pragma once

#include <string>
#include <vector>

#include "sampler/policy.h"

namespace smolvid::sampler {

// One frame or 0.1 s, whichever is longer: the tolerance the issue set for a cut's time.
double cut_tolerance(double fps);

struct ReferenceClip {
  std::string file;                   // relative to its folder (below)
  std::string folder;                 // "media" (../shared/media) or "generated" (make_flat_clips.sh)
  double fps = 0.0;                   // frame rate, for the one-frame tolerance
  std::vector<double> cuts;           // seconds from the first frame, ascending
  std::vector<Boundary> transitions;  // kind "fade" or "dissolve", seconds from the first frame
  bool flat_colour = false;           // flat-colour animation (motion graphics, cartoon)
};
std::vector<ReferenceClip> load_scene_reference(const std::string& json_path);

struct MatchCount {
  int reference = 0, detected = 0, matched = 0;
  double precision() const;  // matched / detected; 1 when nothing was detected
  double recall() const;     // matched / reference; 1 when there was nothing to find
  MatchCount& operator+=(const MatchCount& o);
};

struct ClipScore {
  MatchCount cuts;
  MatchCount transitions;
  int transition_kinds_agree = 0;  // matched transitions whose kind is the reference's
};

ClipScore score_boundaries(const Selection& selection, const ReferenceClip& reference, double tolerance_s);

}  // namespace smolvid::sampler
