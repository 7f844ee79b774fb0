// One echo point (`tvl run echo`): start `tvl serve echo` as a child process, run the load's
// echo protocol against it (each connection sends open-loop requests and reads its answers),
// stop it with SIGINT, and check its counters against the load's.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "load/loadgen.hpp"

namespace tvl::echo_point {

inline constexpr std::string_view kStatsLinePrefix = "tvl-echo-stats ";  // what `tvl serve echo` prints last

struct Target {
  std::string model = "asyncloop";  // threads | pool | asyncloop | asyncloop-mt
  std::string variant;              // empty: the model's first
  double work_us = 0, block_ms = 0;
  int threads = 0;            // pool: workers; asyncloop-mt: loops; executor: its threads (0: the default)
  std::size_t stack_kib = 0;  // threads, pool
  std::vector<int> cpus;      // the server runs only on these CPUs (empty: anywhere)
  std::string tvl_exe;        // the tvl binary that runs `tvl serve echo` (empty: this very program)
};

struct Point {
  load::Result result;
  nlohmann::json server_stats;  // the counters the server printed as it stopped
  std::string check;            // empty when every check held
};

// lp.publishers connections (lp.subscribers is set to match), lp.rate requests/s in all.
// Throws when the point could not run at all (limits, a server that did not start).
Point run_point(const Target& t, load::Params lp);

}  // namespace tvl::echo_point
