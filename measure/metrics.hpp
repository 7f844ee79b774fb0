// Process metrics: resident memory from /proc and CPU time / context switches from getrusage.
#pragma once

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace tvl::metrics {

struct Memory {
  std::int64_t rss_kib = 0;  // VmRSS: resident now
  std::int64_t hwm_kib = 0;  // VmHWM: peak resident
};

// Reads VmRSS and VmHWM from /proc/<pid>/status (pid 0 = this process).
// Empty when the process is gone or the file cannot be read.
std::optional<Memory> memory(pid_t pid = 0);

struct Usage {
  double user_s = 0.0;
  double sys_s = 0.0;
  std::int64_t vcsw = 0;   // voluntary context switches (the thread blocked)
  std::int64_t ivcsw = 0;  // involuntary ones (the scheduler preempted it)

  Usage operator-(const Usage& earlier) const {
    return {user_s - earlier.user_s, sys_s - earlier.sys_s, vcsw - earlier.vcsw, ivcsw - earlier.ivcsw};
  }
};

// getrusage(RUSAGE_SELF): every thread of this process, including finished ones.
Usage usage();

// The same figures for another process, from /proc/<pid>/stat and /proc/<pid>/status.
std::optional<Usage> usage_of(pid_t pid);

}  // namespace tvl::metrics

namespace tvl::metrics {

// The limits that stop a thread-per-task program: pid_max, threads-max, max_map_count,
// RLIMIT_NPROC, RLIMIT_AS, the cgroup's pids.max, the default thread stack, memory available
// and committed. As fields (numbers where the kernel gives one), and as one line name=value.
nlohmann::json thread_limit_values();
std::string thread_limits();

// The default stack size of a new thread (what std::thread gets), in KiB.
std::int64_t default_stack_kib();

}  // namespace tvl::metrics
