// The CPU work of one request in exercise run-in-executor: a spin of a fixed number of turns of
// the echo scenario's loop (scenarios/echo.hpp, spin_turns), standing in for what a real handler
// computes (parsing, hashing, compressing). A plain value, cheap to copy into a lambda.
//
// The grader and its server child each work out how many turns make the same time, from the
// fastest of several trials: a trial that was preempted half-way only looks slower, never faster,
// so the fastest is the one that ran undisturbed, and both sides agree on a busy machine too.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "measure/thread_time.hpp"

#include "scenarios/echo.hpp"

namespace tvl::exercise {

class CpuWork {
 public:
  // The turns that take `work` on an undisturbed core of this machine.
  static CpuWork calibrated(std::chrono::microseconds work) {
    constexpr std::uint64_t kTrialTurns = 100'000;
    constexpr int kTrials = 15;
    const double seconds = fastest_of(kTrials, [] { echo::spin_turns(kTrialTurns); });
    const double turns = static_cast<double>(kTrialTurns) * std::chrono::duration<double>(work).count() / seconds;
    return CpuWork(static_cast<std::uint64_t>(turns));
  }

  // Does the work: holds the calling thread, on a CPU, for the whole of it.
  void operator()() const { echo::spin_turns(turns_); }

  // How long one piece of this work takes on this machine, undisturbed.
  double seconds() const {
    constexpr int kTrials = 9;
    return fastest_of(kTrials, [this] { (*this)(); });
  }

  std::uint64_t turns() const { return turns_; }

 private:
  explicit CpuWork(std::uint64_t turns) : turns_(std::max<std::uint64_t>(turns, 1)) {}

  template <class F>
  static double fastest_of(int trials, F run) {
    double fastest = std::numeric_limits<double>::max();
    for (int i = 0; i < trials; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      run();
      fastest = std::min(fastest, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return fastest;
  }

  std::uint64_t turns_;
};

// How many cores `threads` spinning threads get for `seconds`: their CPU time over the wall
// time, together. On an idle machine with that many cores, about `threads`; where something else
// runs at the same priority, less. (A build at nice 19 yields to them.)
inline double free_cores(int threads, double seconds) {
  std::vector<double> cpu_s(static_cast<std::size_t>(threads));
  std::vector<std::thread> spinners;
  const auto t0 = std::chrono::steady_clock::now();
  const auto until =
      t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
  for (auto& cpu : cpu_s)
    spinners.emplace_back([&cpu, until] {
      const metrics::ThreadTime start = metrics::thread_time();
      while (std::chrono::steady_clock::now() < until) echo::spin_turns(1000);
      cpu = static_cast<double>(metrics::thread_time().cpu_ns - start.cpu_ns) / 1e9;
    });
  for (auto& t : spinners) t.join();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double total = 0;
  for (const double c : cpu_s) total += c;
  return total / wall;
}

// CPU seconds every program on the machine has used since boot, from /proc/stat (user, nice,
// system, irq, softirq and steal, over all CPUs); 0 where it cannot be read.
inline double machine_cpu_s() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  if (!(stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal)) return 0;
  return static_cast<double>(user + nice + system + irq + softirq + steal) /
         static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// CPU seconds this process and its children that have ended have used.
inline double own_cpu_s() {
  double total = 0;
  for (const int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    rusage u{};
    ::getrusage(who, &u);
    for (const timeval& t : {u.ru_utime, u.ru_stime})
      total += static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  }
  return total;
}

}  // namespace tvl::exercise
