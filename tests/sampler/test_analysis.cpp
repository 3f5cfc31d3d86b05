// Frame analysis on synthetic frames and the scenes/motion/near-duplicate rules on synthetic
// feature sequences: every expected value follows from the construction of the input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "sampler/analysis.h"
#include "sampler/detect.h"

namespace smolvid::sampler {
namespace {

decode::Frame solid(int w, int h, uint8_t r, uint8_t g, uint8_t b, double t, int64_t index) {
  decode::Frame f;
  f.width = w;
  f.height = h;
  f.channels = 3;
  f.pts_seconds = t;
  f.index = index;
  for (int i = 0; i < w * h; ++i) {
    f.pixels.push_back(r);
    f.pixels.push_back(g);
    f.pixels.push_back(b);
  }
  return f;
}

void fill_rect(decode::Frame& f, int x0, int y0, int x1, int y1, uint8_t v) {
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x)
      for (int c = 0; c < f.channels; ++c) f.pixels[(static_cast<size_t>(y) * f.width + x) * f.channels + c] = v;
}

TEST(FrameAnalyzer, StaticFramesScoreZero) {
  FrameAnalyzer a;
  const auto f0 = a.push(solid(64, 48, 100, 120, 140, 0.0, 0));
  const auto f1 = a.push(solid(64, 48, 100, 120, 140, 0.1, 1));
  EXPECT_EQ(f0.content, 0.0);
  EXPECT_EQ(f1.content, 0.0);
  EXPECT_EQ(f1.motion, 0.0);
  EXPECT_EQ(f0.dhash, f1.dhash);
  EXPECT_DOUBLE_EQ(f1.time_s, 0.1);
  EXPECT_EQ(f1.index, 1);
}

TEST(FrameAnalyzer, ObjectAppearingChangesItsShareOfPixels) {
  FrameAnalyzer a;
  a.push(solid(64, 48, 0, 0, 0, 0.0, 0));
  auto f = solid(64, 48, 0, 0, 0, 0.1, 1);
  fill_rect(f, 16, 12, 48, 36, 255);  // 32x24 of 64x48 = 25% of the pixels
  const auto s = a.push(f);
  EXPECT_NEAR(s.motion, 0.25, 0.05);  // the blur widens/shrinks the edge by a pixel or two
  // V changes by 255 on 25% of the pixels, H and S stay 0: mean over 3 channels = 255 * 0.25 / 3.
  EXPECT_NEAR(s.content, 255.0 * 0.25 / 3.0, 0.5);
  EXPECT_GT(s.histogram, 0.02);  // correlation of two histograms both dominated by black
}

TEST(FrameAnalyzer, HueDifferenceWrapsAround) {
  // Two reds on either side of hue 0: their HSV hue difference is small, not ~255.
  FrameAnalyzer a;
  a.push(solid(32, 32, 255, 0, 6, 0.0, 0));   // hue just below 360 degrees
  const auto s = a.push(solid(32, 32, 255, 6, 0, 0.04, 1));  // hue just above 0
  EXPECT_LT(s.content, 5.0);
}

TEST(FrameAnalyzer, GreyFramesAndSizeChange) {
  FrameAnalyzer a;
  decode::Frame g;
  g.width = 40;
  g.height = 30;
  g.channels = 1;
  g.pixels.assign(40 * 30, 50);
  a.push(g);
  g.pixels.assign(40 * 30, 80);
  g.pts_seconds = 0.04;
  EXPECT_NEAR(a.push(g).content, 30.0, 1e-9);
  decode::Frame h = g;  // the stream changes size: start over, no crash, no score
  h.width = 20;
  h.height = 10;
  h.pixels.assign(200, 0);
  EXPECT_EQ(a.push(h).content, 0.0);
  h.pixels.resize(10);
  EXPECT_THROW(a.push(h), SamplerError);
}

TEST(DifferenceHash, GradientDirection) {
  decode::Frame f;
  f.width = 90;
  f.height = 80;
  f.channels = 1;
  for (int y = 0; y < 80; ++y)
    for (int x = 0; x < 90; ++x) f.pixels.push_back(static_cast<uint8_t>(x * 2));
  EXPECT_EQ(difference_hash(f), ~uint64_t{0});  // brighter to the right: every bit set
  for (int y = 0; y < 80; ++y)
    for (int x = 0; x < 90; ++x) f.pixels[y * 90 + x] = static_cast<uint8_t>(200 - x * 2);
  EXPECT_EQ(difference_hash(f), uint64_t{0});
  EXPECT_EQ(hamming_distance(0, ~uint64_t{0}), 64);
  EXPECT_EQ(hamming_distance(0b1011, 0b0001), 2);
}

// 25 fps features with background content noise `base`.
std::vector<FrameFeatures> steady(int n, double base, double hist = 0.0) {
  std::vector<FrameFeatures> v;
  for (int i = 0; i < n; ++i) {
    FrameFeatures f;
    f.index = i;
    f.time_s = 1.0 + i * 0.04;
    f.content = i == 0 ? 0.0 : base + (i % 3) * 0.5;
    f.histogram = i == 0 ? 0.0 : hist;
    v.push_back(f);
  }
  return v;
}

TEST(Scenes, OneHardCut) {
  auto f = steady(100, 2.0);
  f[60].content = 40.0;
  f[60].histogram = 0.8;
  SceneOptions o;
  o.max_frames = 4;
  const auto sel = detect_scenes(f, o);
  ASSERT_EQ(sel.segments.size(), 2u);
  EXPECT_DOUBLE_EQ(sel.segments[0].start_s, 1.0);
  EXPECT_DOUBLE_EQ(sel.segments[0].end_s, f[60].time_s);
  EXPECT_DOUBLE_EQ(sel.segments[1].start_s, f[60].time_s);
  EXPECT_DOUBLE_EQ(sel.segments[1].end_s, f[99].time_s + 0.04);
  EXPECT_DOUBLE_EQ(sel.segments[1].score, 40.0);
  EXPECT_DOUBLE_EQ(sel.duration_s, 100 * 0.04);
  ASSERT_EQ(sel.picks.size(), 4u);
  int in_first = 0;
  for (const auto& p : sel.picks) {
    in_first += p.time_s < f[60].time_s;
    EXPECT_NE(p.reason.find("shot"), std::string::npos);
  }
  EXPECT_GE(in_first, 1);
  EXPECT_LE(in_first, 3);
}

TEST(Scenes, FastMotionIsNotACut) {
  // High scores everywhere (camera motion): the adaptive ratio stays low.
  auto f = steady(100, 18.0, 0.05);
  f[50].content = 30.0;
  EXPECT_EQ(detect_scenes(f).segments.size(), 1u);
  // A moderate spike that keeps the histogram is not a cut; with a histogram change it is.
  f = steady(100, 3.0, 0.01);
  f[50].content = 20.0;
  EXPECT_EQ(detect_scenes(f).segments.size(), 1u);
  f[50].histogram = 0.5;
  EXPECT_EQ(detect_scenes(f).segments.size(), 2u);
}

TEST(Scenes, MinimumShotLengthAndBudget) {
  auto f = steady(200, 2.0);
  f[50].content = f[55].content = 50.0;  // 0.2 s apart: the second is ignored
  f[50].histogram = f[55].histogram = 0.9;
  f[150].content = 50.0;
  f[150].histogram = 0.9;
  SceneOptions o;
  o.max_frames = 2;
  const auto sel = detect_scenes(f, o);
  ASSERT_EQ(sel.segments.size(), 3u);  // [0,50) [50,150) [150,200)
  EXPECT_DOUBLE_EQ(sel.segments[1].start_s, f[50].time_s);
  EXPECT_DOUBLE_EQ(sel.segments[2].start_s, f[150].time_s);
  // The two longest shots: 100 frames, then [150,200) (2.04 s with its last frame's duration)
  // over [0,50) (2.00 s).
  ASSERT_EQ(sel.picks.size(), 2u);
  EXPECT_GE(sel.picks[0].time_s, f[50].time_s);
  EXPECT_LT(sel.picks[0].time_s, f[150].time_s);
  EXPECT_GE(sel.picks[1].time_s, f[150].time_s);
  EXPECT_EQ(sel.notes.size(), 1u);
}

std::vector<FrameFeatures> with_motion(const std::vector<std::pair<double, double>>& on, double level) {
  std::vector<FrameFeatures> v;
  for (int i = 0; i < 250; ++i) {  // 10 s at 25 fps
    FrameFeatures f;
    f.index = i;
    f.time_s = i * 0.04;
    for (const auto& [a, b] : on)
      if (f.time_s >= a - 1e-9 && f.time_s < b - 1e-9) f.motion = level;
    f.dhash = static_cast<uint64_t>(i / 25);  // a different picture each second
    v.push_back(f);
  }
  return v;
}

TEST(Motion, EventsMergedAndShortOnesDropped) {
  // 2-4 s and 4.3-5 s (gap 0.3 s <= 0.5 s: merged); 7-7.04 s (one frame: dropped); 8-9 s.
  const auto f = with_motion({{2.0, 4.0}, {4.3, 5.0}, {7.0, 7.04}, {8.0, 9.0}}, 0.1);
  MotionOptions o;
  o.max_frames = 5;
  const auto sel = detect_motion(f, o);
  ASSERT_EQ(sel.segments.size(), 2u);
  EXPECT_NEAR(sel.segments[0].start_s, 2.0, 1e-9);
  EXPECT_NEAR(sel.segments[0].end_s, 5.0, 1e-9);
  EXPECT_NEAR(sel.segments[1].start_s, 8.0, 1e-9);
  EXPECT_NEAR(sel.segments[1].end_s, 9.0, 1e-9);
  EXPECT_DOUBLE_EQ(sel.segments[0].score, 0.1);
  ASSERT_EQ(sel.picks.size(), 5u);
  for (const auto& p : sel.picks) {
    const bool inside = (p.time_s >= 2.0 && p.time_s < 5.0) || (p.time_s >= 8.0 && p.time_s < 9.0);
    EXPECT_TRUE(inside) << p.time_s;
    EXPECT_NE(p.reason.find("event"), std::string::npos);
  }
}

TEST(Motion, HysteresisAndNoEvent) {
  auto f = with_motion({{2.0, 3.0}}, 0.03);
  for (auto& x : f)
    if (x.time_s >= 3.0 - 1e-9 && x.time_s < 6.0) x.motion = 0.015;  // below start, above stay
  auto sel = detect_motion(f);
  ASSERT_EQ(sel.segments.size(), 1u);
  EXPECT_NEAR(sel.segments[0].end_s, 6.0, 1e-9);
  // Never above start_fraction: no event, one overview frame.
  sel = detect_motion(with_motion({{2.0, 3.0}}, 0.015));
  EXPECT_TRUE(sel.segments.empty());
  ASSERT_EQ(sel.picks.size(), 1u);
  EXPECT_NE(sel.picks[0].reason.find("no event"), std::string::npos);
}

TEST(Budget, AllocateBudget) {
  // budget < segments: the heaviest get one each
  EXPECT_EQ(allocate_budget({1, 5, 3}, {1, 5, 3}, {10, 10, 10}, 2), (std::vector<int>{0, 1, 1}));
  // the rest in proportion to length, capped by capacity
  EXPECT_EQ(allocate_budget({10, 30}, {1, 1}, {100, 100}, 8), (std::vector<int>{2, 6}));
  EXPECT_EQ(allocate_budget({10, 30}, {1, 1}, {100, 2}, 8), (std::vector<int>{6, 2}));
  EXPECT_EQ(allocate_budget({10, 30}, {1, 1}, {1, 2}, 8), (std::vector<int>{1, 2}));
}

TEST(Dedup, KeepsOnlyDistinctFrames) {
  DedupOptions o;
  o.max_hamming = 3;
  EXPECT_EQ(near_duplicate_keep({0x0, 0x1, 0xFF, 0x3, 0xFF0}, o), (std::vector<size_t>{0, 2, 4}));
  // A selection over a video whose picture changes once per second keeps one pick per second.
  const auto f = with_motion({}, 0.0);
  Selection sel;
  for (int i = 0; i < 250; i += 5) {
    Pick p;
    p.index = i;
    p.time_s = f[i].time_s;
    sel.picks.push_back(p);
  }
  o.max_hamming = 0;
  suppress_near_duplicates(sel, f, o);
  ASSERT_EQ(sel.picks.size(), 10u);
  for (size_t k = 0; k < 10; ++k) EXPECT_EQ(sel.picks[k].index, static_cast<int64_t>(25 * k));
  EXPECT_EQ(sel.notes.size(), 1u);
}

// ---- scene features and boundary kinds on synthetic pictures (96x54 like the analysis frames) ----

struct Box {
  int x0, y0, x1, y1;
  uint8_t r, g, b;
};

// A flat-colour picture: background plus boxes, every channel scaled by `light` (a fade).
decode::Frame picture(uint8_t r, uint8_t g, uint8_t b, const std::vector<Box>& boxes, int64_t index, double light = 1.0) {
  decode::Frame f = solid(96, 54, r, g, b, 0.04 * index, index);
  for (const Box& x : boxes)
    for (int y = x.y0; y < x.y1; ++y)
      for (int xx = x.x0; xx < x.x1; ++xx) {
        uint8_t* p = &f.pixels[(static_cast<size_t>(y) * 96 + xx) * 3];
        p[0] = x.r, p[1] = x.g, p[2] = x.b;
      }
  for (auto& v : f.pixels) v = static_cast<uint8_t>(std::lround(v * light));
  return f;
}

// (1 - alpha) a + alpha b, pixel by pixel (a dissolve), at frame `index`.
decode::Frame blend(const decode::Frame& a, const decode::Frame& b, double alpha, int64_t index) {
  decode::Frame f = a;
  for (size_t k = 0; k < f.pixels.size(); ++k)
    f.pixels[k] = static_cast<uint8_t>(std::lround((1 - alpha) * a.pixels[k] + alpha * b.pixels[k]));
  f.index = index;
  f.pts_seconds = 0.04 * index;
  return f;
}

std::vector<FrameFeatures> analyse(const std::vector<decode::Frame>& frames) {
  AnalysisOptions o;
  o.motion_features = false;
  FrameAnalyzer a(o);
  std::vector<FrameFeatures> out;
  for (const auto& f : frames) out.push_back(a.push(f));
  return out;
}

// A green field with a white box walking right, then the same green with two orange boxes.
std::vector<decode::Frame> flat_cut_clip() {
  std::vector<decode::Frame> v;
  for (int i = 0; i < 50; ++i) v.push_back(picture(47, 158, 68, {{10 + i / 4, 20, 22 + i / 4, 32, 255, 255, 255}}, i));
  for (int i = 50; i < 100; ++i)
    v.push_back(picture(47, 158, 68, {{50, 10, 60, 20, 240, 140, 0}, {70, 35, 80, 45, 240, 140, 0}}, i));
  return v;
}

TEST(SceneFeatures, ChangedShareEdgeChangeAndLight) {
  const auto f = analyse(flat_cut_clip());
  EXPECT_EQ(f[0].changed, 0.0);
  EXPECT_EQ(f[0].edge_change, 0.0);
  // Moving a box by at most a pixel leaves the edges within reach; the cut replaces all of them.
  for (int i = 1; i < 50; ++i) EXPECT_LT(f[i].edge_change, 0.2) << i;
  EXPECT_GT(f[50].edge_change, 0.9);
  // The cut changes the white box's 12x12 and the two orange 10x10 boxes: 344 of 5184 pixels.
  EXPECT_NEAR(f[50].changed, 344.0 / 5184.0, 0.005);
  EXPECT_LT(f[50].content, SceneOptions{}.min_content);  // the colour content score alone misses it
  // Light: a plain grey frame has its grey as mean and no spread.
  const auto g = analyse({solid(96, 54, 77, 77, 77, 0.0, 0)});
  EXPECT_NEAR(g[0].luma_mean, 77.0, 0.5);
  EXPECT_NEAR(g[0].luma_std, 0.0, 1e-9);
  EXPECT_EQ(g[0].thumb[0], 77);
}

TEST(Scenes, FlatColourCutKeepingTheBackground) {
  const auto sel = detect_scenes(analyse(flat_cut_clip()));
  ASSERT_EQ(sel.boundaries.size(), 1u);
  EXPECT_EQ(sel.boundaries[0].kind, "cut");
  EXPECT_DOUBLE_EQ(sel.boundaries[0].start_s, 0.04 * 50);
  ASSERT_EQ(sel.segments.size(), 2u);
  EXPECT_DOUBLE_EQ(sel.segments[1].start_s, 0.04 * 50);
}

TEST(Scenes, FadeThroughBlack) {
  // Shot A (30 frames), A fading out over frames 30-39 (light 0.9 .. 0.0), black 40-44, shot B
  // fading in over 45-54 (light 0.1 .. 1.0), B to frame 79.
  const std::vector<Box> a_boxes = {{10, 10, 40, 40, 250, 250, 250}, {60, 5, 90, 25, 30, 30, 200}};
  const std::vector<Box> b_boxes = {{5, 30, 50, 50, 200, 40, 40}, {70, 10, 85, 45, 250, 220, 60}};
  std::vector<decode::Frame> v;
  for (int i = 0; i < 80; ++i) {
    if (i < 40) v.push_back(picture(120, 120, 120, a_boxes, i, i < 30 ? 1.0 : (39 - i) / 10.0));
    else if (i < 45) v.push_back(picture(0, 0, 0, {}, i));
    else v.push_back(picture(90, 160, 200, b_boxes, i, i < 54 ? (i - 44) / 10.0 : 1.0));
  }
  const auto sel = detect_scenes(analyse(v));
  ASSERT_EQ(sel.boundaries.size(), 1u);
  const Boundary& b = sel.boundaries[0];
  EXPECT_EQ(b.kind, "fade");
  EXPECT_DOUBLE_EQ(b.start_s, 0.04 * 30);  // the first darker frame
  EXPECT_DOUBLE_EQ(b.end_s, 0.04 * 54);    // the first frame at full light
  ASSERT_EQ(sel.segments.size(), 2u);
  EXPECT_GE(sel.segments[1].start_s, 0.04 * 39);  // split in the black
  EXPECT_LE(sel.segments[1].start_s, 0.04 * 45);
  for (const auto& p : sel.picks) EXPECT_TRUE(p.time_s < 0.04 * 30 || p.time_s >= 0.04 * 54) << p.time_s;
}

TEST(Scenes, FadeAtTheEndsSplitsNothing) {
  std::vector<decode::Frame> v;
  const std::vector<Box> boxes = {{10, 10, 40, 40, 250, 250, 250}};
  for (int i = 0; i < 60; ++i) v.push_back(picture(120, 120, 120, boxes, i, i < 10 ? i / 10.0 : (i >= 50 ? (59 - i) / 10.0 : 1.0)));
  const auto sel = detect_scenes(analyse(v));
  ASSERT_EQ(sel.boundaries.size(), 2u);
  EXPECT_EQ(sel.boundaries[0].kind, "fade");
  EXPECT_DOUBLE_EQ(sel.boundaries[0].start_s, 0.0);
  EXPECT_DOUBLE_EQ(sel.boundaries[0].end_s, 0.04 * 10);
  EXPECT_EQ(sel.boundaries[1].kind, "fade");
  EXPECT_DOUBLE_EQ(sel.boundaries[1].start_s, 0.04 * 50);
  EXPECT_EQ(sel.segments.size(), 1u);
}

TEST(Scenes, Dissolve) {
  const decode::Frame a = picture(40, 60, 150, {{10, 10, 40, 40, 250, 250, 250}, {60, 30, 90, 50, 20, 20, 20}}, 0);
  const decode::Frame b = picture(230, 200, 120, {{50, 5, 70, 45, 120, 60, 20}, {5, 35, 30, 50, 30, 120, 30}}, 0);
  std::vector<decode::Frame> v;
  for (int i = 0; i < 90; ++i) v.push_back(blend(a, b, std::clamp((i - 39) / 16.0, 0.0, 1.0), i));  // frames 40-54 blend
  const auto sel = detect_scenes(analyse(v));
  ASSERT_EQ(sel.boundaries.size(), 1u);
  const Boundary& d = sel.boundaries[0];
  EXPECT_EQ(d.kind, "dissolve");
  EXPECT_NEAR(d.start_s, 0.04 * 40, 0.04 + 1e-9);
  EXPECT_NEAR(d.end_s, 0.04 * 55, 0.04 + 1e-9);
  ASSERT_EQ(sel.segments.size(), 2u);
  EXPECT_NEAR(sel.segments[1].start_s, 0.04 * 47.5, 0.04 + 1e-9);
}

TEST(Scenes, GradualChangesAreNoBoundary) {
  // A dark panel sliding in over 10 frames and out again (a wipe-like move), then the light
  // dimming to 40% and coming back: no cut, no fade (never black), no dissolve (no blend).
  std::vector<decode::Frame> v;
  const Box disc = {30, 20, 42, 32, 255, 255, 255};
  for (int i = 0; i < 140; ++i) {
    const int edge = i < 20 ? 0 : i < 30 ? (i - 20) * 5 : i < 50 ? 50 : i < 60 ? 50 - (i - 50) * 5 : 0;
    std::vector<Box> boxes = {disc};
    if (edge > 0) boxes.push_back({0, 0, edge, 54, 33, 37, 41});
    const double light = i < 80 ? 1.0 : i < 110 ? 1.0 - 0.02 * (i - 80) : 0.4 + 0.02 * std::min(30, i - 110);
    v.push_back(picture(77, 171, 247, boxes, i, light));
  }
  const auto sel = detect_scenes(analyse(v));
  for (const auto& b : sel.boundaries) ADD_FAILURE() << b.kind << " [" << b.start_s << ", " << b.end_s << ")";
  EXPECT_EQ(sel.segments.size(), 1u);
}

TEST(Detect, RejectsBadInput) {
  EXPECT_THROW(detect_scenes({}), SamplerError);
  auto f = steady(10, 1.0);
  std::swap(f[3], f[4]);
  EXPECT_THROW(detect_motion(f), SamplerError);
}

}  // namespace
}  // namespace smolvid::sampler
