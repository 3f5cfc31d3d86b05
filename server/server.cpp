#include "server/server.h"

#include <fmt/core.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "decode/video_reader.h"
#include "pipeline/jobs.h"
#include "pipeline/media_util.h"
#include "sampler/policy.h"
#include "server/api_error.h"
#include "server/events.h"
#include "server/metrics.h"
#include "server/model_queue.h"
#include "server/web_assets.h"

namespace fs = std::filesystem;

namespace smolvid::server {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Model text can hold invalid UTF-8 (a token cut inside a character): replaced, never fatal.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string random_id(const char* prefix) {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}());
  std::lock_guard<std::mutex> lock(mu);
  return fmt::format("{}{:016x}", prefix, rng());
}

// Compares in time that depends only on the expected key's length, not on where they differ.
bool same_key(const std::string& given, const std::string& expected) {
  unsigned diff = given.size() != expected.size() ? 1u : 0u;
  for (size_t i = 0; i < expected.size(); ++i) {
    diff |= static_cast<unsigned char>(i < given.size() ? given[i] : 0) ^ static_cast<unsigned char>(expected[i]);
  }
  return diff == 0;
}

std::string cookie_value(const std::string& cookies, const std::string& name) {
  size_t pos = 0;
  while (pos < cookies.size()) {
    const size_t end = std::min(cookies.find(';', pos), cookies.size());
    std::string item = cookies.substr(pos, end - pos);
    item.erase(0, item.find_first_not_of(' '));
    if (item.rfind(name + "=", 0) == 0) return item.substr(name.size() + 1);
    pos = end + 1;
  }
  return "";
}

// Exceptions from pipeline/, decode/ and sampler/ about the request's input are the client's
// problem (400, naming the input); anything else is the server's (500).
ApiError to_api_error(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const ApiError& e) {
    return e;
  } catch (const decode::DecodeError& e) {
    return bad_request(fmt::format("cannot decode the input: {}", e.what()));
  } catch (const pipeline::JobError& e) {
    return bad_request(e.what());
  } catch (const pipeline::VlmError& e) {
    return bad_request(e.what());
  } catch (const sampler::SamplerError& e) {
    return bad_request(e.what());
  } catch (const std::exception& e) {
    return ApiError(500, e.what(), "server_error");
  } catch (...) {
    return ApiError(500, "unknown error", "server_error");
  }
}

// Text handed from the model thread to the connection thread that writes it out.
struct Channel {
  std::mutex mu;
  std::condition_variable cv;
  std::string pending;
  bool closed = false;
  std::atomic<bool> cancelled{false};  // the client went away: stop generating

  void push(const std::string& text) {
    {
      std::lock_guard<std::mutex> lock(mu);
      pending += text;
    }
    cv.notify_one();
  }
  void close() {
    {
      std::lock_guard<std::mutex> lock(mu);
      closed = true;
    }
    cv.notify_one();
  }
};

std::string sse(const json& data) { return "data: " + dump(data) + "\n\n"; }
std::string sse_event(const std::string& event, const json& data) { return "event: " + event + "\n" + sse(data); }

}  // namespace

namespace {
int g_signal_pipe[2] = {-1, -1};

extern "C" void on_shutdown_signal(int sig) {
  const unsigned char byte = static_cast<unsigned char>(sig);
  const ssize_t n = write(g_signal_pipe[1], &byte, 1);  // async-signal-safe; the pipe never fills
  (void)n;
}
}  // namespace

void install_shutdown_handler() {
  if (g_signal_pipe[0] < 0 && pipe(g_signal_pipe) != 0) throw std::runtime_error("serve: cannot create the signal pipe");
  struct sigaction sa {};
  sa.sa_handler = on_shutdown_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that went away is a failed write, not a dead server
}

struct Server::Impl {
  ServerOptions options;
  MediaDirs dirs;
  ModelQueue queue;
  std::string model_id;
  long model_created = 0;
  Metrics metrics;
  std::unique_ptr<EventStore> events;
  std::string temp_dir;
  httplib::Server http;

  std::mutex state_mu;
  std::condition_variable state_cv;
  long in_flight = 0;
  bool draining = false;

  Impl(ServerOptions o, std::unique_ptr<pipeline::Vlm> vlm, double load_s)
      : options(std::move(o)), dirs(options.media_dirs), queue(std::move(vlm), options.queue) {
    model_id = queue.vlm().model_name();
    model_created = static_cast<long>(std::time(nullptr));
    metrics.set_model_load_seconds(load_s);
    if (!options.db.empty()) events = std::make_unique<EventStore>(options.db);
    temp_dir = options.temp_dir.empty() ? (fs::temp_directory_path() / fmt::format("smolvid-serve-{}", getpid())).string() : options.temp_dir;
    fs::create_directories(temp_dir);
    routes();
  }

  ~Impl() {
    std::error_code ec;
    if (options.temp_dir.empty()) fs::remove_all(temp_dir, ec);
  }

  // ---- bookkeeping -----------------------------------------------------------------------------
  void begin_request() {
    std::lock_guard<std::mutex> lock(state_mu);
    if (draining) throw ApiError(503, "the server is shutting down", "server_error");
    ++in_flight;
  }
  void end_request() {
    {
      std::lock_guard<std::mutex> lock(state_mu);
      --in_flight;
    }
    state_cv.notify_all();
  }

  void check_auth(const httplib::Request& req) {
    if (options.api_key.empty()) return;
    std::string given;
    const std::string header = req.get_header_value("Authorization");
    if (header.rfind("Bearer ", 0) == 0) {
      given = header.substr(7);
    } else {
      given = cookie_value(req.get_header_value("Cookie"), "smolvid_key");
    }
    if (given.empty()) throw ApiError(401, "missing API key: send 'Authorization: Bearer KEY'", "invalid_request_error", std::nullopt, "invalid_api_key");
    if (!same_key(given, options.api_key)) throw ApiError(401, "incorrect API key", "invalid_request_error", std::nullopt, "invalid_api_key");
  }

  void send_error(httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    if (e.status == 429) res.set_header("Retry-After", "1");
    if (e.status == 401) res.set_header("WWW-Authenticate", "Bearer");
    res.set_content(dump(e.to_json()) + "\n", "application/json");
  }

  // Wraps a handler: authentication, in-flight count (streams keep theirs until they finish),
  // errors as OpenAI error objects, metrics.
  using Handler = std::function<void(const httplib::Request&, httplib::Response&, bool& streaming)>;
  httplib::Server::Handler wrap(const std::string& route, bool authenticated, Handler handler) {
    return [this, route, authenticated, handler](const httplib::Request& req, httplib::Response& res) {
      bool counted = false, streaming = false;
      try {
        if (authenticated) check_auth(req);
        begin_request();
        counted = true;
        handler(req, res, streaming);
      } catch (...) {
        send_error(res, to_api_error(std::current_exception()));
        streaming = false;
      }
      if (counted && !streaming) end_request();
      metrics.request(route, res.status == -1 ? 200 : res.status);
    };
  }

  json parse_body(const httplib::Request& req) {
    if (req.body.empty()) throw bad_request("the request body is empty; expected JSON");
    try {
      return json::parse(req.body);
    } catch (const json::parse_error& e) {
      throw bad_request(fmt::format("the request body is not valid JSON: {}", e.what()));
    }
  }

  void check_model(const std::string& requested) {
    if (requested.empty() || requested == model_id || requested == fs::path(model_id).filename().string()) return;
    throw ApiError(404, fmt::format("The model '{}' does not exist; this server serves '{}'", requested, model_id), "invalid_request_error",
                   std::string("model"), std::string("model_not_found"));
  }

  // Streams what `channel` receives as the response body (Server-Sent Events). The releaser runs
  // when the connection is done with it: a failed write or a closed socket cancels the job.
  void stream_channel(httplib::Response& res, const std::shared_ptr<Channel>& channel) {
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [channel](size_t, httplib::DataSink& sink) {
          std::string out;
          bool closed = false;
          {
            std::unique_lock<std::mutex> lock(channel->mu);
            channel->cv.wait_for(lock, std::chrono::seconds(1), [&] { return !channel->pending.empty() || channel->closed; });
            out.swap(channel->pending);
            closed = channel->closed;
          }
          // Nothing new for a second: an SSE comment, which also finds a client that went away.
          if (out.empty() && !closed) out = ": waiting\n\n";
          if (!out.empty() && (!sink.is_writable() || !sink.write(out.data(), out.size()))) {
            channel->cancelled = true;
            return false;
          }
          if (closed) sink.done();
          return true;
        },
        [this, channel](bool success) {
          if (!success) channel->cancelled = true;
          end_request();
        });
  }

  // ---- routes -----------------------------------------------------------------------------------
  void routes() {
    http.set_payload_max_length(options.max_body);
    // Errors cpp-httplib produces itself (413, 400, 404 of unknown paths) get an OpenAI body too.
    http.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      std::string message = fmt::format("HTTP {}", res.status);
      std::string type = "invalid_request_error";
      if (res.status == 413) message = fmt::format("the request body is larger than --max-body ({} bytes)", options.max_body);
      if (res.status == 404) message = fmt::format("no route {} {}", req.method, req.path);
      if (res.status >= 500) type = "server_error";
      res.set_content(dump(ApiError(res.status, message, type).to_json()) + "\n", "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }));

    for (const WebAsset& a : web_assets()) {
      const std::string path = a.name == "index.html" ? "/" : "/" + std::string(a.name);
      http.Get(path, [a](const httplib::Request&, httplib::Response& res) {
        res.set_content(std::string(a.bytes), std::string(a.mime) + "; charset=utf-8");
        res.set_header("Cache-Control", "no-cache");
      });
    }

    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      bool draining_now = false;
      {
        std::lock_guard<std::mutex> lock(state_mu);
        draining_now = draining;
      }
      res.status = draining_now ? 503 : 200;
      res.set_content(dump({{"status", draining_now ? "draining" : "ok"}, {"model", model_id}, {"queue_depth", queue.waiting()}, {"busy", queue.busy()}}) + "\n",
                      "application/json");
      metrics.request("/health", res.status);
    });

    http.Get("/metrics", wrap("/metrics", true, [this](const httplib::Request&, httplib::Response& res, bool&) {
               long flight = 0;
               {
                 std::lock_guard<std::mutex> lock(state_mu);
                 flight = in_flight;
               }
               res.set_content(metrics.prometheus(queue.waiting(), queue.busy(), flight), "text/plain; version=0.0.4");
             }));

    http.Get("/v1/models", wrap("/v1/models", true, [this](const httplib::Request&, httplib::Response& res, bool&) {
               json model = {{"id", model_id}, {"object", "model"}, {"created", model_created}, {"owned_by", "smolvid"}};
               res.set_content(dump({{"object", "list"}, {"data", json::array({model})}}), "application/json");
             }));

    http.Get("/v1/media", wrap("/v1/media", true, [this](const httplib::Request&, httplib::Response& res, bool&) {
               json files = json::array();
               for (const std::string& p : dirs.list_media()) files.push_back({{"path", p}, {"name", fs::path(p).filename().string()}, {"kind", pipeline::is_image_path(p) ? "image" : "video"}});
               res.set_content(dump({{"media_dirs", dirs.dirs()}, {"files", files}}), "application/json");
             }));

    http.Post("/v1/chat/completions", wrap("/v1/chat/completions", true, [this](const httplib::Request& req, httplib::Response& res, bool& streaming) {
                chat_completions(req, res, streaming);
              }));
    http.Post("/v1/summarize", wrap("/v1/summarize", true, [this](const httplib::Request& req, httplib::Response& res, bool& streaming) {
                summarize(req, res, streaming);
              }));

    http.Get("/v1/events", wrap("/v1/events", true, [this](const httplib::Request& req, httplib::Response& res, bool&) {
               res.set_content(dump(event_store().search(req.get_param_value("q"), req.get_param_value("camera"), req.get_param_value("from"),
                                                         req.get_param_value("to"), req.get_param_value("limit"))),
                               "application/json");
             }));
    http.Get(R"(/v1/events/(\d+)/thumbnail)", wrap("/v1/events/thumbnail", true, [this](const httplib::Request& req, httplib::Response& res, bool&) {
               const EventMedia m = event_media(req);
               if (m.thumbnail_jpeg.empty()) throw ApiError(404, fmt::format("event {} has no thumbnail", req.matches[1].str()), "invalid_request_error");
               res.set_content(std::string(m.thumbnail_jpeg.begin(), m.thumbnail_jpeg.end()), "image/jpeg");
             }));
    http.Get(R"(/v1/events/(\d+)/clip)", wrap("/v1/events/clip", true, [this](const httplib::Request& req, httplib::Response& res, bool&) {
               const EventMedia m = event_media(req);
               if (m.clip_path.empty()) throw ApiError(404, fmt::format("event {} has no clip and its source file is gone", req.matches[1].str()), "invalid_request_error");
               serve_file(m.clip_path, res);
             }));
  }

  EventStore& event_store() {
    if (!events) throw ApiError(404, "the server was started without --db, so it has no events", "invalid_request_error");
    return *events;
  }

  EventMedia event_media(const httplib::Request& req) {
    const std::string id = req.matches[1].str();
    std::optional<EventMedia> m;
    try {
      m = event_store().media(std::stoll(id));
    } catch (const std::out_of_range&) {
    }
    if (!m) throw ApiError(404, fmt::format("no event {}", id), "invalid_request_error");
    return *m;
  }

  // The whole file, read as the client asks for it: cpp-httplib answers Range requests (206) from
  // a content provider of known length.
  static void serve_file(const std::string& path, httplib::Response& res) {
    std::error_code ec;
    const uintmax_t size = fs::file_size(path, ec);
    if (ec) throw ApiError(404, fmt::format("{}: cannot read the file", path), "invalid_request_error");
    std::string ext = fs::path(path).extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    const std::string mime = ext == ".webm" ? "video/webm" : ext == ".mkv" ? "video/x-matroska" : ext == ".mov" ? "video/quicktime"
                           : ext == ".avi" ? "video/x-msvideo" : ext == ".mp4" || ext == ".m4v" ? "video/mp4" : "application/octet-stream";
    auto file = std::make_shared<std::ifstream>(path, std::ios::binary);
    res.set_header("Accept-Ranges", "bytes");
    res.set_content_provider(static_cast<size_t>(size), mime, [file](size_t offset, size_t length, httplib::DataSink& sink) {
      std::vector<char> buf(std::min<size_t>(length, 1 << 16));
      file->clear();
      file->seekg(static_cast<std::streamoff>(offset));
      file->read(buf.data(), static_cast<std::streamsize>(buf.size()));
      const std::streamsize got = file->gcount();
      if (got <= 0) return false;
      return sink.write(buf.data(), static_cast<size_t>(got));
    });
  }

  // ---- POST /v1/chat/completions ---------------------------------------------------------------
  void chat_completions(const httplib::Request& req, httplib::Response& res, bool& streaming) {
    auto chat = std::make_shared<PreparedChat>(prepare_chat(parse_body(req), dirs, options.limits, temp_dir));
    struct TempFiles {
      std::vector<std::string> paths;
      ~TempFiles() {
        std::error_code ec;
        for (const auto& p : paths) fs::remove(p, ec);
      }
    };
    auto temps = std::make_shared<TempFiles>();
    temps->paths = chat->temp_files;
    check_model(chat->model);
    const std::string id = random_id("chatcmpl-");
    const long created = static_cast<long>(std::time(nullptr));
    if (!chat->stream) {
      ChatResult result;
      std::future<void> done;
      try {
        done = queue.submit([&](pipeline::Vlm& vlm) {
          result = run_chat(vlm, *chat, {}, {});
          metrics.generation(result.prompt_tokens, result.completion_tokens, result.decode_s);
        });
      } catch (const QueueFull& e) {
        throw ApiError(429, e.what(), "rate_limit_error", std::nullopt, std::string("queue_full"));
      }
      done.get();
      res.set_content(dump(completion_json(id, created, model_id, result)), "application/json");
      return;
    }
    auto channel = std::make_shared<Channel>();
    const std::string model = model_id;
    try {
      queue.submit([this, chat, channel, temps, id, created, model](pipeline::Vlm& vlm) {
        if (channel->cancelled) {
          channel->close();
          return;
        }
        channel->push(sse(chunk_json(id, created, model, {{"role", "assistant"}, {"content", ""}}, nullptr)));
        try {
          const ChatResult r = run_chat(
              vlm, *chat, [&](const std::string& piece) { channel->push(sse(chunk_json(id, created, model, {{"content", piece}}, nullptr))); },
              [&] { return channel->cancelled.load(); });
          metrics.generation(r.prompt_tokens, r.completion_tokens, r.decode_s);
          channel->push(sse(chunk_json(id, created, model, json::object(), r.finish_reason)));
          if (chat->include_usage) {
            json usage = chunk_json(id, created, model, json::object(), nullptr);
            usage["choices"] = json::array();
            usage["usage"] = {{"prompt_tokens", r.prompt_tokens}, {"completion_tokens", r.completion_tokens}, {"total_tokens", r.prompt_tokens + r.completion_tokens}};
            channel->push(sse(usage));
          }
        } catch (...) {
          channel->push(sse(to_api_error(std::current_exception()).to_json()));
        }
        channel->push("data: [DONE]\n\n");
        channel->close();
      });
    } catch (const QueueFull& e) {
      throw ApiError(429, e.what(), "rate_limit_error", std::nullopt, std::string("queue_full"));
    }
    streaming = true;
    stream_channel(res, channel);
  }

  // ---- POST /v1/summarize ----------------------------------------------------------------------
  // JSON {"video": path, "segment", "max_segment", "frames_per_segment", "summary", "start", "end",
  // "max_tokens", "stream"}, or multipart/form-data with the video in "file" and the same options
  // as form fields.
  void summarize(const httplib::Request& req, httplib::Response& res, bool& streaming) {
    json body;
    auto temp = std::make_shared<std::string>();
    if (req.is_multipart_form_data()) {
      body = json::object();
      for (const auto& [name, part] : req.files) {
        if (name == "file") continue;
        // Form fields are text: numbers and booleans are read as JSON when they parse as such.
        try {
          body[name] = json::parse(part.content);
        } catch (const json::parse_error&) {
          body[name] = part.content;
        }
      }
      if (!req.has_file("file")) throw bad_request("multipart upload needs the video in the 'file' field", "file");
      const httplib::MultipartFormData f = req.get_file_value("file");
      if (f.content.empty()) throw bad_request("the uploaded file is empty", "file");
      std::string ext = fs::path(f.filename).extension().string();
      *temp = fmt::format("{}/{}{}", temp_dir, random_id("upload-"), ext.size() <= 6 ? ext : "");
      std::ofstream(*temp, std::ios::binary).write(f.content.data(), static_cast<std::streamsize>(f.content.size()));
      body["video"] = *temp;
    } else {
      body = parse_body(req);
      if (!body.is_object()) throw bad_request("the request body must be a JSON object");
    }
    auto cleanup = std::shared_ptr<void>(nullptr, [temp](void*) {
      std::error_code ec;
      if (!temp->empty()) fs::remove(*temp, ec);
    });
    std::string video = *temp;
    if (video.empty()) {
      if (!body.contains("video") || !body["video"].is_string()) throw bad_request("video is required: a path inside a media folder (or upload the file)", "video");
      video = dirs.resolve(body["video"].get<std::string>(), "video");
    }

    pipeline::SummarizeOptions so;
    bool stream = false;
    for (const auto& [key, v] : body.items()) {
      auto seconds = [&](const json& x) -> double {
        if (x.is_number() && x.get<double>() >= 0) return x.get<double>();
        if (x.is_string()) {
          try {
            const pipeline::TimeBound b = pipeline::parse_time_bound(x.get<std::string>());
            if (!b.wall) return b.seconds;
          } catch (const std::exception&) {
          }
        }
        throw bad_request(fmt::format("{}: expected seconds or [HH:]MM:SS", key), key);
      };
      if (key == "video" || key == "model") {
        continue;
      } else if (key == "segment") {
        so.segmenter = "fixed";
        so.segment_s = seconds(v);
      } else if (key == "max_segment") {
        if (so.segmenter != "fixed") so.segment_s = seconds(v);
      } else if (key == "frames_per_segment") {
        if (!v.is_number_integer() || v.get<int>() < 1 || v.get<int>() > 64) throw bad_request("frames_per_segment must be an integer in [1, 64]", key);
        so.frames_per_segment = v.get<int>();
      } else if (key == "summary") {
        if (!v.is_boolean()) throw bad_request("summary must be a boolean", key);
        so.overall_summary = v.get<bool>();
      } else if (key == "start") {
        so.start_s = seconds(v);
      } else if (key == "end") {
        so.end_s = seconds(v);
      } else if (key == "max_tokens") {
        if (!v.is_number_integer() || v.get<int>() < 1 || v.get<int>() > options.limits.max_tokens_limit) {
          throw bad_request(fmt::format("max_tokens must be an integer in [1, {}]", options.limits.max_tokens_limit), key);
        }
        so.caption_generation.max_new_tokens = so.summary_generation.max_new_tokens = v.get<int>();
      } else if (key == "stream") {
        if (!v.is_boolean()) throw bad_request("stream must be a boolean", key);
        stream = v.get<bool>();
      } else {
        throw bad_request(fmt::format("{}: unknown option (expected video, segment, max_segment, frames_per_segment, summary, start, end, max_tokens, stream)", key), key);
      }
    }
    if (body.contains("segment") && body.contains("max_segment")) throw bad_request("give segment (fixed windows) or max_segment (shots), not both", "max_segment");
    if (!(so.segment_s > 0)) throw bad_request("segment length must be > 0 s", "segment");
    if (body.contains("model")) {
      if (!body["model"].is_string()) throw bad_request("model must be a string", "model");
      check_model(body["model"].get<std::string>());
    }
    try {
      decode::VideoReader(video).probe();
    } catch (const decode::DecodeError& e) {
      throw bad_request(fmt::format("video: cannot decode the video: {}", e.what()), "video");
    }
    so.thumbnail_side = stream ? 320 : 0;  // the page shows thumbnails; the JSON document has none
    // The summary names the video as the client gave it, not the server's temp file.
    const std::string shown = req.is_multipart_form_data() ? req.get_file_value("file").filename : body.value("video", "");

    if (!stream) {
      json doc;
      std::future<void> done;
      try {
        done = queue.submit([&](pipeline::Vlm& vlm) {
          pipeline::Summary s = pipeline::summarize(vlm, video, so);
          s.video = shown;
          doc = pipeline::summary_to_json(s);
        });
      } catch (const QueueFull& e) {
        throw ApiError(429, e.what(), "rate_limit_error", std::nullopt, std::string("queue_full"));
      }
      done.get();
      res.set_content(dump(doc), "application/json");
      return;
    }
    auto channel = std::make_shared<Channel>();
    try {
      queue.submit([channel, video, so, shown, cleanup](pipeline::Vlm& vlm) mutable {
        try {
          if (channel->cancelled) throw std::runtime_error("client gone");
          so.caption_generation.should_stop = so.summary_generation.should_stop = [channel] { return channel->cancelled.load(); };
          pipeline::Summary s = pipeline::summarize(vlm, video, so, [&](size_t done, size_t total, const std::string& detail) {
            channel->push(sse_event("progress", {{"done", done}, {"total", total}, {"detail", detail}}));
          });
          s.video = shown;
          json thumbs = json::array();
          for (const pipeline::SummarySegment& seg : s.segments) {
            thumbs.push_back(seg.thumbnail_jpeg.empty() ? json(nullptr) : json("data:image/jpeg;base64," + pipeline::base64_encode(seg.thumbnail_jpeg)));
          }
          channel->push(sse_event("summary", {{"summary", pipeline::summary_to_json(s)}, {"thumbnails", thumbs}}));
        } catch (...) {
          channel->push(sse_event("error", to_api_error(std::current_exception()).to_json()));
        }
        channel->close();
      });
    } catch (const QueueFull& e) {
      throw ApiError(429, e.what(), "rate_limit_error", std::nullopt, std::string("queue_full"));
    }
    streaming = true;
    stream_channel(res, channel);
  }

  // ---- run -------------------------------------------------------------------------------------
  int run() {
    // SIGTERM/SIGINT land in on_shutdown_signal (on whichever thread), which wakes this thread
    // through a pipe.
    install_shutdown_handler();
    http.new_task_queue = [this] { return new httplib::ThreadPool(static_cast<size_t>(std::max(2, options.http_threads))); };
    int port = options.port;
    if (port == 0) {
      port = http.bind_to_any_port(options.host);
      if (port < 0) throw std::runtime_error(fmt::format("cannot listen on {}: no free port", options.host));
    } else if (!http.bind_to_port(options.host, port)) {
      throw std::runtime_error(fmt::format("cannot listen on {}:{} (in use, or not an address of this machine)", options.host, port));
    }
    std::thread signals([this] {
      unsigned char sig = 0;
      while (read(g_signal_pipe[0], &sig, 1) < 0 && errno == EINTR) {
      }
      {
        std::unique_lock<std::mutex> lock(state_mu);
        if (draining) return;  // woken by run()'s own shutdown
        draining = true;
        fmt::print(stderr, "smolvid serve: signal {}: finishing {} request(s) in flight, then exiting\n", sig, in_flight);
        state_cv.wait(lock, [&] { return in_flight == 0; });
      }
      http.stop();
    });
    fmt::print("smolvid serve: listening on http://{}:{} (model {})\n", options.host, port, model_id);
    std::fflush(stdout);
    const bool ok = http.listen_after_bind();
    {
      std::lock_guard<std::mutex> lock(state_mu);
      if (!draining) {  // stopped by an error, not a signal: wake the signal thread ourselves
        draining = true;
        const unsigned char wake = 0;
        const ssize_t n = write(g_signal_pipe[1], &wake, 1);
        (void)n;
      }
    }
    signals.join();
    fmt::print(stderr, "smolvid serve: stopped\n");
    return ok ? 0 : 1;
  }
};

Server::Server(ServerOptions options, std::unique_ptr<pipeline::Vlm> vlm, double model_load_s)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(vlm), model_load_s)) {}

Server::~Server() = default;

int Server::run() { return impl_->run(); }

}  // namespace smolvid::server
