// smolvid debug video-prompt: the SmolVLM2 prompt for a video and a question, built the way
// SmolVLMProcessor.apply_chat_template does (transformers 4.50): reference smolvlm2 frame sampling,
// the video item replaced by the intro, "Frame from MM:SS:" + image per frame and the outro, the
// checkpoint's chat template, image-token expansion, tokenization. Frame times and prompt come
// from what the pipeline's model adapter uses (pipeline::video_prompt_info, model::PromptBuilder):
// the decoded frames' presentation times from the video's start (equal to the reference's
// index / fps on constant-rate files).
//
//   smolvid debug video-prompt --model DIR clip.mp4 "What happens in this video?"
//
// Prints JSON in the form of golden/video/video.json "files" entries: rendered_chat_prompt,
// expanded_prompt, input_ids, pixel_values_shape, frame_mean_rgb, plus the sampled frames.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/registry.h"
#include "decode/video_reader.h"
#include "model/config.h"
#include "model/image_processor.h"
#include "model/prompt.h"
#include "model/prompt_builder.h"
#include "pipeline/model_smolvlm.h"
#include "sampler/sampler.h"
#include "util/time_format.h"

namespace {

struct VideoPromptArgs {
  std::string model;
  std::string tokenizer;  // "" = the model directory
  std::string video;
  std::string question;
  bool pixels = true;
};

void run_video_prompt(const VideoPromptArgs& a) {
  using namespace smolvid;
  const model::ModelFiles files = model::ModelFiles::load(a.model, /*require_weights=*/false);
  if (!files.preprocessor) throw std::runtime_error(fmt::format("{}: no preprocessor_config.json", a.model));
  const model::ImageProcessorConfig cfg = model::ImageProcessorConfig::from_preprocessor(*files.preprocessor);
  if (!cfg.has_video_sampling) {
    throw std::runtime_error(fmt::format("{}: preprocessor_config.json has no video_sampling (not a SmolVLM2 checkpoint)", a.model));
  }
  const model::PromptBuilder builder = model::PromptBuilder::from_dir(a.model, a.tokenizer);

  // Reference sampling with the checkpoint's video_sampling and skip_secs = 1.
  decode::VideoReader reader(a.video);
  const decode::MediaInfo& info = reader.probe();
  sampler::SamplerOptions so;
  so.policy = "smolvlm2";
  so.max_frames = cfg.video_max_frames;
  so.fps = cfg.video_fps;
  so.skip_secs = 1.0;
  const sampler::Selection sel = sampler::select_frames(reader, so);
  const std::vector<decode::Frame> frames = sampler::fetch_frames(reader, sel);
  const sampler::VideoMeta meta = sampler::video_meta(info);

  // The frames as the jobs hand them to the model adapter, and the adapter's frame times.
  const pipeline::VisualInput visual{pipeline::MediaKind::kVideo, frames, meta.duration_s, meta.start_time_s};
  const model::VideoPromptInfo vinfo = pipeline::video_prompt_info(visual);
  const model::BuiltPrompt prompt = builder.video(vinfo, a.question);

  nlohmann::json j;
  j["file"] = a.video;
  j["frames_in_video"] = meta.frame_count;
  j["fps"] = meta.fps;
  j["duration_s"] = meta.duration_s;
  j["image_seq_len"] = builder.image_seq_len();
  nlohmann::json sampled = nlohmann::json::array();
  for (size_t i = 0; i < frames.size(); ++i) {
    sampled.push_back({{"index", frames[i].index},
                       {"pts_s", frames[i].pts_seconds},
                       {"timestamp_s", vinfo.timestamps_s[i]},
                       {"label", util::format_mmss(vinfo.timestamps_s[i])}});
  }
  j["frames"] = sampled;
  j["rendered_chat_prompt"] = prompt.rendered;
  j["expanded_prompt"] = prompt.expanded;
  j["input_ids"] = prompt.input_ids;
  if (a.pixels) {
    std::vector<model::Image8> images;
    for (const decode::Frame& f : frames) images.push_back(model::Image8::from_buffer(f.width, f.height, f.channels, f.pixels.data()));
    const model::PixelBatch b = model::ImageProcessor(cfg).preprocess_video({images});
    j["pixel_values_shape"] = b.pixel_values_shape();
    j["frame_mean_rgb"] = b.channel_means();
  }
  fmt::print("{}\n", j.dump(2));
}

const smolvid::cli::Registrar kVideoPrompt(smolvid::cli::Group::kDebug, 41, [](CLI::App& parent) {
  auto a = std::make_shared<VideoPromptArgs>();
  auto* cmd = parent.add_subcommand(
      "video-prompt", "Build the SmolVLM2 prompt for a video: sampled frames, rendered and expanded prompt, input ids (JSON)");
  cmd->add_option("--model", a->model,
                  "SmolVLM2 model directory (preprocessor_config.json with video_sampling, chat template; required)")
      ->required();
  cmd->add_option("--tokenizer", a->tokenizer, "directory of the tokenizer files (default: the model directory)");
  cmd->add_option("video", a->video, "video file or URL (required)")->required();
  cmd->add_option("question", a->question, "the user's text after the video (required)")->required();
  cmd->add_flag("--pixels,!--no-pixels", a->pixels,
                "also run the image processor on the frames: pixel_values_shape, frame_mean_rgb (default: on)");
  cmd->callback([a] { run_video_prompt(*a); });
});

}  // namespace
