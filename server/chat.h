// server/chat.h: OpenAI chat completions on smolvid's model. A request body is parsed and checked
// (every problem is an ApiError 400 naming the field), its media prepared (images decoded, videos
// probed) before it queues for the model, then run through pipeline/ as `smolvid ask` runs it.
//
// Accepted (as the OpenAI API, vLLM and llama-server take it):
//   model, messages [{role: system|user|assistant, content: "text" | [parts]}], parts
//   {type: text, text}, {type: image_url, image_url: {url} | url}, {type: video_url,
//   video_url: {url} | url}; max_tokens | max_completion_tokens, temperature, top_p, seed,
//   stop (string or up to 4 strings), n (1 only), stream, stream_options.include_usage, and
//   smolvid {strategy, max_frames, fps, start, end} for the video sampling.
// The model sees one user turn: the system text, earlier turns as "User:"/"Assistant:" lines and
// the last user message's text, with every image (or the one video) of the user messages.
//
// Usage:
//   PreparedChat chat = prepare_chat(body, media_dirs, limits);      // HTTP thread
//   ChatResult r = run_chat(vlm, chat, on_piece, should_stop);       // model thread
#pragma once

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/jobs.h"
#include "server/media.h"

namespace smolvid::server {

struct ChatLimits {
  pipeline::GenerationOptions defaults;  // what a request does not set (max_tokens, temperature, ...)
  int max_tokens_limit = 4096;           // larger max_tokens are refused (400)
};

struct PreparedChat {
  std::string model;                       // as requested (may be empty)
  std::string prompt;                      // the text the model is asked
  pipeline::MediaKind kind = pipeline::MediaKind::kNone;
  std::vector<decode::Frame> images;       // kImages
  std::string video_path;                  // kVideo: a file inside the media folders (or a temp file)
  pipeline::AskOptions video;              // kVideo: sampling, range
  pipeline::GenerationOptions generation;
  std::vector<std::string> stop;           // stop sequences (not part of the returned text)
  bool stream = false;
  bool include_usage = false;              // stream_options.include_usage
  std::vector<std::string> temp_files;     // data: videos written for the decoder; the caller removes them
};

// Parses and checks the body, decodes images, probes the video. Throws ApiError.
PreparedChat prepare_chat(const nlohmann::json& body, const MediaDirs& dirs, const ChatLimits& limits, const std::string& temp_dir);

struct ChatResult {
  std::string text;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  std::string finish_reason;               // "stop" | "length" | "cancelled"
  double decode_s = 0;                     // seconds generating the tokens after the first
};

// Holds back text that could be the start of a stop sequence, so streamed text never contains one.
class StopFilter {
 public:
  explicit StopFilter(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // Text that is safe to emit now; after a stop sequence is seen, nothing more.
  std::string push(const std::string& piece);
  std::string finish();                    // what is held back, at the end (no stop seen)
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

// Runs the prepared request. on_piece gets the text as it is generated (stop sequences removed);
// generation ends early when should_stop() turns true (client gone) or a stop sequence appears.
ChatResult run_chat(pipeline::Vlm& vlm, const PreparedChat& chat, const std::function<void(const std::string&)>& on_piece,
                    const std::function<bool()>& should_stop);

// The whole-request JSON answer, and one streaming chunk, in OpenAI's format.
nlohmann::json completion_json(const std::string& id, long created, const std::string& model, const ChatResult& r);
nlohmann::json chunk_json(const std::string& id, long created, const std::string& model, const nlohmann::json& delta,
                          const nlohmann::json& finish_reason);

}  // namespace smolvid::server
