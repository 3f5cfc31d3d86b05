// model/prompt.h: the text side of the SmolVLM processors (spec section 5): image-token
// expansion and the SmolVLM2 video prompt, byte-exact with transformers 4.50.
//
//   // image: after ImageProcessor::preprocess gave rows/cols per image
//   std::string text = smolvid::model::expand_image_tokens(
//       "<|im_start|>User:<image>Describe this image.<end_of_utterance>\nAssistant:",
//       {{3, 4}}, /*image_seq_len=*/64);
//
//   // video: the chat content item {"type": "video"} is replaced by these pieces (text and
//   // <image> placeholders), then the chat template is rendered and the images expanded:
//   smolvid::model::VideoPromptInfo v{/*duration_s=*/10.0, {0.0, 1.1, 2.2}};
//   std::vector<smolvid::model::PromptPiece> items = smolvid::model::video_content_pieces(v);
//   std::string block = smolvid::model::video_prompt_text(v);  // the pieces joined
//
// Timestamps are the decoded frames' presentation times in seconds. For constant-frame-rate files
// they equal the reference's index / fps; for variable-frame-rate files they stay true to the
// video (the reference would print index / average fps).
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace smolvid::model {

class PromptError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The special strings of the SmolVLM processors (the same for Idefics3 / SmolVLM v1, where the
// v1 2.2B tokenizer merely splits the tile tags into several tokens).
struct ImageTokenStrings {
  std::string image = "<image>";
  std::string fake_around = "<fake_token_around_image>";
  std::string global = "<global-img>";
};

// get_image_prompt_string: rows = cols = 0 gives the single block F G I*S F; otherwise per tile
// F <row_r_col_c> I*S, "\n" after each row, then "\n" F G I*S F.
std::string image_prompt_string(int rows, int cols, int image_seq_len, const ImageTokenStrings& tok = {});

// Replaces the k-th `<image>` of `text` by the expansion of rows_cols[k]. Throws PromptError if
// the number of `<image>` occurrences differs from rows_cols.size().
std::string expand_image_tokens(const std::string& text, const std::vector<std::pair<int, int>>& rows_cols,
                                int image_seq_len, const ImageTokenStrings& tok = {});

// num2words(n) in English, as the reference prints frame counts ("one", "twenty-one",
// "sixty-four", "one hundred and one", "one thousand, two hundred and thirty-four").
// 0 <= n < 1,000,000; throws PromptError otherwise.
std::string number_to_words(int n);

struct VideoPromptInfo {
  double duration_s = 0.0;           // the video's duration (the intro prints int(duration))
  std::vector<double> timestamps_s;  // one per sampled frame, seconds
};

// One content item of a chat message: text, or an image placeholder (rendered as "<image>").
struct PromptPiece {
  enum class Kind { kText, kImage };
  Kind kind = Kind::kText;
  std::string text;  // empty for kImage
};

// The items replacing one video: intro text, then per frame "\nFrame from MM:SS:" and an image,
// then the "\n\n" outro. Throws PromptError when there are no frames.
std::vector<PromptPiece> video_content_pieces(const VideoPromptInfo& video);
// The same joined into one string, images as "<image>" (what the chat template renders).
std::string video_prompt_text(const VideoPromptInfo& video, const ImageTokenStrings& tok = {});
// Replaces the k-th {"type": "video"} content item of a chat conversation (Hugging Face message
// list: [{"role": ..., "content": [items]}]) by the items of videos[k] ({"type": "text", "text": ...}
// and {"type": "image"}), as SmolVLMProcessor does before rendering the chat template. Throws
// PromptError when the number of video items differs from videos.size().
nlohmann::json expand_video_items(const nlohmann::json& messages, const std::vector<VideoPromptInfo>& videos);

// The intro sentence alone: "You are provided the following series of {N} frames from a
// {H:MM:SS} [H:MM:SS] video.\n".
std::string video_intro_text(int num_frames, double duration_s);

}  // namespace smolvid::model
