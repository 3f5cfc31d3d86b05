// bench_scenes: the scenes policy's precision and recall per clip against the reference list
// tests/sampler/data/scene_cuts.json (how each reference was obtained is written there), as a
// Markdown table. scripts/scene-eval.sh makes the generated clips and runs it.
//
//   bench_scenes --generated DIR [--reference JSON] [--media DIR]
//   bench_scenes --dump FILE      per-frame scene features of one file and its boundaries (for tuning)
//   bench_scenes --cost FILE...   CPU cost of the scenes policy's analysis pass with the scene
//                                 features (changed share, edges, light, thumbnail) and the new
//                                 detection, relative to the pass without them (the policy's cost
//                                 before flat-colour cuts and transitions), measured in one run
//
// Defaults: --reference tests/sampler/data/scene_cuts.json, --media ../shared/media (run from the
// repository root; SMOLVID_SHARED overrides the media folder's parent).
#include <fmt/core.h>

#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "sampler/sampler.h"
#include "sampler/scene_eval.h"

namespace {

namespace sampler = smolvid::sampler;

std::string pr(const sampler::MatchCount& m) {
  return fmt::format("{}/{}/{} | {:.2f} | {:.2f}", m.reference, m.detected, m.matched, m.precision(), m.recall());
}

void dump(const std::string& path) {
  sampler::AnalysisOptions ao;
  ao.motion_features = false;
  const auto feats = sampler::analyze_video(path, smolvid::decode::PixelFormat::kRgb24, sampler::SamplerOptions{}.analysis_side, ao);
  fmt::print("index time_s content histogram changed edge_change luma_mean luma_std\n");
  for (const auto& f : feats)
    fmt::print("{} {:.3f} {:.2f} {:.3f} {:.4f} {:.3f} {:.1f} {:.1f}\n", f.index, f.time_s, f.content, f.histogram, f.changed,
               f.edge_change, f.luma_mean, f.luma_std);
  for (const auto& b : sampler::detect_scenes(feats).boundaries)
    fmt::print("boundary {} [{:.3f}, {:.3f}) score {:.2f}\n", b.kind, b.start_s, b.end_s, b.score);
}

// Process CPU time (all threads) of fn: on a shared, loaded machine the steadier measure.
template <typename Fn>
double cpu_seconds(Fn fn) {
  const std::clock_t c0 = std::clock();
  fn();
  return static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
}

void cost(const std::string& path) {
  const int side = sampler::SamplerOptions{}.analysis_side;
  sampler::AnalysisOptions without;
  without.motion_features = false;
  without.scene_features = false;
  sampler::AnalysisOptions with = without;
  with.scene_features = true;
  size_t frames = 0, boundaries = 0;
  const double base = cpu_seconds([&] { frames = sampler::analyze_video(path, smolvid::decode::PixelFormat::kRgb24, side, without).size(); });
  std::vector<sampler::FrameFeatures> feats;
  const double analysis = cpu_seconds([&] { feats = sampler::analyze_video(path, smolvid::decode::PixelFormat::kRgb24, side, with); });
  const double detect = cpu_seconds([&] { boundaries = sampler::detect_scenes(feats).boundaries.size(); });
  fmt::print("{}: {} frames, {} boundaries\n  analysis without scene features: {:.2f} s CPU\n"
             "  with them + detection: {:.2f} s CPU = {:.2f}x ({:.3f} s of it detection)\n",
             path, frames, boundaries, base, analysis + detect, (analysis + detect) / base, detect);
}

}  // namespace

int main(int argc, char** argv) {
  std::string reference = "tests/sampler/data/scene_cuts.json";
  std::string media = "../shared/media";
  if (const char* env = std::getenv("SMOLVID_SHARED")) media = std::string(env) + "/media";
  std::string generated;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--reference" && has_value) {
      reference = argv[++i];
    } else if (a == "--media" && has_value) {
      media = argv[++i];
    } else if (a == "--generated" && has_value) {
      generated = argv[++i];
    } else if (a == "--dump" && has_value) {
      dump(argv[++i]);
      return 0;
    } else if (a == "--cost" && has_value) {
      for (++i; i < argc; ++i) cost(argv[i]);
      return 0;
    } else {
      fmt::print(stderr, "bench_scenes: unknown argument '{}'; usage: bench_scenes --generated DIR [--reference JSON] [--media DIR]\n", a);
      return 2;
    }
  }
  if (generated.empty()) {
    fmt::print(stderr, "bench_scenes: --generated DIR is required (the clips make_flat_clips.sh writes)\n");
    return 2;
  }
  const auto clips = sampler::load_scene_reference(reference);
  fmt::print("scenes policy against {} (cuts: reference/detected/matched, tolerance one frame or 0.1 s)\n\n", reference);
  fmt::print("| clip | cuts ref/det/match | cut P | cut R | transitions ref/det/match | trans P | trans R | kinds agree |\n");
  fmt::print("|---|---|---|---|---|---|---|---|\n");
  sampler::MatchCount real_cuts, flat_cuts, all_trans;
  for (const auto& c : clips) {
    const std::string path = (c.folder == "media" ? media : generated) + "/" + c.file;
    sampler::SamplerOptions o;
    o.policy = "scenes";
    const sampler::Selection sel = sampler::select_frames(path, o);
    const sampler::ClipScore s = sampler::score_boundaries(sel, c, sampler::cut_tolerance(c.fps));
    (c.flat_colour ? flat_cuts : real_cuts) += s.cuts;
    all_trans += s.transitions;
    fmt::print("| {}{} | {} | {} | {} |\n", c.file, c.flat_colour ? " (flat)" : "", pr(s.cuts), pr(s.transitions),
               s.transitions.reference > 0 ? fmt::format("{}/{}", s.transition_kinds_agree, s.transitions.reference) : "-");
  }
  fmt::print("| **all but flat-colour: cuts** | {} | | | |\n", pr(real_cuts));
  fmt::print("| **flat-colour: cuts** | {} | | | |\n", pr(flat_cuts));
  fmt::print("| **all: transitions** | | | | {} | |\n", pr(all_trans));
  return 0;
}
