// model/nn/pool.cpp: DecodePool (see pool.h).
#include "model/nn/pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace smolvid::model::nn {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// How long an idle worker spins before it sleeps: longer than the gaps inside a decode step and
// between tokens (sampling, streaming a token: tens of microseconds), short enough that a
// finished generation stops burning a core at once.
constexpr auto kSpin = std::chrono::milliseconds(3);

}  // namespace

DecodePool& DecodePool::instance() {
  static DecodePool pool;
  return pool;
}

DecodePool::~DecodePool() { stop_workers(); }

void DecodePool::stop_workers() {
  if (workers_.empty()) return;
  stop_.store(true);
  epoch_.fetch_add(1);
  {
    std::lock_guard<std::mutex> lock(mutex_);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  stop_.store(false);
}

void DecodePool::resize(int threads) {
  threads = std::max(threads, 1);
  if (threads == size()) return;
  stop_workers();
  // Each worker starts from the current epoch (read here, not in the new thread: a dispatch may come
  // before the thread first runs).
  const uint64_t epoch = epoch_.load();
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, epoch] { work(epoch); });
}

std::pair<int64_t, int64_t> DecodePool::range(int64_t n, int part, int parts, int64_t align) {
  const int64_t blocks = (n + align - 1) / align;
  const int64_t b0 = blocks * part / parts, b1 = blocks * (part + 1) / parts;
  return {std::min(n, b0 * align), std::min(n, b1 * align)};
}

void DecodePool::dispatch(Call call, void* ctx, int chunks) {
  call_ = call;
  ctx_ = ctx;
  chunks_.store(chunks, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  const uint64_t job = ++job_ & 0xffffffffu;
  ticket_.store(job << 32, std::memory_order_release);
  epoch_.fetch_add(1);  // seq_cst: ordered before the sleepers_ load (see work())
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  run_chunks(job);
  // A worker that was preempted holding a chunk finishes it only when it runs again: after a short
  // spin, give the core away instead of spinning through its time slice.
  for (int spins = 0; done_.load(std::memory_order_acquire) < chunks; ++spins) {
    if (spins < 4096) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

void DecodePool::run_chunks(uint64_t job) {
  uint64_t t = ticket_.load(std::memory_order_acquire);
  for (;;) {
    if ((t >> 32) != job) return;
    const int chunk = static_cast<int>(t & 0xffffffffu), chunks = chunks_.load(std::memory_order_relaxed);
    if (chunk >= chunks) return;
    if (ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      // The job cannot change before this chunk is done (dispatch waits for it): call_/ctx_ are its.
      call_(ctx_, chunk, chunks);
      done_.fetch_add(1, std::memory_order_release);
      t = ticket_.load(std::memory_order_acquire);
    }
  }
}

void DecodePool::work(uint64_t seen) {
  for (;;) {
    auto deadline = std::chrono::steady_clock::now() + kSpin;
    uint64_t now_epoch;
    for (int spins = 1; (now_epoch = epoch_.load(std::memory_order_acquire)) == seen; ++spins) {
      if (spins < 4096) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
      if (spins % 1024 == 0 && std::chrono::steady_clock::now() > deadline) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1);  // seq_cst: a dispatch either sees it or its epoch is seen here
        wake_.wait(lock, [&] { return epoch_.load() != seen; });
        sleepers_.fetch_sub(1);
        deadline = std::chrono::steady_clock::now() + kSpin;
      }
    }
    seen = now_epoch;
    if (stop_.load()) return;
    run_chunks(ticket_.load(std::memory_order_acquire) >> 32);
  }
}

}  // namespace smolvid::model::nn
