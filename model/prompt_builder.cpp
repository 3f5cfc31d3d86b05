// The SmolVLM prompt of one user turn (see prompt_builder.h).
#include "model/prompt_builder.h"

#include <algorithm>

#include "model/config.h"

namespace smolvid::model {

VideoPromptInfo video_prompt_info(double duration_s, const std::vector<double>& frame_pts_s, double start_time_s) {
  VideoPromptInfo info;
  info.duration_s = duration_s;
  for (double pts : frame_pts_s) info.timestamps_s.push_back(std::max(0.0, pts - start_time_s));
  return info;
}

PromptBuilder::PromptBuilder(ChatTemplate chat_template, Tokenizer tokenizer, int image_seq_len)
    : template_(std::move(chat_template)), tokenizer_(std::move(tokenizer)), image_seq_len_(image_seq_len) {
  if (image_seq_len_ < 1) throw PromptError("prompt builder: image_seq_len must be >= 1, got " + std::to_string(image_seq_len_));
}

PromptBuilder PromptBuilder::from_dir(const std::string& model_dir, const std::string& tokenizer_dir) {
  const ModelFiles files = ModelFiles::load(model_dir, /*require_weights=*/false);
  return PromptBuilder(ChatTemplate::from_dir(model_dir), Tokenizer::from_dir(tokenizer_dir.empty() ? model_dir : tokenizer_dir),
                       static_cast<int>(files.config.image_seq_len()));
}

BuiltPrompt PromptBuilder::video(const VideoPromptInfo& video, const std::string& text) const {
  // Video frames are never split: one (0, 0) image per frame.
  return build(nlohmann::json::array({{{"type", "video"}}}), {video}, std::vector<std::pair<int, int>>(video.timestamps_s.size(), {0, 0}),
               text);
}

BuiltPrompt PromptBuilder::images(const std::vector<std::pair<int, int>>& rows_cols, const std::string& text) const {
  nlohmann::json content = nlohmann::json::array();
  for (size_t i = 0; i < rows_cols.size(); ++i) content.push_back({{"type", "image"}});
  return build(std::move(content), {}, rows_cols, text);
}

BuiltPrompt PromptBuilder::text(const std::string& text) const { return build(nlohmann::json::array(), {}, {}, text); }

BuiltPrompt PromptBuilder::build(nlohmann::json content, const std::vector<VideoPromptInfo>& videos,
                                 const std::vector<std::pair<int, int>>& rows_cols, const std::string& text) const {
  content.push_back({{"type", "text"}, {"text", text}});
  BuiltPrompt p;
  p.messages = nlohmann::json::array({{{"role", "user"}, {"content", std::move(content)}}});
  if (!videos.empty()) p.messages = expand_video_items(p.messages, videos);
  p.rendered = template_.render(p.messages, /*add_generation_prompt=*/true);
  p.expanded = rows_cols.empty() ? p.rendered : expand_image_tokens(p.rendered, rows_cols, image_seq_len_);
  p.input_ids = tokenizer_.encode(p.expanded);
  return p;
}

}  // namespace smolvid::model
