// pipeline/model_smolvlm.h: the real model behind pipeline/vlm.h: a SmolVLM / SmolVLM2 checkpoint
// directory (model/: tokenizer, chat template, image processor, libtorch network) as a Vlm.
// This header is torch-free; only pipeline/model_smolvlm.cpp includes libtorch.
//
// Usage:
//   auto dir = smolvid::pipeline::resolve_model("HuggingFaceTB/SmolVLM2-256M-Video-Instruct",
//                                               smolvid::pipeline::HubOptions::from_env());
//   smolvid::pipeline::SmolVlmOptions opts;  opts.threads = 4;  opts.dtype = "bfloat16";
//   std::unique_ptr<smolvid::pipeline::Vlm> vlm = smolvid::pipeline::load_smolvlm(dir.directory, opts);
//
// Prompts, as SmolVLMProcessor.apply_chat_template builds them for one user turn:
//   kVideo   content [{"type": "video"}, {"type": "text", "text": prompt}]: the video item becomes
//            the SmolVLM2 intro ("... series of N frames from a H:MM:SS [H:MM:SS] video.") and a
//            "Frame from MM:SS:" line before each frame, with the frames' own presentation times
//            from the video's start (VisualInput::start_time_s);
//            each frame is one unsplit image of video_sampling.video_size
//   kImages  content [{"type": "image"} per frame, {"type": "text", ...}]; images are split into
//            tiles as the processor config says (image_splitting overrides)
//   kNone    content [{"type": "text", ...}]
// The frames are encoded once per generate() call and reused for every prompt.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "model/prompt.h"
#include "pipeline/vlm.h"

namespace smolvid::pipeline {

struct SmolVlmOptions {
  std::string dtype = "float32";           // "float32" | "bfloat16" | "int8" (model::ModelOptions::dtype)
  std::string device = "cpu";              // "cpu" | "cuda" | "cuda:N"
  int threads = 0;                         // intra-op threads; 0 = all cores this process may use
  std::optional<bool> image_splitting;     // kImages: override do_image_splitting
  std::string name;                        // model_name(); default: the directory
};

// Loads config, generation config, tokenizer, chat template, processor config and weights from
// `model_dir`. Errors from model/ (ConfigError, WeightError, TokenizerError, ...) pass through.
std::unique_ptr<Vlm> load_smolvlm(const std::string& model_dir, const SmolVlmOptions& options = {});

// What the kVideo prompt states about `input` (model/prompt_builder.h builds the text from it):
// the duration (input.duration_s, else the frames' span) and one time per frame, counted from
// input.start_time_s as the reference counts frame index / fps. Throws VlmError without frames. `smolvid debug video-prompt` uses it too, so it checks what generate() sends.
model::VideoPromptInfo video_prompt_info(const VisualInput& input);

}  // namespace smolvid::pipeline
