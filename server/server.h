// server/server.h: `smolvid serve`, one loaded model behind an HTTP API on cpp-httplib.
//
//   POST /v1/chat/completions   OpenAI chat completions (images, one video; stream: true = SSE)
//   GET  /v1/models             the one model
//   POST /v1/summarize          smolvid.summary/1 of a video in a media folder or an upload
//   GET  /v1/events             search of --db (q, camera, from, to, limit), with thumbnail/clip URLs
//   GET  /v1/events/{id}/thumbnail, /v1/events/{id}/clip (HTTP range requests)
//   GET  /v1/media              the videos and images in the media folders (for the web page)
//   GET  /health, /metrics      liveness (JSON) and Prometheus text
//   GET  /                      the web page (web/, compiled in)
//
// Usage:
//   ServerOptions o;  o.port = 8080;  o.media_dirs = {"/srv/videos"};
//   Server server(o, std::move(vlm), load_seconds);
//   return server.run();   // until SIGTERM/SIGINT: drains in-flight requests, returns 0
//
// Threads: cpp-httplib answers each connection on its pool; model work runs on the one thread of
// ModelQueue. With api_key set, /v1/* and /metrics need "Authorization: Bearer KEY" (or the
// smolvid_key cookie the web page sets); /, its files and /health stay open.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/vlm.h"
#include "server/chat.h"

namespace smolvid::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                          // 0 = any free port (printed when listening)
  std::vector<std::string> media_dirs;      // the only folders requests may read
  std::string db;                           // event index for /v1/events (empty = none)
  std::string api_key;                      // empty = no authentication
  size_t max_body = 64u << 20;              // bytes; larger bodies get 413
  size_t queue = 8;                         // requests that may wait for the model; more get 429
  int http_threads = 8;                     // connections served at once
  ChatLimits limits;
  std::string temp_dir;                     // uploads; empty = the system temp folder
};

// Routes SIGTERM and SIGINT to the server's drain (whichever thread receives them) and ignores
// SIGPIPE. Server::run() installs it; call it earlier to cover the model's loading too.
void install_shutdown_handler();

class Server {
 public:
  Server(ServerOptions options, std::unique_ptr<pipeline::Vlm> vlm, double model_load_s);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, prints "smolvid serve: listening on http://HOST:PORT" on stdout, serves until SIGTERM or
  // SIGINT, then refuses new requests (503), waits for those in flight and returns 0. Throws
  // std::runtime_error when the address cannot be bound.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace smolvid::server
