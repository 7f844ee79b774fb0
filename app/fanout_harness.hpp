// One fan-out measurement, shared by `tvl sweep fanout` and tvl-bench's registry: start the
// broker (or a peer) as a child process, run the load against it, stop it with SIGTERM, and
// check its counters against the load's.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "app/loadgen.hpp"

namespace tvl::fanout_harness {

struct Target {
  std::string model = "asyncloop";  // threads | asyncloop | redis | python | python-uvloop
  std::string design = "improved";  // naive | improved (tvl brokers)
  std::size_t queue_depth = 10'000;
  std::string slow_policy = "drop";
  std::string tvl_exe;  // the tvl binary that runs `tvl broker` (empty: this very program)
};

struct Point {
  load::Result result;
  std::vector<std::pair<std::string, double>> counters;  // the load's, then broker_<counter>
  std::string check;                                     // empty when every check held
};

// Runs one point; throws when it could not run at all (limits, a broker that did not start).
Point run_point(const Target& t, load::Params lp);

// The tvl binary in the same folder as this program (for tvl-bench).
std::string tvl_beside_me();

}  // namespace tvl::fanout_harness
