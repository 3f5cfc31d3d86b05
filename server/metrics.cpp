#include "server/metrics.h"

#include <fmt/core.h>

namespace smolvid::server {

void Metrics::request(const std::string& route, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{route, status}];
}

void Metrics::generation(long prompt_tokens, long completion_tokens, double decode_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++generations_;
  prompt_tokens_ += prompt_tokens;
  completion_tokens_ += completion_tokens;
  decode_seconds_ += decode_seconds;
  if (decode_seconds > 0 && completion_tokens > 1) last_tokens_per_s_ = (completion_tokens - 1) / decode_seconds;
}

void Metrics::set_model_load_seconds(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  model_load_s_ = s;
}

std::string Metrics::prometheus(size_t queue_waiting, bool queue_running, long in_flight) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  out += "# HELP smolvid_requests_total HTTP requests answered, by route and status code.\n# TYPE smolvid_requests_total counter\n";
  for (const auto& [key, n] : requests_) out += fmt::format("smolvid_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
  out += fmt::format("# HELP smolvid_generations_total Finished generations.\n# TYPE smolvid_generations_total counter\nsmolvid_generations_total {}\n", generations_);
  out += fmt::format("# HELP smolvid_prompt_tokens_total Prompt tokens processed.\n# TYPE smolvid_prompt_tokens_total counter\nsmolvid_prompt_tokens_total {}\n", prompt_tokens_);
  out += fmt::format("# HELP smolvid_generated_tokens_total Tokens generated.\n# TYPE smolvid_generated_tokens_total counter\nsmolvid_generated_tokens_total {}\n", completion_tokens_);
  out += fmt::format("# HELP smolvid_decode_seconds_total Seconds spent generating tokens after the first.\n# TYPE smolvid_decode_seconds_total counter\nsmolvid_decode_seconds_total {:.6f}\n", decode_seconds_);
  out += fmt::format("# HELP smolvid_tokens_per_second Decode speed of the last generation.\n# TYPE smolvid_tokens_per_second gauge\nsmolvid_tokens_per_second {:.3f}\n", last_tokens_per_s_);
  out += fmt::format("# HELP smolvid_queue_depth Requests waiting for the model.\n# TYPE smolvid_queue_depth gauge\nsmolvid_queue_depth {}\n", queue_waiting);
  out += fmt::format("# HELP smolvid_model_busy 1 while the model runs a request.\n# TYPE smolvid_model_busy gauge\nsmolvid_model_busy {}\n", queue_running ? 1 : 0);
  out += fmt::format("# HELP smolvid_requests_in_flight Requests being answered.\n# TYPE smolvid_requests_in_flight gauge\nsmolvid_requests_in_flight {}\n", in_flight);
  out += fmt::format("# HELP smolvid_model_load_seconds Seconds the model took to load.\n# TYPE smolvid_model_load_seconds gauge\nsmolvid_model_load_seconds {:.3f}\n", model_load_s_);
  return out;
}

}  // namespace smolvid::server
