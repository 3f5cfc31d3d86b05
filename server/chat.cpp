#include "server/chat.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "decode/video_reader.h"
#include "sampler/sampler.h"
#include "server/api_error.h"

namespace smolvid::server {
namespace {

using nlohmann::json;

const json* field(const json& obj, const char* name) {
  auto it = obj.find(name);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

double number_in(const json& v, const std::string& param, double lo, double hi) {
  if (!v.is_number()) throw bad_request(fmt::format("{} must be a number", param), param);
  const double x = v.get<double>();
  if (!(x >= lo && x <= hi)) throw bad_request(fmt::format("{} must be in [{}, {}], got {}", param, lo, hi, x), param);
  return x;
}

int64_t integer_in(const json& v, const std::string& param, int64_t lo, int64_t hi) {
  if (!v.is_number_integer() && !v.is_number_unsigned()) throw bad_request(fmt::format("{} must be an integer", param), param);
  const int64_t x = v.is_number_unsigned() ? static_cast<int64_t>(std::min<uint64_t>(v.get<uint64_t>(), INT64_MAX)) : v.get<int64_t>();
  if (x < lo || x > hi) throw bad_request(fmt::format("{} must be in [{}, {}], got {}", param, lo, hi, x), param);
  return x;
}

const std::string& string_field(const json& v, const std::string& param) {
  if (!v.is_string()) throw bad_request(fmt::format("{} must be a string", param), param);
  return v.get_ref<const std::string&>();
}

// A time in seconds: a number or a duration text ("90", "1m30s", "01:30").
double seconds_field(const json& v, const std::string& param) {
  if (v.is_number()) return number_in(v, param, 0, 1e9);
  const std::string& text = string_field(v, param);
  try {
    const pipeline::TimeBound b = pipeline::parse_time_bound(text);
    if (!b.wall) return b.seconds;
  } catch (const std::exception&) {
  }
  throw bad_request(fmt::format("{}: '{}' is not a time in seconds or [HH:]MM:SS", param, text), param);
}

// image_url / video_url: {"url": "..."} or the URL itself.
std::string part_url(const json& part, const char* key, const std::string& param) {
  const json* v = field(part, key);
  if (!v) throw bad_request(fmt::format("{}.{} is missing", param, key), param + "." + key);
  if (v->is_string()) return v->get<std::string>();
  if (v->is_object() && field(*v, "url")) return string_field((*v)["url"], param + "." + key + ".url");
  throw bad_request(fmt::format("{}.{} must be an object with a url", param, key), param + "." + key);
}

std::string write_temp(const std::vector<uint8_t>& bytes, const std::string& dir) {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  const std::string path = fmt::format("{}/upload-{}-{:x}.video", dir, counter++, rd());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw ApiError(500, fmt::format("cannot write a temporary file in {}", dir), "server_error");
  return path;
}

void parse_sampling(const json& s, PreparedChat& chat) {
  if (!s.is_object()) throw bad_request("smolvid must be an object", "smolvid");
  for (const auto& [key, v] : s.items()) {
    const std::string param = "smolvid." + key;
    if (key == "strategy") {
      const std::string& name = string_field(v, param);
      const auto names = sampler::policy_names();
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        throw bad_request(fmt::format("{}: unknown strategy '{}'", param, name), param);
      }
      chat.video.sampling.policy = name;
    } else if (key == "max_frames") {
      chat.video.sampling.max_frames = static_cast<int>(integer_in(v, param, 0, 1024));
    } else if (key == "fps") {
      chat.video.sampling.fps = number_in(v, param, 0, 1000);
    } else if (key == "start") {
      chat.video.start_s = seconds_field(v, param);
    } else if (key == "end") {
      chat.video.end_s = seconds_field(v, param);
    } else {
      throw bad_request(fmt::format("{}: unknown option (expected strategy, max_frames, fps, start, end)", param), param);
    }
  }
}

// An image_url or video_url part of a user message.
struct MediaPart {
  bool video = false;
  std::string url;
  std::string param;  // e.g. "messages[0].content[1].video_url"
};

std::string message_text(const json& content, const std::string& param, const std::string& role, std::vector<MediaPart>& media) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) throw bad_request(fmt::format("{} must be a string or an array of content parts", param), param);
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const json& part = content[i];
    const std::string pp = fmt::format("{}[{}]", param, i);
    if (!part.is_object() || !field(part, "type")) throw bad_request(fmt::format("{} must be an object with a type", pp), pp);
    const std::string& type = string_field(part["type"], pp + ".type");
    if (type == "text") {
      if (!text.empty()) text += "\n";
      text += string_field(part.value("text", json()), pp + ".text");
    } else if (type == "image_url" || type == "video_url") {
      if (role != "user") throw bad_request(fmt::format("{}: only user messages may carry images or videos", pp), pp);
      media.push_back({type == "video_url", part_url(part, type.c_str(), pp), pp + "." + type});
    } else {
      throw bad_request(fmt::format("{}.type: unsupported content part '{}' (expected text, image_url or video_url)", pp, type), pp + ".type");
    }
  }
  return text;
}

}  // namespace

PreparedChat prepare_chat(const json& body, const MediaDirs& dirs, const ChatLimits& limits, const std::string& temp_dir) {
  if (!body.is_object()) throw bad_request("the request body must be a JSON object");
  PreparedChat chat;
  chat.generation = limits.defaults;
  if (const json* v = field(body, "model")) chat.model = string_field(*v, "model");
  const json* messages = field(body, "messages");
  if (!messages) throw bad_request("messages is required", "messages");
  if (!messages->is_array() || messages->empty()) throw bad_request("messages must be a non-empty array", "messages");

  std::vector<MediaPart> media;
  std::string system;
  std::vector<std::pair<std::string, std::string>> turns;  // (role, text)
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    const std::string param = fmt::format("messages[{}]", i);
    if (!m.is_object()) throw bad_request(fmt::format("{} must be an object", param), param);
    const json* role_v = field(m, "role");
    if (!role_v) throw bad_request(fmt::format("{}.role is required", param), param + ".role");
    const std::string& role = string_field(*role_v, param + ".role");
    if (role != "system" && role != "developer" && role != "user" && role != "assistant") {
      throw bad_request(fmt::format("{}.role: unsupported role '{}' (expected system, user or assistant)", param, role), param + ".role");
    }
    const json* content = field(m, "content");
    if (!content) {
      if (role == "assistant") continue;
      throw bad_request(fmt::format("{}.content is required", param), param + ".content");
    }
    const std::string text = message_text(*content, param + ".content", role, media);
    if (role == "system" || role == "developer") {
      system += (system.empty() ? "" : "\n") + text;
    } else {
      turns.emplace_back(role, text);
    }
  }
  if (turns.empty() || turns.back().first != "user") throw bad_request("the last message must be a user message", "messages");
  std::string prompt = system.empty() ? "" : system + "\n\n";
  for (size_t i = 0; i + 1 < turns.size(); ++i) prompt += (turns[i].first == "user" ? "User: " : "Assistant: ") + turns[i].second + "\n";
  prompt += turns.back().second;
  if (prompt.find_first_not_of(" \t\r\n") == std::string::npos && media.empty()) {
    throw bad_request("the messages hold no text and no media", "messages");
  }
  chat.prompt = prompt;

  // Generation options.
  if (const json* v = field(body, "max_completion_tokens")) {
    chat.generation.max_new_tokens = static_cast<int>(integer_in(*v, "max_completion_tokens", 1, limits.max_tokens_limit));
  } else if (const json* v2 = field(body, "max_tokens")) {
    chat.generation.max_new_tokens = static_cast<int>(integer_in(*v2, "max_tokens", 1, limits.max_tokens_limit));
  }
  if (const json* v = field(body, "temperature")) chat.generation.temperature = number_in(*v, "temperature", 0, 2);
  if (const json* v = field(body, "top_p")) {
    chat.generation.top_p = number_in(*v, "top_p", 0, 1);
    if (chat.generation.top_p == 0) throw bad_request("top_p must be > 0", "top_p");
  }
  if (const json* v = field(body, "seed")) chat.generation.seed = static_cast<uint64_t>(integer_in(*v, "seed", INT64_MIN, INT64_MAX));
  if (const json* v = field(body, "n")) {
    if (integer_in(*v, "n", 1, 1000) != 1) throw bad_request("n: only n = 1 is supported", "n");
  }
  if (const json* v = field(body, "stop")) {
    if (v->is_string()) {
      chat.stop.push_back(v->get<std::string>());
    } else if (v->is_array() && v->size() <= 4) {
      for (size_t i = 0; i < v->size(); ++i) chat.stop.push_back(string_field((*v)[i], fmt::format("stop[{}]", i)));
    } else {
      throw bad_request("stop must be a string or an array of at most 4 strings", "stop");
    }
    chat.stop.erase(std::remove(chat.stop.begin(), chat.stop.end(), std::string()), chat.stop.end());
  }
  if (const json* v = field(body, "stream")) {
    if (!v->is_boolean()) throw bad_request("stream must be a boolean", "stream");
    chat.stream = v->get<bool>();
  }
  if (const json* v = field(body, "stream_options")) {
    if (!v->is_object()) throw bad_request("stream_options must be an object", "stream_options");
    if (const json* u = field(*v, "include_usage")) {
      if (!u->is_boolean()) throw bad_request("stream_options.include_usage must be a boolean", "stream_options.include_usage");
      chat.include_usage = u->get<bool>();
    }
  }
  if (const json* v = field(body, "smolvid")) parse_sampling(*v, chat);

  // Media: images (any number) or one video.
  const auto videos = std::count_if(media.begin(), media.end(), [](const MediaPart& m) { return m.video; });
  if (videos > 1) throw bad_request("only one video per request is supported", "messages");
  if (videos == 1 && media.size() > 1) throw bad_request("a video cannot be combined with images in one request", "messages");
  for (const MediaPart& m : media) {
    const std::string& url = m.url;
    const std::string& p = m.param;
    if (m.video) {
      chat.kind = pipeline::MediaKind::kVideo;
      if (is_data_url(url)) {
        chat.video_path = write_temp(decode_data_url(url, p), temp_dir);
        chat.temp_files.push_back(chat.video_path);
      } else {
        chat.video_path = dirs.resolve(url, p);
      }
      try {  // an unreadable video is the client's problem: say so before the request queues
        decode::VideoReader reader(chat.video_path);
        reader.probe();
      } catch (const decode::DecodeError& e) {
        throw bad_request(fmt::format("{}: cannot decode the video: {}", p, e.what()), p);
      }
    } else {
      chat.kind = pipeline::MediaKind::kImages;
      if (is_data_url(url)) {
        chat.images.push_back(decode_image_bytes(decode_data_url(url, p), p));
      } else {
        const std::string path = dirs.resolve(url, p);
        std::ifstream in(path, std::ios::binary);
        std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        chat.images.push_back(decode_image_bytes(bytes, p));
      }
    }
  }
  return chat;
}

std::string StopFilter::push(const std::string& piece) {
  if (stopped_) return "";
  held_ += piece;
  size_t first = std::string::npos;
  for (const std::string& s : stops_) first = std::min(first, held_.find(s));
  if (first != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  // Keep the longest tail that is a prefix of some stop sequence.
  size_t keep = 0;
  for (const std::string& s : stops_) {
    for (size_t n = std::min(s.size() - 1, held_.size()); n > keep; --n) {
      if (held_.compare(held_.size() - n, n, s, 0, n) == 0) {
        keep = n;
        break;
      }
    }
  }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopFilter::finish() {
  std::string out;
  if (!stopped_) out.swap(held_);
  return out;
}

ChatResult run_chat(pipeline::Vlm& vlm, const PreparedChat& chat, const std::function<void(const std::string&)>& on_piece,
                    const std::function<bool()>& should_stop) {
  StopFilter filter(chat.stop);
  ChatResult r;
  bool cancelled = false;
  auto emit = [&](const std::string& text) {
    if (text.empty()) return;
    r.text += text;
    if (on_piece) on_piece(text);
  };
  pipeline::GenerationOptions gen = chat.generation;
  gen.should_stop = [&] {
    if (should_stop && should_stop()) cancelled = true;
    return cancelled || filter.stopped();
  };
  auto piece = [&](const std::string& p) { emit(filter.push(p)); };
  pipeline::Generation g;
  if (chat.kind == pipeline::MediaKind::kVideo) {
    pipeline::AskOptions ask = chat.video;
    ask.generation = gen;
    pipeline::AskResult a = pipeline::ask(vlm, chat.video_path, {chat.prompt}, ask, [&](size_t, const std::string& p) { piece(p); });
    g = a.answers.front();
  } else {
    pipeline::VisualInput input{chat.kind, chat.images, 0.0};
    g = vlm.generate_one(input, chat.prompt, gen, piece);
  }
  emit(filter.finish());
  r.prompt_tokens = g.prompt_tokens;
  r.completion_tokens = g.generated_tokens;
  r.decode_s = g.timings.decode_s;
  if (cancelled) {
    r.finish_reason = "cancelled";
  } else if (filter.stopped() || g.stop_reason == "eos") {
    r.finish_reason = "stop";
  } else {
    r.finish_reason = "length";
  }
  return r;
}

json completion_json(const std::string& id, long created, const std::string& model, const ChatResult& r) {
  return {{"id", id},
          {"object", "chat.completion"},
          {"created", created},
          {"model", model},
          {"choices", json::array({{{"index", 0},
                                    {"message", {{"role", "assistant"}, {"content", r.text}}},
                                    {"logprobs", nullptr},
                                    {"finish_reason", r.finish_reason}}})},
          {"usage", {{"prompt_tokens", r.prompt_tokens}, {"completion_tokens", r.completion_tokens}, {"total_tokens", r.prompt_tokens + r.completion_tokens}}}};
}

json chunk_json(const std::string& id, long created, const std::string& model, const json& delta, const json& finish_reason) {
  return {{"id", id},
          {"object", "chat.completion.chunk"},
          {"created", created},
          {"model", model},
          {"choices", json::array({{{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", finish_reason}}})}};
}

}  // namespace smolvid::server
