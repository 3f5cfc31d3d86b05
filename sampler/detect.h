// sampler/detect.h: the content policies, as pure functions of per-frame features
// (sampler/analysis.h): shot-cut detection (`scenes`), event detection for fixed cameras
// (`motion`) and near-duplicate suppression. No decoding and no OpenCV here, so every rule is
// unit-testable with synthetic numbers.
//
// Usage:
//   std::vector<FrameFeatures> feats = ...;                 // one per decoded analysis frame
//   Selection shots = detect_scenes(feats, SceneOptions{}); // shots + representative frames
//   Selection events = detect_motion(feats, MotionOptions{});
//   suppress_near_duplicates(shots, feats, DedupOptions{});
//
// Times are on the stream timeline; segments are [start_s, end_s) where end_s is the time of the
// frame after the last one (or last frame + its duration for the final segment). Feature vectors
// must be in ascending time; throws SamplerError for an empty vector or bad options.
#pragma once

#include <cstdint>
#include <vector>

#include "sampler/analysis.h"
#include "sampler/policy.h"

namespace smolvid::sampler {

// Shot boundaries, each of one kind (Boundary::kind):
// * "cut" at frame i when its score is at least adaptive_ratio times the mean score of the
//   window_frames frames on each side (in the spirit of PySceneDetect's AdaptiveDetector), by
//   either of two measures: the colour content score, when it reaches strong_content
//   (ContentDetector's default threshold) or reaches min_content while the luma histogram
//   changed by at least min_histogram (fast camera motion moves pixels but keeps the histogram);
//   or, for flat-colour footage (motion graphics, cartoons: a cut may keep the background, so
//   few pixels and little of the histogram change), the changed share of the picture, when it
//   reaches min_changed while most edges were replaced (edge change ratio >= min_edge_change).
//   Cuts closer than min_shot_s to the previous boundary are ignored.
// * "fade": the mean light falls steadily (every frame, allowing one held frame) by at least
//   min_fade_change into a run of black frames (mean <= black_level, spread <= black_spread), or
//   rises out of one; a fade out and the fade in after it are one boundary spanning both.
// * "dissolve": over a window of dissolve_min_s..dissolve_max_s the picture (an 8x8 colour
//   thumbnail) changes by at least dissolve_min_change on average, smoothly (no frame carries
//   more than a third of it) and more than on either side of the window, and every frame inside
//   is a blend of the two ends (the residual of the best blend is at most dissolve_max_residual
//   of the change): motion and pans are no blend; a change that one gain and offset per colour
//   channel explain (light, colour grading) is not a dissolve either.
// Cut candidates inside a transition belong to it. Shots are split at cuts, at the darkest
// frame of a fade and at the middle of a dissolve (fades at the clip's ends split nothing);
// representative frames avoid the transitions' frames.
struct SceneOptions {
  int max_frames = 16;          // budget of representative frames over all shots
  double min_content = 15.0;    // 0..255, PySceneDetect min_content_val
  double strong_content = 27.0; // 0..255, PySceneDetect ContentDetector threshold
  double min_histogram = 0.3;   // 1 - luma histogram correlation, for min_content <= score < strong
  double min_changed = 0.05;    // share of pixels (flat-colour measure)
  double min_edge_change = 0.6; // edge change ratio (flat-colour measure)
  double adaptive_ratio = 3.0;  // PySceneDetect adaptive_threshold
  int window_frames = 2;        // PySceneDetect window_width
  double min_shot_s = 0.5;      // shortest shot (seconds, so VFR footage behaves)
  double black_level = 24.0;    // 0..255 mean grey of a black frame (fades)
  double black_spread = 12.0;   // 0..255 standard deviation of a black frame
  double min_fade_change = 20.0;
  double dissolve_min_s = 0.2;
  double dissolve_max_s = 2.0;
  double dissolve_min_change = 12.0;  // 0..255, mean over the thumbnail
  double dissolve_max_residual = 0.08;  // of the change (L2): blends measure <= 0.04, motion >= 0.1
};
Selection detect_scenes(const std::vector<FrameFeatures>& frames, const SceneOptions& options = {});

// An event starts when the changed-pixel fraction (FrameFeatures::motion) reaches start_fraction
// and lasts while it stays at or above stay_fraction; events closer than merge_gap_s are merged
// and events shorter than min_event_s dropped.
struct MotionOptions {
  int max_frames = 16;           // budget of representative frames over all events
  double start_fraction = 0.02;  // of the frame's pixels
  double stay_fraction = 0.01;
  double min_event_s = 0.25;
  double merge_gap_s = 0.5;
};
Selection detect_motion(const std::vector<FrameFeatures>& frames, const MotionOptions& options = {});

struct DedupOptions {
  int max_hamming = 6;  // dHash bits: picks at or below this distance of a kept pick are dropped
};
// Keeps a pick only if its frame's dHash differs by more than max_hamming bits from every pick
// kept before it (in time order). `hashes[i]` is the hash of `picks[i]`.
std::vector<size_t> near_duplicate_keep(const std::vector<uint64_t>& hashes, const DedupOptions& options = {});
// Applies near_duplicate_keep to a selection whose picks' frames are among `frames` (matched by
// index, else by nearest time); notes how many were dropped.
void suppress_near_duplicates(Selection& selection, const std::vector<FrameFeatures>& frames, const DedupOptions& options = {});

// How many of `budget` frames each segment gets: one each in order of `weight` while they last,
// the rest in proportion to `length` (largest remainder), never more than `capacity` each.
std::vector<int> allocate_budget(const std::vector<double>& length, const std::vector<double>& weight,
                                 const std::vector<int>& capacity, int budget);

}  // namespace smolvid::sampler
