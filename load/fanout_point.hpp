// One fan-out point, what the catalog runs for the fan-out (`tvl run fanout`, tvl-bench, the
// smoke tests), and what `tvl sweep fanout` and the capacity search repeat: start the broker
// (or a peer) as a child process, run the load against it, stop it with SIGTERM, and check its
// counters against the load's.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "load/loadgen.hpp"

namespace tvl::fanout_point {

struct Target {
  std::string model = "asyncloop";  // threads | asyncloop | asyncloop-mt | redis | python | python-uvloop
  fanout::Design design = fanout::Design::improved;  // tvl brokers
  std::size_t queue_depth = 10'000;
  std::size_t queue_bytes = 0;  // tvl brokers: bytes one subscriber's queue holds (0: the broker's default)
  int loops = 0;                // asyncloop-mt: event loops (0: one per CPU it may use)
  fanout::SlowPolicy slow_policy = fanout::SlowPolicy::drop;
  std::vector<int> cpus;                // the broker runs only on these CPUs (empty: anywhere)
  std::vector<std::string> extra_args;  // appended to the broker's command line
  std::string tvl_exe;                  // the tvl binary that runs `tvl broker` (empty: this very program)

  bool is_tvl() const { return model == "threads" || model.starts_with("asyncloop"); }
  // "peer" for redis and python
  std::string design_name() const { return is_tvl() ? std::string(fanout::name_of(design)) : "peer"; }
};

struct Point {
  load::Result result;
  nlohmann::json broker_stats;  // the counters the broker printed as it stopped (null: none, as for redis)
  std::string impossible;       // counts that cannot be (more delivered than sent...): a bug, never a result
  std::string check;            // empty when every check held (impossible counts, loss, a stalled publisher)
};

// Where the broker and the load generator run. By default they are pinned apart: the broker on
// the first CPU this process may use, the load on the others (on a 2-core machine: broker on
// CPU 0, load on CPU 1), the same for every broker, so that models compare on equal CPUs.
struct Placement {
  std::vector<int> broker, load;  // empty: not pinned
  std::string describe() const;   // "broker on CPU 0, load on CPU 1", "not pinned"
  nlohmann::json to_json() const;
};
// broker_cpus / load_cpus: CPU lists as typed (empty: the default); no_pin: leave both free.
// Throws std::invalid_argument on a malformed list or a CPU this process may not use.
Placement place(const std::string& broker_cpus, const std::string& load_cpus, bool no_pin);

// Runs one point; throws when it could not run at all (limits, a broker that did not start).
Point run_point(const Target& t, load::Params lp);

// The tvl binary in the same folder as this program (for tvl-bench).
std::string tvl_beside_me();

}  // namespace tvl::fanout_point
