// model/nn/threads.cpp
#include "model/nn/threads.h"

#include <sched.h>

#include <ATen/Parallel.h>
#include <fmt/core.h>

#include <stdexcept>
#include <thread>

namespace smolvid::model {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

int set_num_threads(int n) {
  if (n < 0) throw std::invalid_argument(fmt::format("thread count must be >= 0 (0 = all available cores), got {}", n));
  const int count = n == 0 ? available_cores() : n;
  at::set_num_threads(count);
  return count;
}

}  // namespace smolvid::model
