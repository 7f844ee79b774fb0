// What the calling thread has cost: time on a CPU, and time runnable but waiting for one (from
// /proc/thread-self/schedstat). The load generator reads it at the start and end of its load
// phase: a thread busy, or starved, for nearly all of it was the limit of the run.
#pragma once

#include <cstdint>

namespace tvl::metrics {

struct ThreadTime {
  std::int64_t wall_ns = 0;  // steady clock
  std::int64_t cpu_ns = 0;   // on a CPU
  std::int64_t wait_ns = 0;  // runnable, waiting on a run queue (0 where the kernel keeps no schedstat)
};

ThreadTime thread_time();

// (CPU time + waiting time) / wall time between two readings of the same thread.
double busy_between(const ThreadTime& a, const ThreadTime& b);

}  // namespace tvl::metrics
