// model/prompt_builder.h: the one place a SmolVLM prompt is built, as
// SmolVLMProcessor.apply_chat_template + the processor call do for one user turn: the user message,
// a video item replaced by the SmolVLM2 video text (prompt.h), the checkpoint's chat template, the
// <image> placeholders expanded, the text tokenized. The pipeline's model adapter
// (pipeline/model_smolvlm.cpp) and `smolvid debug video-prompt` both build their prompts here, so
// the exactness check against the transformers fixtures runs the production path.
//
//   auto builder = smolvid::model::PromptBuilder::from_dir("SmolVLM2-256M-Video-Instruct");
//   smolvid::model::VideoPromptInfo video = smolvid::model::video_prompt_info(
//       /*duration_s=*/20.0, /*frame_pts_s=*/{1.6, 2.6, 3.6}, /*start_time_s=*/1.6);  // 0, 1, 2 s
//   smolvid::model::BuiltPrompt p = builder.video(video, "What happens?");
//   // p.rendered: "<|im_start|>User: You are provided the following series of three frames ...";
//   // p.expanded: the same with each <image> expanded; p.input_ids: what the model reads.
//   smolvid::model::BuiltPrompt q = builder.images({{2, 2}}, "What is this?");  // one 2x2-tile image
//   smolvid::model::BuiltPrompt r = builder.text("Summarize: ...");
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

#include "model/chat_template.h"
#include "model/prompt.h"
#include "model/tokenizer.h"

namespace smolvid::model {

// The video prompt's frame times as the reference computes them: frame index / fps, i.e. seconds
// since the video's first frame. For decoded frames that is each presentation time minus the
// stream's start time (MPEG-TS streams typically start at 1.4-1.6 s, MPEG-PS at 0.5 s); a frame a
// hair before the start (rounding) counts as 0. duration_s is the video's duration (the intro
// states int(duration)).
VideoPromptInfo video_prompt_info(double duration_s, const std::vector<double>& frame_pts_s, double start_time_s);

// One prompt, at each stage of the processor.
struct BuiltPrompt {
  nlohmann::json messages;          // the conversation the template rendered (video items expanded)
  std::string rendered;             // the chat template's output ("rendered_chat_prompt")
  std::string expanded;             // with every <image> expanded to its tokens ("expanded_prompt")
  std::vector<TokenId> input_ids;   // the expanded text tokenized
};

class PromptBuilder {
 public:
  // image_seq_len: <image> tokens per image or tile (config.json's vision grid / scale_factor^2).
  PromptBuilder(ChatTemplate chat_template, Tokenizer tokenizer, int image_seq_len);

  // A checkpoint directory: its chat template, its config.json (image_seq_len; weights not
  // needed) and the tokenizer of tokenizer_dir ("" = model_dir). Errors of model/ pass through.
  static PromptBuilder from_dir(const std::string& model_dir, const std::string& tokenizer_dir = "");

  // content [{"type": "video"}, {"type": "text", "text": text}]: the video becomes the intro,
  // "\nFrame from MM:SS:" + one unsplit image per frame, and "\n\n". Throws PromptError without frames.
  BuiltPrompt video(const VideoPromptInfo& video, const std::string& text) const;
  // content [{"type": "image"} per image, {"type": "text", ...}]; rows_cols per image ({0, 0} =
  // not split), as ImageProcessor::preprocess reports them.
  BuiltPrompt images(const std::vector<std::pair<int, int>>& rows_cols, const std::string& text) const;
  // content [{"type": "text", "text": text}].
  BuiltPrompt text(const std::string& text) const;

  int image_seq_len() const { return image_seq_len_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }

 private:
  BuiltPrompt build(nlohmann::json content, const std::vector<VideoPromptInfo>& videos,
                    const std::vector<std::pair<int, int>>& rows_cols, const std::string& text) const;

  ChatTemplate template_;
  Tokenizer tokenizer_;
  int image_seq_len_;
};

}  // namespace smolvid::model
