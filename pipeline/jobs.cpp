#include "pipeline/jobs.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <regex>

#include "pipeline/hashing.h"
#include "pipeline/media_util.h"
#include "sampler/image.h"
#include "util/time_format.h"

namespace smolvid::pipeline {
namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

decode::ReaderOptions full_reader(int threads) {
  decode::ReaderOptions o;
  o.threads = threads;
  return o;
}

// The stream-timeline interval the video covers: [start, start + duration).
std::pair<double, double> video_span(decode::VideoReader& reader) {
  const decode::MediaInfo& info = reader.probe();
  const double start = info.start_time.known() ? info.start_time.value : 0.0;
  if (!info.duration.known() || !(info.duration.value > 0)) {
    throw JobError(fmt::format("{}: the duration is unknown (source '{}'); cannot place segments", reader.path(), info.duration.source));
  }
  return {start, start + info.duration.value};
}

std::pair<double, double> clip_range(const std::pair<double, double>& span, const std::optional<double>& from,
                                     const std::optional<double>& to, const std::string& path) {
  const double a = std::max(span.first, from.value_or(span.first));
  const double b = std::min(span.second, to.value_or(span.second));
  if (!(b > a)) {
    throw JobOptionsError(fmt::format("{}: the range [{}, {}) s does not overlap the video [{:.3f}, {:.3f}) s", path,
                               from ? fmt::format("{}", *from) : "start", to ? fmt::format("{}", *to) : "end", span.first, span.second));
  }
  return {a, b};
}

// The smolvlm2 policy takes the frame rate and budget the model was trained with (its
// video_sampling), as the reference processor does, unless the caller chose them.
sampler::SamplerOptions with_checkpoint_defaults(sampler::SamplerOptions o, const Vlm& vlm) {
  if (o.policy != "smolvlm2") return o;
  if (const auto vs = vlm.video_sampling()) {
    if (o.max_frames == 0) o.max_frames = std::min(vs->max_frames, sampler::kMaxFrames);
    if (o.fps == 0) o.fps = std::min(vs->fps, sampler::kMaxFps);
  }
  return o;
}

// Decodes the frames at `times` (ascending), dropping repeats of one frame (short segments).
std::vector<decode::Frame> frames_at(decode::VideoReader& reader, const std::vector<double>& times) {
  std::vector<decode::Frame> frames;
  reader.decode_at(times, decode::SeekMode::kExact, [&](const decode::Frame& f) {
    if (frames.empty() || f.pts_seconds > frames.back().pts_seconds) frames.push_back(f);
    return true;
  });
  return frames;
}

// n times at the centres of n equal parts of [a, b).
std::vector<double> spread(double a, double b, int n) {
  std::vector<double> t;
  for (int k = 0; k < n; ++k) t.push_back(a + (k + 0.5) * (b - a) / n);
  return t;
}

// Stream-timeline times can start below 0 (edit lists); labels clamp them to 00:00.
std::string mmss(double seconds) { return util::format_mmss(std::max(0.0, seconds)); }

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size()) text.replace(pos, from.size(), to);
  return text;
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
}

// The model as a batch item sees it: whatever fails inside the model, from whichever library
// (tensors, tokenizer, chat template, memory), is a model failure of the item; its deadline stays
// a timeout.
class ItemModel : public Vlm {
 public:
  explicit ItemModel(Vlm& vlm) : vlm_(vlm) {}
  std::vector<Generation> generate(const VisualInput& input, const std::vector<std::string>& prompts, const GenerationOptions& options,
                                   const TextCallback& on_text) override {
    try {
      return vlm_.generate(input, prompts, options, on_text);
    } catch (const TimeoutError&) {
      throw;
    } catch (const std::exception& e) {
      throw ItemError(ItemErrorKind::kModel, e.what());
    }
  }
  std::string model_name() const override { return vlm_.model_name(); }

 private:
  Vlm& vlm_;
};

}  // namespace

bool is_image_path(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".webp" || ext == ".tif" || ext == ".tiff";
}

AskResult ask(Vlm& vlm, const std::string& input, const std::vector<std::string>& questions, const AskOptions& options,
              const TextCallback& on_text) {
  if (questions.empty()) throw JobOptionsError(fmt::format("ask {}: no question given", input));
  const auto t0 = Clock::now();
  AskResult r;
  r.input = input;
  r.questions = questions;
  r.model = vlm.model_name();
  VisualInput visual;
  decode::VideoReader reader(input, full_reader(options.threads));
  if (is_image_path(input)) {
    visual.kind = MediaKind::kImages;
    reader.decode_all([&](const decode::Frame& f) {
      visual.frames.push_back(f);
      return false;  // the first (only) picture
    });
    if (visual.frames.empty()) throw JobError(fmt::format("ask {}: the image decoded to no picture", input));
    r.timings_s["decode"] = seconds_since(t0);
  } else {
    const auto span = video_span(reader);
    r.duration_s = span.second - span.first;
    const auto range = clip_range(span, options.start_s, options.end_s, input);
    sampler::SamplerOptions sampling = with_checkpoint_defaults(options.sampling, vlm);
    sampling.start_s = range.first;
    sampling.end_s = range.second;
    const sampler::Selection sel = sampler::select_frames(reader, sampling);
    r.timings_s["sample"] = seconds_since(t0);
    if (sel.picks.empty()) {
      throw JobOptionsError(fmt::format("ask {}: the {} policy chose no frame in [{:.3f}, {:.3f}) s", input, options.sampling.policy,
                                 range.first, range.second));
    }
    const auto t1 = Clock::now();
    visual.frames = sampler::fetch_frames(reader, sel);
    visual.duration_s = range.second - range.first;
    visual.start_time_s = span.first;
    std::sort(visual.frames.begin(), visual.frames.end(), [](const decode::Frame& a, const decode::Frame& b) { return a.pts_seconds < b.pts_seconds; });
    visual.frames.erase(std::unique(visual.frames.begin(), visual.frames.end(),
                                    [](const decode::Frame& a, const decode::Frame& b) { return a.pts_seconds == b.pts_seconds; }),
                        visual.frames.end());
    r.timings_s["decode"] = seconds_since(t1);
  }
  options.generation.deadline.check("ask: before the model");
  for (const decode::Frame& f : visual.frames) r.frame_times_s.push_back(f.pts_seconds);
  r.kind = visual.kind;
  const auto t2 = Clock::now();
  r.answers = vlm.generate(visual, questions, options.generation, on_text);
  r.timings_s["model"] = seconds_since(t2);
  if (r.answers.size() != questions.size()) {
    throw VlmError(fmt::format("ask {}: model {} returned {} answers for {} questions", input, r.model, r.answers.size(), questions.size()));
  }
  r.timings_s["total"] = seconds_since(t0);
  return r;
}

nlohmann::json ask_to_json(const AskResult& r) {
  using nlohmann::json;
  json frames = json::array();
  for (double t : r.frame_times_s) frames.push_back({{"pts_s", t}});
  json answers = json::array();
  for (size_t i = 0; i < r.answers.size(); ++i) {
    const Generation& g = r.answers[i];
    answers.push_back({{"question", r.questions[i]},
                       {"answer", g.text},
                       {"prompt_tokens", g.prompt_tokens},
                       {"generated_tokens", g.generated_tokens},
                       {"stop_reason", g.stop_reason},
                       {"timings_s", {{"vision", g.timings.vision_s}, {"prefill", g.timings.prefill_s}, {"decode", g.timings.decode_s}}}});
  }
  json timings = json::object();
  for (const auto& [k, v] : r.timings_s) timings[k] = v;
  return json{{"input", r.input},
              {"kind", r.kind == MediaKind::kImages ? "image" : "video"},
              {"duration_s", r.duration_s},
              {"model", r.model},
              {"frames", frames},
              {"answers", answers},
              {"timings_s", timings}};
}

std::vector<std::pair<double, double>> summary_segments(const std::string& video, const SummarizeOptions& o) {
  if (!(o.segment_s > 0)) throw JobOptionsError(fmt::format("summarize {}: segment length {} s must be > 0", video, o.segment_s));
  decode::VideoReader reader(video, full_reader(o.threads));
  const auto range = clip_range(video_span(reader), o.start_s, o.end_s, video);
  if (const double fps = reader.probe().avg_frame_rate; fps > 0 && o.segment_s * fps < 1.0) {
    throw JobError(fmt::format("summarize {}: segment length {} s is shorter than one frame ({:.4f} s at {:.3f} fps)", video,
                               o.segment_s, 1.0 / fps, fps));
  }
  std::vector<std::pair<double, double>> cuts;  // before splitting long ones
  if (o.segmenter == "fixed") {
    cuts.push_back(range);
  } else if (o.segmenter == "scenes") {
    sampler::SamplerOptions so;
    so.policy = "scenes";
    so.scenes = o.scenes;
    so.threads = o.threads;
    const sampler::Selection sel = sampler::select_frames(reader, so);
    for (const sampler::Segment& s : sel.segments) {
      const double a = std::max(s.start_s, range.first), b = std::min(s.end_s, range.second);
      if (b > a) cuts.emplace_back(a, b);
    }
    if (cuts.empty()) cuts.push_back(range);
    // The sampler's last shot ends at the last frame's end; keep the range's end if it is later.
    cuts.front().first = range.first;
    cuts.back().second = std::max(cuts.back().second, range.second);
    // Short shots join the previous segment (the first joins the next).
    std::vector<std::pair<double, double>> merged;
    for (const auto& c : cuts) {
      if (!merged.empty() && (c.second - c.first < o.min_segment_s || merged.back().second - merged.back().first < o.min_segment_s)) {
        merged.back().second = c.second;
      } else {
        merged.push_back(c);
      }
    }
    cuts = merged;
  } else {
    throw JobOptionsError(fmt::format("summarize {}: unknown segmenter '{}' (expected scenes or fixed)", video, o.segmenter));
  }
  std::vector<std::pair<double, double>> out;
  for (const auto& [a, b] : cuts) {
    const int parts = std::max(1, static_cast<int>(std::ceil((b - a) / o.segment_s - 1e-9)));
    if (o.segmenter == "fixed") {
      for (int k = 0; k < parts; ++k) out.emplace_back(a + k * o.segment_s, std::min(b, a + (k + 1) * o.segment_s));
    } else {
      for (int k = 0; k < parts; ++k) out.emplace_back(a + k * (b - a) / parts, k + 1 == parts ? b : a + (k + 1) * (b - a) / parts);
    }
  }
  return out;
}

Summary summarize(Vlm& vlm, const std::string& video, const SummarizeOptions& o, const JobProgress& progress) {
  if (o.frames_per_segment < 1) throw JobOptionsError(fmt::format("summarize {}: frames_per_segment must be >= 1", video));
  const auto t0 = Clock::now();
  Summary s;
  s.video = video;
  s.model = vlm.model_name();
  s.options = {{"segmenter", o.segmenter},
               {"segment_s", o.segment_s},
               {"min_segment_s", o.min_segment_s},
               {"frames_per_segment", o.frames_per_segment},
               {"caption_prompt", o.caption_prompt},
               {"summary_prompt", o.summary_prompt},
               {"overall_summary", o.overall_summary},
               {"caption_max_new_tokens", o.caption_generation.max_new_tokens},
               {"summary_max_new_tokens", o.summary_generation.max_new_tokens},
               {"temperature", o.caption_generation.temperature},
               {"seed", o.caption_generation.seed}};
  if (o.start_s) s.options["start_s"] = *o.start_s;
  if (o.end_s) s.options["end_s"] = *o.end_s;
  const std::vector<std::pair<double, double>> segments = summary_segments(video, o);
  s.timings_s["segment"] = seconds_since(t0);
  decode::VideoReader reader(video, full_reader(o.threads));
  const auto span = video_span(reader);
  s.duration_s = span.second - span.first;
  const size_t total = segments.size() + (o.overall_summary ? 1 : 0);
  double decode_s = 0, model_s = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    const auto [a, b] = segments[i];
    o.caption_generation.deadline.check("summarize: segments");
    auto td = Clock::now();
    VisualInput visual{MediaKind::kVideo, frames_at(reader, spread(a, b, o.frames_per_segment)), b - a, span.first};
    decode_s += seconds_since(td);
    if (visual.frames.empty()) throw JobError(fmt::format("summarize {}: no frame decoded in segment [{:.3f}, {:.3f}) s", video, a, b));
    SummarySegment seg;
    seg.start_s = a;
    seg.end_s = b;
    for (const decode::Frame& f : visual.frames) seg.frame_times_s.push_back(f.pts_seconds);
    if (o.thumbnail_side > 0) {
      const decode::Frame& mid = visual.frames[visual.frames.size() / 2];
      seg.thumbnail_jpeg = sampler::encode_jpeg(mid, o.thumbnail_side);
      seg.thumbnail_time_s = mid.pts_seconds;
    }
    const auto tm = Clock::now();
    seg.caption = trim(vlm.generate_one(visual, o.caption_prompt, o.caption_generation).text);
    model_s += seconds_since(tm);
    s.segments.push_back(std::move(seg));
    if (progress) progress(i + 1, total, fmt::format("segment {}/{} [{} - {}]", i + 1, segments.size(), mmss(a), mmss(b)));
  }
  if (o.overall_summary && !s.segments.empty()) {
    // Map-reduce: captions -> (chunk summaries while the list is too long) -> one summary.
    struct Line {
      double a, b;
      std::string text;
    };
    std::vector<Line> lines;
    for (const SummarySegment& seg : s.segments) lines.push_back({seg.start_s, seg.end_s, seg.caption});
    auto render = [](const std::vector<Line>& ls, size_t from, size_t to) {
      std::string text;
      for (size_t k = from; k < to; ++k) text += fmt::format("[{} - {}] {}\n", mmss(ls[k].a), mmss(ls[k].b), ls[k].text);
      return text;
    };
    auto reduce = [&](const std::string& captions) {
      o.summary_generation.deadline.check("summarize: summary");
      const std::string prompt = replace_all(o.summary_prompt, "{captions}", captions);
      const auto tm = Clock::now();
      std::string text = trim(vlm.generate_one(VisualInput{MediaKind::kNone, {}, 0.0}, prompt, o.summary_generation).text);
      model_s += seconds_since(tm);
      return text;
    };
    while (lines.size() > 1 && render(lines, 0, lines.size()).size() > o.max_reduce_chars) {
      std::vector<Line> next;
      size_t from = 0;
      while (from < lines.size()) {
        size_t to = from + 1;
        while (to < lines.size() && render(lines, from, to + 1).size() <= o.max_reduce_chars) ++to;
        to = std::max(to, std::min(lines.size(), from + 2));  // always shrink the list
        next.push_back({lines[from].a, lines[to - 1].b, reduce(render(lines, from, to))});
        from = to;
      }
      lines = next;
    }
    s.summary = reduce(render(lines, 0, lines.size()));
    if (progress) progress(total, total, "summary");
  }
  s.timings_s["decode"] = decode_s;
  s.timings_s["model"] = model_s;
  s.timings_s["total"] = seconds_since(t0);
  return s;
}

std::optional<double> wallclock_from_filename(const std::string& path) {
  static const std::regex kStamp(R"((\d{4})-?(\d{2})-?(\d{2})[_T -](\d{2})[-:]?(\d{2})[-:]?(\d{2}))");
  const std::string name = std::filesystem::path(path).filename().string();
  std::smatch m;
  if (!std::regex_search(name, m, kStamp)) return std::nullopt;
  try {
    return parse_wallclock(fmt::format("{}-{}-{}T{}:{}:{}Z", m[1].str(), m[2].str(), m[3].str(), m[4].str(), m[5].str(), m[6].str()));
  } catch (const IndexError&) {
    return std::nullopt;  // digits that are not a date (e.g. month 13)
  }
}

IndexVideoResult index_video(Vlm& vlm, EventIndex& db, const std::string& video, const IndexOptions& o, const JobProgress& progress) {
  if (o.frames_per_event < 1) throw JobOptionsError(fmt::format("index {}: frames_per_event must be >= 1", video));
  IndexVideoResult result;
  IndexedFile file;
  file.path = video;
  file.camera = o.camera.empty() ? std::filesystem::path(video).stem().string() : o.camera;
  file.content_hash = sha256_file(video);
  file.model = vlm.model_name();
  file.options = {{"policy", "motion"},
                  {"start_fraction", o.motion.start_fraction},
                  {"stay_fraction", o.motion.stay_fraction},
                  {"min_event_s", o.motion.min_event_s},
                  {"merge_gap_s", o.motion.merge_gap_s},
                  {"analysis_side", o.analysis_side},
                  {"motion_pixel_threshold", o.analysis.motion_pixel_threshold},
                  {"background_tau_s", o.analysis.background_tau_s},
                  {"frames_per_event", o.frames_per_event},
                  {"prompt", o.prompt},
                  {"max_new_tokens", o.generation.max_new_tokens},
                  {"temperature", o.generation.temperature},
                  {"seed", o.generation.seed},
                  {"thumbnail_side", o.thumbnail_side}};
  file.options_hash = options_hash(file.options, file.model);
  file.start_wallclock = o.start_wallclock ? o.start_wallclock : wallclock_from_filename(video);
  result.content_hash = file.content_hash;
  result.start_wallclock = file.start_wallclock;
  if (db.is_indexed(file.content_hash, file.options_hash)) {
    result.already_indexed = true;
    return result;
  }
  decode::VideoReader reader(video, full_reader(o.threads));
  const auto span = video_span(reader);
  file.duration_s = span.second - span.first;
  // Wall clock at video time 0: the option, else the container's creation_time tag, else a date in
  // the file name (read as UTC).
  if (!o.start_wallclock) {
    const decode::MediaInfo& info = reader.probe();
    std::optional<double> created;
    if (info.creation_time.known()) {
      try {
        created = parse_wallclock(info.creation_time.value);
      } catch (const IndexError&) {
        created = std::nullopt;  // a tag that is not a date (out-of-range fields): no wall clock from it
      }
    }
    if (created) file.start_wallclock = created;
    result.start_wallclock = file.start_wallclock;
  }
  sampler::SamplerOptions so;
  so.policy = "motion";
  so.motion = o.motion;
  so.analysis = o.analysis;
  so.analysis_side = o.analysis_side;
  so.threads = o.threads;
  const sampler::Selection sel = sampler::select_frames(reader, so);
  // Captions first (the slow part), then one short transaction, so other writers are not blocked.
  std::vector<Event> events;
  for (size_t i = 0; i < sel.segments.size(); ++i) {
    const sampler::Segment& seg = sel.segments[i];
    o.generation.deadline.check("index: events");
    VisualInput visual{MediaKind::kVideo, frames_at(reader, spread(seg.start_s, seg.end_s, o.frames_per_event)),
                       seg.end_s - seg.start_s, span.first};
    if (visual.frames.empty()) throw JobError(fmt::format("index {}: no frame decoded in event [{:.3f}, {:.3f}) s", video, seg.start_s, seg.end_s));
    Event e;
    e.start_s = seg.start_s;
    e.end_s = seg.end_s;
    e.caption = trim(vlm.generate_one(visual, o.prompt, o.generation).text);
    if (o.thumbnail_side > 0) {
      const decode::Frame& mid = visual.frames[visual.frames.size() / 2];
      e.thumbnail_jpeg = sampler::encode_jpeg(mid, o.thumbnail_side);
      e.thumbnail_time_s = mid.pts_seconds;
    }
    events.push_back(std::move(e));
    if (progress) progress(i + 1, sel.segments.size(), fmt::format("event [{} - {}]", mmss(seg.start_s), mmss(seg.end_s)));
  }
  result.already_indexed = !db.add_file(file, events);  // another process may have won the race
  result.events = result.already_indexed ? 0 : events.size();
  return result;
}

ItemRunner make_batch_runner(Vlm& vlm, const AskOptions& ask_defaults, const SummarizeOptions& summarize_defaults) {
  const ItemRunner run = [&vlm, ask_defaults, summarize_defaults](const BatchItem& item, const Deadline& deadline) -> nlohmann::json {
    ItemModel model(vlm);
    const nlohmann::json& ov = item.sampling;
    auto number = [&](const char* key) {
      if (!ov[key].is_number()) throw BatchError(fmt::format("item {}: sampling.{} must be a number, got {}", item.id, key, ov[key].dump()));
      return ov[key].get<double>();
    };
    if (item.task == "summarize") {
      SummarizeOptions o = summarize_defaults;
      for (const auto& [key, value] : ov.items()) {
        if (key == "segmenter" && value.is_string()) o.segmenter = value.get<std::string>();
        else if (key == "segment_s") o.segment_s = number("segment_s");
        else if (key == "frames_per_segment") o.frames_per_segment = static_cast<int>(number("frames_per_segment"));
        else throw BatchError(fmt::format("item {}: unknown or invalid summarize override sampling.{} (expected segmenter, segment_s, "
                                          "frames_per_segment)", item.id, key));
      }
      o.start_s = item.start_s;
      o.end_s = item.end_s;
      o.caption_generation.deadline = deadline;
      o.summary_generation.deadline = deadline;
      if (!item.questions.empty()) throw BatchError(fmt::format("item {}: task summarize takes no questions", item.id));
      return {{"summary", summary_to_json(summarize(model, item.video, o))}};
    }
    AskOptions o = ask_defaults;
    for (const auto& [key, value] : ov.items()) {
      if ((key == "policy" || key == "strategy") && value.is_string()) o.sampling.policy = value.get<std::string>();
      else if (key == "max_frames") o.sampling.max_frames = static_cast<int>(number("max_frames"));
      else if (key == "fps") o.sampling.fps = number("fps");
      else throw BatchError(fmt::format("item {}: unknown or invalid sampling override sampling.{} (expected policy, max_frames, fps)",
                                        item.id, key));
    }
    o.start_s = item.start_s;
    o.end_s = item.end_s;
    o.generation.deadline = deadline;
    const AskResult r = ask(model, item.video, item.questions, o);
    const nlohmann::json j = ask_to_json(r);
    return {{"answers", j["answers"]}, {"frames", j["frames"]}, {"model", r.model}, {"timings_s", j["timings_s"]}};
  };
  // Failures get their kind (pipeline/batch.h): options that do not fit the video here, model
  // failures through ItemModel, the rest by their type (run_batch).
  return [run](const BatchItem& item, const Deadline& deadline) {
    try {
      return run(item, deadline);
    } catch (const JobOptionsError& e) {
      throw ItemError(ItemErrorKind::kOptions, e.what());
    }
  };
}

}  // namespace smolvid::pipeline
