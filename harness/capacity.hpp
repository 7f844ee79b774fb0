// The capacity of a fan-out broker: the highest offered deliveries/s it sustains for a whole
// probe (3 s by default) with nothing lost, nothing dropped, at least 99% of the offered
// deliveries arrived, and p99 latency from the *intended* send within an SLO — the way a
// "server scenario" benchmark reports the highest rate whose tail latency meets a bound, not a
// peak that no user could live with.
//
// Unless told where to start, a short flood (far more than any broker carries) measures roughly
// what the broker delivers flat out, and the first probe offers half of that. The search ramps
// the offered load (x2 until a probe fails), then bisects between the highest
// pass and the lowest failure until they are within `precision` of each other. Every probe
// starts a fresh broker (a child process, pinned apart from the load) and judges it. A probe
// that fails while the load generator itself was saturated or starved is `load-bound` and
// stops the search: nothing above it would be the broker's number. A probe that is bound to
// fail (over 1% of its deliveries already later than the SLO) is cut short. Then, optionally, one probe at
// `overload` x the capacity shows whether the broker holds its throughput or collapses.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "load/fanout_point.hpp"
#include "load/loadgen.hpp"

namespace tvl::capacity {

// Why a probe failed; "pass" when it did not.
inline constexpr const char* kPass = "pass";
inline constexpr const char* kLatency = "latency";       // p99 over the SLO, or deliveries still on their way
inline constexpr const char* kLoss = "loss";             // a gap in a subscriber's stream, or duplicates/reordering
inline constexpr const char* kDrops = "drops";           // the broker dropped or cut off subscribers
inline constexpr const char* kLoadBound = "load-bound";  // the generator was the limit: not the broker's number
inline constexpr const char* kCheck = "check";           // counts that cannot be (a bug): the search stops

// Goodput under overload below this share of the capacity is a collapse.
inline constexpr double kCollapseBelow = 0.8;

struct Options {
  fanout_point::Target target;  // the broker, its design, its CPUs
  load::Params load;            // subscribers, payload, load threads and CPUs; rate and duration are set per probe
  double slo_ms = 10;           // p99 from the intended send must be at most this
  double probe_s = 3;           // each probe's offered load lasts this long, after
  double warmup_s = 0.25;       // a warm-up whose latencies are not judged (its deliveries are)
  double tick_s = 0.001;        // publishers send what is due once per tick (load::Params::tick_s)
  double start = 0;             // deliveries/s of the first probe; 0: half of what a short flood delivers
  double precision = 0.05;      // stop bisecting when the highest failure / highest pass <= 1 + this
  double min_delivered = 0.99;  // share of the offered deliveries that must arrive
  double overload = 2;          // then offer this x the capacity (0: skip)
  double floor = 1'000;         // below this many deliveries/s (or ten messages/s) the search gives up
  int max_probes = 20;
};

struct Probe {
  double offered = 0;          // deliveries/s (messages/s x subscribers for a topic)
  double delivered_per_s = 0;  // deliveries that arrived / seconds from the first send to the last delivery
  double p99_ms = 0;           // from the intended send
  std::string verdict;         // kPass or a failure reason
  std::string detail;          // one line: what failed, with the numbers
  fanout_point::Point point;

  bool passed() const { return verdict == kPass; }
  double broker_cpu_s() const { return point.result.broker_cpu_s; }
  double counter(const std::string& name) const;  // a counter of the point; 0 when absent
};

struct Result {
  double capacity = 0;      // deliveries/s; 0 when no probe passed
  std::string limit;        // why the next step up failed (a failure reason, or "max-probes")
  bool load_bound = false;  // the limit was the generator: the capacity is a lower bound
  std::optional<Probe> at_capacity;
  std::vector<Probe> probes;
  std::optional<Probe> flood;     // the calibration that chose the first rate (when start was 0)
  std::optional<Probe> overload;  // offered overload x capacity
  double goodput = 0;             // deliveries/s under overload
  bool collapsed = false;         // goodput < kCollapseBelow x capacity

  double cpu_s_per_million() const;  // broker CPU seconds per million deliveries at capacity
};

// Offered deliveries/s of the calibration flood: more than any broker here carries.
inline constexpr double kFloodOffered = 16e6;
inline constexpr double kFloodMessages = 2e6;  // messages/s: at most this many, whatever the subscribers
inline constexpr double kFloodSeconds = 0.3;
inline constexpr double kGoodputDrain = 0.25;  // seconds a flood or an overload probe waits for stragglers

// Runs one probe at `offered` deliveries/s for `seconds` (0: o.probe_s) and judges it. A probe
// for goodput (the flood, the overload) runs its whole length; others stop once they must fail.
// Throws process::Interrupted when a signal cut the probe short (process::catch_interrupts).
Probe probe(const Options& o, double offered, double seconds = 0, bool goodput = false);

// The whole search, calling `progress` after every probe (the calibration flood and the
// overload probe included).
Result search(const Options& o, const std::function<void(const Probe&)>& progress = {});

// One line for a probe: rate, delivered, p99, broker CPU, generator busy, verdict and reason.
std::string describe(const Probe& p);

}  // namespace tvl::capacity
