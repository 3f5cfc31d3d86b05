// server/model_queue.h: the one loaded model, shared by every request through a bounded queue.
// One worker thread owns the Vlm (pipeline/vlm.h: one thread at a time); requests wait their turn
// in arrival order. A full queue refuses at once (the server answers 429 with Retry-After) rather
// than letting clients pile up behind a busy model.
//
// Usage:
//   ModelQueue q(std::move(vlm), /*max_waiting=*/8);
//   auto done = q.submit([&](pipeline::Vlm& vlm) { ... });   // throws QueueFull
//   done.get();                                              // rethrows the job's exception
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "pipeline/vlm.h"

namespace smolvid::server {

class QueueFull : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ModelQueue {
 public:
  // max_waiting: jobs that may wait while one runs (0 = none: a busy model refuses every other).
  ModelQueue(std::unique_ptr<pipeline::Vlm> vlm, size_t max_waiting);
  ~ModelQueue();  // finishes the queued jobs, then joins the worker
  ModelQueue(const ModelQueue&) = delete;
  ModelQueue& operator=(const ModelQueue&) = delete;

  using Job = std::function<void(pipeline::Vlm&)>;
  std::future<void> submit(Job job);

  size_t waiting() const;      // jobs queued, not yet running
  bool busy() const;           // a job is running
  const pipeline::Vlm& vlm() const { return *vlm_; }

 private:
  void run();
  std::unique_ptr<pipeline::Vlm> vlm_;
  size_t max_waiting_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<void(pipeline::Vlm&)>> jobs_;
  bool running_job_ = false;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace smolvid::server
