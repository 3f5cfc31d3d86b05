// Prompt expansion for images and the SmolVLM2 video prompt (spec section 5); see prompt.h.
#include "model/prompt.h"

#include <cmath>
#include <cstdio>

#include "util/time_format.h"

namespace smolvid::model {
namespace {

const char* const kVideoIntroPrefix = "You are provided the following series of ";
const char* const kFrameTimestampPrefix = "\nFrame from ";
const char* const kMediaOutro = "\n\n";

std::string repeat(const std::string& s, int n) {
  std::string out;
  out.reserve(s.size() * static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

std::string below_hundred(int n) {
  static const char* const kLow[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                                     "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
                                     "seventeen", "eighteen", "nineteen"};
  static const char* const kTens[] = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"};
  if (n < 20) return kLow[n];
  std::string out = kTens[n / 10];
  if (n % 10 != 0) out += std::string("-") + kLow[n % 10];
  return out;
}

// 0 < n < 1000
std::string below_thousand(int n) {
  if (n < 100) return below_hundred(n);
  std::string out = below_hundred(n / 100) + " hundred";
  if (n % 100 != 0) out += " and " + below_hundred(n % 100);
  return out;
}

}  // namespace

std::string image_prompt_string(int rows, int cols, int image_seq_len, const ImageTokenStrings& tok) {
  if (rows < 0 || cols < 0 || (rows == 0) != (cols == 0)) {
    throw PromptError("image prompt: bad tile grid rows=" + std::to_string(rows) + " cols=" + std::to_string(cols));
  }
  if (image_seq_len < 1) throw PromptError("image prompt: image_seq_len must be >= 1, got " + std::to_string(image_seq_len));
  const std::string images = repeat(tok.image, image_seq_len);
  const std::string global_block = tok.fake_around + tok.global + images + tok.fake_around;
  if (rows == 0) return global_block;
  std::string out;
  for (int r = 1; r <= rows; ++r) {
    for (int c = 1; c <= cols; ++c) {
      out += tok.fake_around + "<row_" + std::to_string(r) + "_col_" + std::to_string(c) + ">" + images;
    }
    out += "\n";
  }
  out += "\n" + global_block;
  return out;
}

std::string expand_image_tokens(const std::string& text, const std::vector<std::pair<int, int>>& rows_cols,
                                int image_seq_len, const ImageTokenStrings& tok) {
  std::vector<size_t> positions;
  for (size_t p = text.find(tok.image); p != std::string::npos; p = text.find(tok.image, p + tok.image.size())) {
    positions.push_back(p);
  }
  if (positions.size() != rows_cols.size()) {
    throw PromptError("image prompt: the text has " + std::to_string(positions.size()) + " " + tok.image +
                      " placeholder(s) but " + std::to_string(rows_cols.size()) + " image(s) were given");
  }
  std::string out;
  size_t prev = 0;
  for (size_t k = 0; k < positions.size(); ++k) {
    out.append(text, prev, positions[k] - prev);
    out += image_prompt_string(rows_cols[k].first, rows_cols[k].second, image_seq_len, tok);
    prev = positions[k] + tok.image.size();
  }
  out.append(text, prev, std::string::npos);
  return out;
}

std::string number_to_words(int n) {
  if (n < 0 || n >= 1000000) {
    throw PromptError("number_to_words: supported range is 0..999999, got " + std::to_string(n));
  }
  if (n < 1000) return n == 0 ? "zero" : below_thousand(n);
  std::string out = below_thousand(n / 1000) + " thousand";
  const int rest = n % 1000;
  if (rest == 0) return out;
  return out + (rest < 100 ? " and " : ", ") + below_thousand(rest);
}

std::string video_intro_text(int num_frames, double duration_s) {
  return std::string(kVideoIntroPrefix) + number_to_words(num_frames) + " frames from a " +
         util::format_hmmss(duration_s) + " [H:MM:SS] video.\n";
}

std::vector<PromptPiece> video_content_pieces(const VideoPromptInfo& video) {
  if (video.timestamps_s.empty()) throw PromptError("video prompt: no frames were sampled");
  std::vector<PromptPiece> pieces;
  pieces.push_back({PromptPiece::Kind::kText, video_intro_text(static_cast<int>(video.timestamps_s.size()), video.duration_s)});
  for (double t : video.timestamps_s) {
    pieces.push_back({PromptPiece::Kind::kText, kFrameTimestampPrefix + util::format_mmss(t) + ":"});
    pieces.push_back({PromptPiece::Kind::kImage, ""});
  }
  pieces.push_back({PromptPiece::Kind::kText, kMediaOutro});
  return pieces;
}

std::string video_prompt_text(const VideoPromptInfo& video, const ImageTokenStrings& tok) {
  std::string out;
  for (const PromptPiece& p : video_content_pieces(video)) out += p.kind == PromptPiece::Kind::kImage ? tok.image : p.text;
  return out;
}

nlohmann::json expand_video_items(const nlohmann::json& messages, const std::vector<VideoPromptInfo>& videos) {
  if (!messages.is_array()) throw PromptError("chat messages: expected a JSON array of messages");
  nlohmann::json out = nlohmann::json::array();
  size_t used = 0;
  for (const nlohmann::json& msg : messages) {
    nlohmann::json m = msg;
    if (msg.is_object() && msg.contains("content") && msg.at("content").is_array()) {
      nlohmann::json items = nlohmann::json::array();
      for (const nlohmann::json& item : msg.at("content")) {
        if (!(item.is_object() && item.value("type", "") == "video")) {
          items.push_back(item);
          continue;
        }
        if (used == videos.size()) {
          throw PromptError("chat messages: more video items than the " + std::to_string(videos.size()) +
                            " video(s) given");
        }
        for (const PromptPiece& p : video_content_pieces(videos[used])) {
          items.push_back(p.kind == PromptPiece::Kind::kImage ? nlohmann::json{{"type", "image"}}
                                                               : nlohmann::json{{"type", "text"}, {"text", p.text}});
        }
        ++used;
      }
      m["content"] = std::move(items);
    }
    out.push_back(std::move(m));
  }
  if (used != videos.size()) {
    throw PromptError("chat messages: " + std::to_string(used) + " video item(s) but " + std::to_string(videos.size()) +
                      " video(s) given");
  }
  return out;
}

}  // namespace smolvid::model
