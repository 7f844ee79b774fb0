// The capacity of a fan-out broker: the highest offered deliveries/s it sustains for a whole
// probe (3 s by default) with nothing lost, nothing dropped, at least 99% of the offered
// deliveries arrived, and p99 latency from the *intended* send within an SLO — the way a
// "server scenario" benchmark reports the highest rate whose tail latency meets a bound, not a
// peak that no user could live with.
//
// The bound depends on the fan-out degree, as MLPerf's server scenario fixes one per model: one
// message to 10,000 subscribers is 10,000 writes, and no broker finishes them in the time it
// writes to 10 (kDefaultSlo; --slo-ms overrides). Every broker at a given count gets the same one.
//
// The search, probe by probe (every probe starts a fresh broker, a child process pinned apart
// from the load, and is judged):
// 1. the floor: a trickle (just enough messages to judge kMinJudged latencies in kFloorSeconds) whose
//    p99 is what one message's fan-out to N subscribers costs, with nothing queued behind it;
// 2. unless told where to start, a short flood (far more than any broker carries) measures
//    roughly what the broker delivers flat out; the first probe offers half of that;
// 3. the offered load ramps (x2 until a probe fails), then bisects between the highest pass and
//    the lowest failure until they are within `precision` of each other. A probe that fails
//    while the load generator itself was saturated or starved is `load-bound` and stops the
//    search: nothing above it would be the broker's number. A probe that is bound to fail (over
//    1% of its deliveries already later than the SLO) is cut short;
//    A failure close to the bound (p99 at most kMarginalSlos x the SLO: one stall of a shared
//    machine in a short probe is enough for it near the knee) is marginal: its rate is run
//    again, and two runs of three decide whether it passed;
// 4. the capacity is confirmed: its rate is probed again and stands only if two of its runs pass
//    (as MLPerf confirms with repeated runs; a marginal failure of the confirmation gets a third
//    run); otherwise that rate counts as a failure, the search bisects again between the next
//    pass below and it, and confirms what it finds;
// 5. optionally, one probe at `overload` x the saturation rate (the most the broker delivered in
//    any probe, the flood included) shows whether the broker holds its throughput past its limit
//    or collapses (SEDA's "well-conditioned" test).
//
// The same search runs against the echo server (Options::echo, harness/capacity_echo.hpp): one
// request is one delivery, and its bound is one for every cell (kEchoSloMs).
//
// No probe passes vacuously: a pass needs at least kMinJudged latencies after the warm-up and at
// least one message published. A probe too short for that runs longer (up to kMaxStretch x its
// length); below the rate where even that is not enough, the search does not go.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog.hpp"
#include "load/echo_point.hpp"
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
inline constexpr const char* kTooFew = "too-few";        // too few latencies judged to estimate a p99: no verdict
// The probe could not run (a broker that did not confirm its subscriptions in time, one that did
// not start): a limit of this machine, named in the probe's detail; the search stops with what
// the probes before it found.
inline constexpr const char* kNotRun = "not-run";

// What a probe is for; each is written into the probe log with its name.
enum class ProbeKind {
  floor,     // a trickle: the broker's floor latency at this fan-out
  flood,     // far more than any broker carries, briefly: where the search starts
  search,    // a step of the ramp or of the bisection
  confirm,   // the capacity's rate again: it stands only if it passes twice
  overload,  // a multiple of the saturation rate: goodput past the limit
};
const char* kind_name(ProbeKind k);  // "floor", "flood", "search", "confirm", "overload"

// A p99 needs this many latencies after the warm-up to mean anything (ten above the 99th
// percentile); a probe that judged fewer neither passes nor fails.
inline constexpr std::uint64_t kMinJudged = 1'000;
// A probe plans this many times kMinJudged, so that the edges of the schedule cannot leave it short.
inline constexpr double kJudgedMargin = 1.2;
// A probe too short to judge kMinJudged latencies runs longer, up to this many times its length.
inline constexpr double kMaxStretch = 4;

// How long the floor probe lasts after the warm-up; its rate is what judges kMinJudged latencies
// in that time, at least one message.
inline constexpr double kFloorSeconds = 0.5;

// The default latency bound per fan-out degree: the first row whose subscriber count is at least
// the point's. A broker's floor (the p99 of one message's fan-out at a trickle, where every write
// is a cold one) must fit well within it. Measured on the 2-core machine this suite is tuned on
// (docs/fanout.md, "A latency bound per fan-out degree"): floors of 1-7 ms up to 100
// subscribers, about 30 ms at 1,000 and 320-390 ms at 10,000, some 30-40 us a subscriber. The
// bound gives about three times that: 0.1 ms a subscriber, never under 10 ms.
struct SloStep {
  int up_to_subscribers;
  double slo_ms;
};
inline constexpr std::array<SloStep, 4> kDefaultSlo{{
    {100, 10},
    {1'000, 100},
    {10'000, 1'000},
    {std::numeric_limits<int>::max(), 10'000},
}};
double default_slo_ms(int subscribers);

// A search or confirmation probe that failed on latency or drops with a p99 at most this many
// times the SLO is marginal: run again, two runs of three decide. Near the knee a single stall of
// some 10 ms (another process, a timer) in a 1 s probe is enough to fail it, and a bisection
// that trusted that one run settled up to a quarter lower in one run than in the next.
inline constexpr double kMarginalSlos = 1.5;

// Goodput under overload below this share of the saturation rate is a collapse.
inline constexpr double kCollapseBelow = 0.8;
// The capacity's rate is probed a second time; where that fails, the search bisects again
// below it (at most kMaxProbesPerRetry probes) and confirms what it finds: this many
// confirmation probes at most.
inline constexpr int kMaxConfirmations = 2;
inline constexpr int kMaxProbesPerRetry = 4;
// Subscriptions a broker confirms per second at the least: the load waits at least
// subscribers / this many seconds for them (the threaded broker on one core needs over 10 s for
// 10,000, each subscriber's thread starting while the others' run).
inline constexpr double kSubscriptionsPerSecond = 250;

struct Options {
  fanout_point::Target target;  // the broker, its design, its CPUs
  // Set: the probes run the echo server (`tvl serve echo`) instead of a broker, one request one
  // delivery (harness/capacity_echo.hpp; echo_options sets this and the load's protocol).
  std::optional<echo_point::Target> echo;
  load::Params load;            // subscribers, payload, load threads and CPUs; rate and duration are set per probe
  double slo_ms = 0;            // p99 from the intended send must be at most this (0: default_slo_ms)
  double probe_s = 3;           // each probe's offered load lasts this long, after
  double warmup_s = 0.5;        // a warm-up whose latencies are not judged (its deliveries are): a fresh
                                // broker's connections and buffers grow in its first few hundred ms
  double tick_s = 0.001;        // publishers send what is due once per tick (load::Params::tick_s)
  double start = 0;             // deliveries/s of the first probe; 0: half of what a short flood delivers
  double precision = 0.05;      // stop bisecting when the lowest failure / highest pass <= 1 + this
  double min_delivered = 0.99;  // share of the offered deliveries that must arrive
  double overload = 2;          // then offer this x the saturation rate (0: skip)
  double min_offered = 1'000;   // deliveries/s below which the search does not go
  int max_probes = 20;          // search probes (the floor, flood, confirmation and overload come on top)
};

// The bound the probes are judged by: o.slo_ms, or the default for the subscriber count (for the
// echo server, kEchoSloMs).
double slo_ms(const Options& o);

struct Probe {
  ProbeKind kind = ProbeKind::search;
  double offered = 0;          // deliveries/s (messages/s x subscribers for a topic)
  double seconds = 0;          // how long the load was offered after the warm-up (stretched if need be)
  double delivered_per_s = 0;  // deliveries that arrived / seconds from the first send to the last delivery
  double p99_ms = 0;           // from the intended send, to the kernel's receive stamp where there was one
  double user_p99_ms = 0;      // from the intended send, to when the generator read the bytes
  std::string verdict;         // kPass or a failure reason
  std::string detail;          // one line: what failed, with the numbers
  int run = 1;                 // which run of its rate: a marginal failure is run a 2nd (and a 3rd) time
  fanout_point::Point point;
  catalog::Counters counters;  // the point's, named as every scenario names them (set by judge)

  bool passed() const { return verdict == kPass; }
  std::uint64_t judged() const { return point.result.from_intended_ns.count(); }
  double broker_cpu_s() const { return point.result.broker_cpu_s; }
  double load_cpu_s() const { return point.result.load_cpu_s; }
  // CPU seconds per million deliveries (0 when nothing was delivered or the CPU is unknown).
  double broker_cpu_s_per_million() const;
  double load_cpu_s_per_million() const;
  double counter(const std::string& name) const;  // a counter of the point; 0 when absent
};

struct Result {
  double slo_ms = 0;                  // the bound every probe was judged by
  bool slo_default = true;            // from kDefaultSlo (false: --slo-ms)
  double capacity = 0;                // deliveries/s; 0 when no probe passed
  std::string limit;                  // why the next step up failed (a failure reason, or "max-probes")
  bool load_bound = false;            // the limit was the generator: the capacity is a lower bound
  std::optional<Probe> floor;         // the trickle
  std::optional<Probe> flood;         // the calibration that chose the first rate (when start was 0)
  std::vector<Probe> probes;          // the search's, in order
  std::optional<Probe> at_capacity;   // the search probe whose rate is the capacity
  std::optional<Probe> confirmation;  // the last confirmation run (of at_capacity's rate when it passed)
  bool confirmed = false;             // at_capacity's rate passed twice
  // Between the two passing runs of the capacity's rate: |a - b| / max(a, b).
  double spread_p99 = 0, spread_delivered = 0;
  double saturation = 0;                   // the most delivered/s in any probe before the overload
  std::optional<ProbeKind> saturation_by;  // the flood's or a probe's (floor, search, confirm)
  std::optional<Probe> overload;           // offered overload x saturation
  double goodput = 0;                      // deliveries/s under overload
  bool collapsed = false;                  // goodput < kCollapseBelow x saturation, the generator not the limit
  bool overload_under_offered = false;     // the generator published less than the saturation rate
  std::vector<Probe> log;                  // every probe, in the order run

  double cpu_s_per_million() const;       // broker CPU seconds per million deliveries at capacity
  double load_cpu_s_per_million() const;  // the generator's, at capacity
  // What one core would carry were the broker the only limit: 10^6 / its CPU s per million
  // deliveries at capacity, i.e. deliveries per broker CPU-second (0 when no probe passed).
  double projected_ceiling() const;
  double goodput_ratio() const;  // goodput / saturation (0 without an overload probe)
  const Probe* lowest() const;   // the search probe that offered least (nullptr: none ran)
};

// Offered deliveries/s of the calibration flood: more than any broker here carries.
inline constexpr double kFloodOffered = 16e6;
inline constexpr double kFloodMessages = 2e6;  // messages/s: at most this many, whatever the subscribers
inline constexpr double kFloodSeconds = 0.3;
inline constexpr double kGoodputDrain = 0.25;  // seconds a flood or an overload probe waits for stragglers

// The load of a probe at `offered` deliveries/s for `seconds` (0: o.probe_s, or kFloorSeconds
// for the floor), stretched up to kMaxStretch x when that would judge fewer than kMinJudged
// latencies. The flood and the overload probe run their whole length, measuring goodput; the
// floor too, measuring its whole p99; the others stop once they must fail.
load::Params probe_params(const Options& o, double offered, ProbeKind kind, double seconds = 0);

// Judges a probe that ran with `lp` (p.point filled in): its counters, rates, p99s, verdict and detail.
// Needs no broker: a test can judge a point it made up.
void judge(const Options& o, const load::Params& lp, Probe& p);

// Runs one probe and judges it. Throws process::Interrupted when a signal cut it short
// (process::catch_interrupts).
Probe probe(const Options& o, double offered, ProbeKind kind = ProbeKind::search, double seconds = 0);

// A failure on latency or drops with p99 at most kMarginalSlos x `slo_ms`: run again.
bool marginal(const Probe& p, double slo_ms);

// Runs one probe: `probe` unless a test gives the search a broker it made up.
using ProbeRunner = std::function<Probe(const Options& o, double offered, ProbeKind kind, double seconds)>;

// The whole search, calling `progress` after every probe (the floor, the flood, the
// confirmations and the overload probe included).
Result search(const Options& o, const std::function<void(const Probe&)>& progress = {}, const ProbeRunner& runner = {});

// One line for a probe: its kind, rate, delivered, p99 (kernel and user clock), latencies
// judged, broker and generator CPU, generator busy, verdict and reason.
std::string describe(const Probe& p);

}  // namespace tvl::capacity
