// model/nn/pool.h: persistent worker threads for the single-token decode kernels (internal to
// model/nn).
//
//   nn::DecodePool& pool = nn::DecodePool::instance();
//   pool.resize(2);                                    // the caller + 1 worker
//   pool.run([&](int part, int parts) { ... rows of part `part` of `parts` ... });
//
// A decode step issues ~200 small parallel regions (one per projection / attention phase) a few
// microseconds apart. OpenMP with the passive wait policy the CLI sets puts its threads to sleep
// between regions, and waking them costs more than the region itself, so decoding used to run on
// one thread. These workers spin (with pause) for a few milliseconds after each region, so
// back-to-back regions start within a microsecond, and then sleep on a condition variable, so an
// idle model costs no CPU. run() must be called from one thread at a time (the model is not
// thread-safe either); fn must not throw.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace smolvid::model::nn {

class DecodePool {
 public:
  static DecodePool& instance();
  ~DecodePool();

  // Total threads taking part in run(), the caller included (>= 1).
  void resize(int threads);
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(part, parts) once for every part in [0, parts), parts = size(), part 0 on the caller;
  // returns when all parts are done.
  template <class F>
  void run(F&& fn) {
    using Fn = std::remove_reference_t<F>;
    if (workers_.empty()) {
      fn(0, 1);
      return;
    }
    dispatch([](void* ctx, int part, int parts) { (*static_cast<Fn*>(ctx))(part, parts); }, &fn);
  }

  // [begin, end) of part `part` when n items are split into `parts` contiguous ranges whose
  // boundaries are multiples of `align`.
  static std::pair<int64_t, int64_t> range(int64_t n, int part, int parts, int64_t align = 1);

 private:
  DecodePool() = default;
  using Call = void (*)(void*, int, int);
  void dispatch(Call call, void* ctx);
  void work(int id, uint64_t seen);
  void stop_workers();

  std::vector<std::thread> workers_;
  std::atomic<uint64_t> epoch_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  Call call_ = nullptr;
  void* ctx_ = nullptr;
  int parts_ = 1;
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace smolvid::model::nn
