#include "server/model_queue.h"

#include <fmt/core.h>

namespace smolvid::server {

ModelQueue::ModelQueue(std::unique_ptr<pipeline::Vlm> vlm, size_t max_waiting)
    : vlm_(std::move(vlm)), max_waiting_(max_waiting), worker_([this] { run(); }) {}

ModelQueue::~ModelQueue() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

std::future<void> ModelQueue::submit(Job job) {
  std::packaged_task<void(pipeline::Vlm&)> task(std::move(job));
  std::future<void> done = task.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    // With nothing running, the job starts at once and never counts as waiting.
    const size_t would_wait = jobs_.size() + (running_job_ ? 1 : 0);
    if (would_wait > max_waiting_) {
      throw QueueFull(fmt::format("the model is busy: {} request(s) running or waiting (queue depth {})", would_wait, max_waiting_));
    }
    jobs_.push_back(std::move(task));
  }
  cv_.notify_one();
  return done;
}

size_t ModelQueue::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.size();
}

bool ModelQueue::busy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_job_;
}

void ModelQueue::run() {
  for (;;) {
    std::packaged_task<void(pipeline::Vlm&)> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, nothing left
      task = std::move(jobs_.front());
      jobs_.pop_front();
      running_job_ = true;
    }
    task(*vlm_);  // exceptions land in the future
    std::lock_guard<std::mutex> lock(mu_);
    running_job_ = false;
  }
}

}  // namespace smolvid::server
