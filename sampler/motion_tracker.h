// sampler/motion_tracker.h: the motion policy (sampler/detect.h, detect_motion) run online, one
// analysis frame at a time, for live cameras: the same FrameAnalyzer features and the same rules
// (start_fraction / stay_fraction hysteresis, merge_gap_s, min_event_s), so on the same frames it
// finds the same events as detect_motion does on the whole vector (tests check this).
//
// Usage:
//   smolvid::sampler::MotionTracker tracker(MotionOptions{}, AnalysisOptions{}, {});  // no mask
//   for (each analysis frame f, GRAY8, ascending time) {
//     for (const MotionTracker::Update& u : tracker.push(f)) {
//       if (u.kind == MotionTracker::Update::kOpened) ...;   // motion began at u.event.start_s
//       if (u.kind == MotionTracker::Update::kClosed) ...;   // final [start_s, end_s)
//       if (u.kind == MotionTracker::Update::kDropped) ...;  // opened, but shorter than min_event_s
//     }
//   }
//   tracker.finish();              // stream ended or broke: closes (or drops) what is open
//
// An event is opened as soon as a frame reaches start_fraction (so a caller can start recording),
// and closed once its motion has stayed below stay_fraction for longer than merge_gap_s (a later
// burst within merge_gap_s extends it instead). Its end is the time of the first quiet frame, as in
// detect_motion. Memory: O(1) frames (the analyzer's background model).
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "decode/frame.h"
#include "sampler/analysis.h"
#include "sampler/detect.h"

namespace smolvid::sampler {

// Polygons in normalised frame coordinates (x, y in [0, 1], origin top left); pixels inside any of
// them are ignored by the motion analysis (e.g. a road or a tree the camera sees).
using IgnoreMask = std::vector<std::vector<std::pair<double, double>>>;

class MotionTracker {
 public:
  struct Event {
    double start_s = 0.0;
    double end_s = 0.0;   // while open: the time of the last frame seen
    double peak = 0.0;    // highest changed-pixel fraction
    double peak_s = 0.0;  // time of that frame
  };
  struct Update {
    enum Kind { kOpened, kClosed, kDropped } kind = kOpened;
    Event event;
  };

  // Throws SamplerError for bad options (as detect_motion and FrameAnalyzer do) or a polygon with
  // fewer than 3 points or coordinates outside [0, 1].
  MotionTracker(MotionOptions motion, AnalysisOptions analysis = {}, IgnoreMask mask = {});

  // One analysis frame (GRAY8 or RGB24, ascending pts_seconds; frames whose time does not ascend
  // are ignored). Returns what changed, in order.
  std::vector<Update> push(const decode::Frame& frame);
  // Features of the last frame pushed (for statistics).
  const FrameFeatures& last() const { return last_; }
  // The stream ended (or broke) after the last frame pushed: an open event ends there (its end is
  // that frame's time plus one frame interval, as detect_motion's range_end) and is closed or dropped.
  // The analyzer starts over (the next frame is a first frame).
  std::vector<Update> finish();
  bool event_open() const { return open_.has_value(); }
  const std::optional<Event>& open_event() const { return open_; }

 private:
  std::vector<Update> close_pending(bool force);

  MotionOptions motion_;
  AnalysisOptions analysis_;
  IgnoreMask mask_;
  FrameAnalyzer analyzer_;
  FrameFeatures last_;
  bool have_last_ = false;
  bool have_prev_ = false;
  double prev_time_ = 0.0;     // time of the frame before last_ (for the final frame's duration)
  bool active_ = false;        // inside a raw motion range
  std::optional<Event> open_;  // the (merged) event being built; reported as opened
  bool quiet_ = false;         // open_ has ended its last raw range; waiting for merge_gap_s
};

}  // namespace smolvid::sampler
