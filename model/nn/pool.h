// model/nn/pool.h: persistent worker threads for the single-token decode kernels (internal to
// model/nn).
//
//   nn::DecodePool& pool = nn::DecodePool::instance();
//   pool.resize(2);                                          // the caller + 1 worker
//   pool.run(8, [&](int chunk, int chunks) { ... rows of chunk `chunk` of 8 ... });
//
// A decode step issues ~200 small parallel regions (one per projection / attention phase) a few
// microseconds apart. OpenMP with the passive wait policy the CLI sets puts its threads to sleep
// between regions, and waking them costs more than the region itself, so decoding used to run on
// one thread. These workers spin (with pause) for a few milliseconds after each region, so
// back-to-back regions start within a microsecond, and then sleep on a condition variable, so an
// idle model costs no CPU. Chunks are taken from a shared counter by whichever thread is running,
// the caller included: on a machine with more runnable threads than cores a preempted worker
// delays a region by at most the chunk it holds instead of its whole share. run() must be called
// from one thread at a time (the model is not thread-safe either); fn must not throw.
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

  // Calls fn(chunk, chunks) once for every chunk in [0, chunks) on the caller and the workers;
  // returns when all chunks are done. The chunks' split must not depend on the thread running them.
  template <class F>
  void run(int chunks, F&& fn) {
    using Fn = std::remove_reference_t<F>;
    if (workers_.empty() || chunks <= 1) {
      for (int c = 0; c < chunks; ++c) fn(c, chunks);
      return;
    }
    dispatch([](void* ctx, int chunk, int n) { (*static_cast<Fn*>(ctx))(chunk, n); }, &fn, chunks);
  }

  // [begin, end) of part `part` when n items are split into `parts` contiguous ranges whose
  // boundaries are multiples of `align`.
  static std::pair<int64_t, int64_t> range(int64_t n, int part, int parts, int64_t align = 1);

 private:
  DecodePool() = default;
  using Call = void (*)(void*, int, int);
  void dispatch(Call call, void* ctx, int chunks);
  void run_chunks(uint64_t job);
  void work(uint64_t seen);
  void stop_workers();

  std::vector<std::thread> workers_;
  std::atomic<uint64_t> epoch_{0};   // bumped per region (wakes the workers)
  std::atomic<uint64_t> ticket_{0};  // (job << 32) | next chunk: a stale job can never take a chunk
  std::atomic<int> chunks_{0};
  std::atomic<int> done_{0};
  uint64_t job_ = 0;
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  Call call_ = nullptr;
  void* ctx_ = nullptr;
  std::mutex mutex_;
  std::condition_variable wake_;
};

}  // namespace smolvid::model::nn
