// smolvid serve [--host 127.0.0.1] [--port 8080] [--model ...] [--db cams.sqlite] [--media-dir DIR]...
// Loads the model once and serves it over HTTP (server/server.h): OpenAI-compatible chat
// completions for images and video, summaries, event search and the web page. Runs until SIGTERM
// or SIGINT, then finishes the requests in flight and exits 0.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cli/model_options.h"
#include "cli/registry.h"
#include "server/server.h"

namespace smolvid::cli {
namespace {

const int kServeMaxTokens = 256;

struct ServeCliOptions {
  server::ServerOptions server;
  ModelCliOptions model;
};

void run_serve(ServeCliOptions& o) {
  server::install_shutdown_handler();
  if (o.server.api_key.empty()) {
    if (const char* key = std::getenv("SMOLVID_API_KEY")) o.server.api_key = key;
  }
  o.server.limits.defaults = o.model.generation(kServeMaxTokens);
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<pipeline::Vlm> vlm = load_model(o.model);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print(stderr, "smolvid serve: model {} loaded in {:.2f} s\n", vlm->model_name(), load_s);
  server::Server s(o.server, std::move(vlm), load_s);
  const int rc = s.run();
  if (rc != 0) throw std::runtime_error("serve: the HTTP server stopped with an error");
}

const Registrar kServe(Group::kTop, 80, [](CLI::App& parent) {
  auto o = std::make_shared<ServeCliOptions>();
  CLI::App* cmd = parent.add_subcommand(
      "serve", "Serve the model over HTTP: OpenAI-compatible /v1/chat/completions (images, video, streaming), summaries, "
               "event search and a web page at /");
  cmd->add_option("--host", o->server.host, "Address to listen on (default: 127.0.0.1, loopback only)");
  cmd->add_option("--port", o->server.port, "Port; 0 = any free port, printed on stdout (default: 8080)")->check(CLI::Range(0, 65535));
  cmd->add_option("--media-dir", o->server.media_dirs,
                  "A folder whose videos and images requests may name by path (repeatable; default: none, only uploads and "
                  "data: URLs)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--db", o->server.db, "Event index (smolvid index --db) for /v1/events and the page's search (default: none)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--api-key", o->server.api_key,
                  "Require 'Authorization: Bearer KEY' on /v1/* and /metrics (env SMOLVID_API_KEY; default: none)");
  cmd->add_option("--max-body", o->server.max_body, "Largest request body in bytes; larger get 413 (default: 67108864)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--queue", o->server.queue, "Requests that may wait for the model; more get 429 with Retry-After (default: 8)");
  cmd->add_option("--http-threads", o->server.http_threads, "Connections served at once (default: 8)")->check(CLI::Range(2, 256));
  cmd->add_option("--max-tokens-limit", o->server.limits.max_tokens_limit, "Largest max_tokens a request may ask for (default: 4096)")
      ->check(CLI::PositiveNumber);
  add_model_options(*cmd, o->model, std::to_string(kServeMaxTokens) + " (a request's max_tokens overrides it)");
  cmd->callback([o] { run_serve(*o); });
});

}  // namespace
}  // namespace smolvid::cli
