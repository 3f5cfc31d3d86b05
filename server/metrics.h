// server/metrics.h: the counters behind GET /metrics, in the Prometheus text format (0.0.4).
// Thread-safe; every handler records into one Metrics.
#pragma once

#include <map>
#include <mutex>
#include <string>

namespace smolvid::server {

class Metrics {
 public:
  void request(const std::string& route, int status);
  // One finished generation: tokens produced and the seconds spent producing them (after the
  // first token), for the tokens/s gauge.
  void generation(long prompt_tokens, long completion_tokens, double decode_seconds);
  void set_model_load_seconds(double s);

  // queue_waiting/queue_running/in_flight are sampled by the caller at scrape time.
  std::string prometheus(size_t queue_waiting, bool queue_running, long in_flight) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, long> requests_;
  long prompt_tokens_ = 0, completion_tokens_ = 0, generations_ = 0;
  double decode_seconds_ = 0, last_tokens_per_s_ = 0, model_load_s_ = 0;
};

}  // namespace smolvid::server
