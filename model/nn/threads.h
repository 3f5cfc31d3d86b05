// model/nn/threads.h: intra-op thread count for libtorch.
//
//   smolvid::model::set_num_threads(0);   // all cores this process may run on
//
// libtorch's own detection reads the machine's core count, which on these VMs reports 1; the
// affinity mask (sched_getaffinity) is what the process can actually use.
#pragma once

namespace smolvid::model {

// Number of CPUs in this process's affinity mask (>= 1).
int available_cores();

// at::set_num_threads(n); n == 0 means available_cores(). Throws std::invalid_argument for n < 0.
// Returns the count that was set.
int set_num_threads(int n);

}  // namespace smolvid::model
