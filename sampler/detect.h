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

// Cut at frame i when, in the spirit of PySceneDetect's AdaptiveDetector, its content score is
// at least adaptive_ratio times the mean score of the window_frames frames on each side, AND
// either the content score reaches strong_content (ContentDetector's default threshold) or it
// reaches min_content while the luma histogram changed by at least min_histogram (fast camera
// motion moves pixels but keeps the histogram; a cut changes both). Cuts closer than min_shot_s
// to the previous cut are ignored.
struct SceneOptions {
  int max_frames = 16;          // budget of representative frames over all shots
  double min_content = 15.0;    // 0..255, PySceneDetect min_content_val
  double strong_content = 27.0; // 0..255, PySceneDetect ContentDetector threshold
  double min_histogram = 0.3;   // 1 - luma histogram correlation, for min_content <= score < strong
  double adaptive_ratio = 3.0;  // PySceneDetect adaptive_threshold
  int window_frames = 2;        // PySceneDetect window_width
  double min_shot_s = 0.5;      // shortest shot (seconds, so VFR footage behaves)
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
