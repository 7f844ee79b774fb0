// The echo server's probes (harness/capacity_echo.hpp): run one as the search expects a point,
// name its counters, and the rates its floor, flood and lowest probe offer.
#include "harness/capacity_echo.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "harness/capacity_detail.hpp"
#include "scenarios/echo.hpp"

namespace tvl::capacity {

namespace detail {

namespace {

// A connection sends its share of the rate; one that sends fewer than this many requests in a
// probe has none after the warm-up (the first one due always falls in it).
constexpr double kRequestsPerConnection = 2;
// The floor stays a trickle: at most this share of what one core spins through at W.
constexpr double kFloorShareOfWork = 0.25;
// A cell whose lowest judgeable rate is above this share of the work ceiling is not searched:
// the server also reads, parses and writes each request, so near the ceiling no probe passes.
constexpr double kJudgeableShareOfCeiling = 0.8;
// The flood offers this many times what the server's cores spin through at W.
constexpr double kFloodOverWork = 4;

// The lowest rate at which each of the connections sends kRequestsPerConnection in a probe of
// `seconds` (its warm-up included).
double every_connection_judged(const Options& o, double seconds) {
  return kRequestsPerConnection * o.load.publishers / seconds * (1 + 1e-6);
}

constexpr double kWorkDone = 0.8;        // share of W of CPU per answer the server must show
constexpr double kCpuClockSlack = 0.02;  // s: two ticks of the clock a process's CPU time is read on

// The server must have done the work each answer claims: at least kWorkDone of W of CPU per
// request answered, less two ticks of the clock its CPU time is read on. A spin calibrated
// wrong (or skipped) would otherwise make a model look faster than the work it was given.
std::string work_not_done(const echo_point::Target& t, const load::Result& r) {
  if (t.work_us <= 0 || r.broker_cpu_s < 0 || r.delivered == 0) return {};
  const double want = kWorkDone * t.work_us * 1e-6 * static_cast<double>(r.delivered) - kCpuClockSlack;
  if (r.broker_cpu_s >= want) return {};
  return fmt::format(
      "the server used {:.2f} s of CPU for {} answers of {} us of work each ({:.1f} us an answer): "
      "it did not do the work it was given",
      r.broker_cpu_s, r.delivered, t.work_us, r.broker_cpu_s * 1e6 / static_cast<double>(r.delivered));
}

}  // namespace

// Requests/s the server can carry at most in this cell (0: no such bound, W and B both 0): its
// CPUs spin through 1e6 / W each, and every model serves a connection's requests one after
// another, so each connection carries at most 1 / (W + B).
double work_ceiling(const Options& o) {
  if (!o.echo) return 0;
  const double work_us = o.echo->work_us;
  const double request_us = work_us + 1e3 * o.echo->block_ms;
  if (request_us <= 0) return 0;
  const double per_connection = o.load.publishers * 1e6 / request_us;
  if (work_us <= 0) return per_connection;
  const double cores =
      static_cast<double>(o.echo->cpus.empty() ? std::thread::hardware_concurrency() : o.echo->cpus.size());
  return std::min(cores * 1e6 / work_us, per_connection);
}

bool is_echo(const load::Params& lp) { return lp.protocol == fanout::Protocol::lines; }

fanout_point::Point run_echo_point(const echo_point::Target& t, const load::Params& lp) {
  echo_point::Point e = echo_point::run_point(t, lp);
  fanout_point::Point p;
  p.result = std::move(e.result);
  p.broker_stats = std::move(e.server_stats);
  p.check = e.check;
  // Counts that cannot be: the load's own, a server that printed no counters (it did not stop
  // as it should), or one that counted fewer requests than were answered.
  if (!p.result.impossible.empty())
    p.impossible = p.result.impossible;
  else if (p.broker_stats.is_null())
    p.impossible = "the echo server printed no counters: it did not stop cleanly";
  else if (p.broker_stats.value("requests", std::int64_t{0}) < p.result.delivered)
    p.impossible = fmt::format("the server counted {} requests, {} were answered",
                               p.broker_stats.value("requests", std::int64_t{0}), p.result.delivered);
  else
    p.impossible = work_not_done(t, p.result);
  return p;
}

catalog::Counters echo_counters(const load::Params& lp, const fanout_point::Point& point) {
  catalog::Counters counters = catalog::load_counters(lp, point.result);
  if (!point.broker_stats.is_null())
    for (const auto& [k, v] : point.broker_stats.items()) counters.emplace_back("server_" + k, v.get<double>());
  return counters;
}

double echo_floor_offered(const Options& o) {
  double offered = needed_messages(o.load) / kFloorSeconds;
  if (const double ceiling = work_ceiling(o); ceiling > 0) offered = std::min(offered, kFloorShareOfWork * ceiling);
  // But never so low that the floor, stretched as far as it may be, judges too little.
  const double stretched = o.warmup_s + kMaxStretch * kFloorSeconds;
  offered = std::max(offered, (needed_messages(o.load) + 1) / (kMaxStretch * kFloorSeconds));
  return std::max(offered, every_connection_judged(o, stretched));
}

double echo_lowest_judgeable(const Options& o) {
  return every_connection_judged(o, o.warmup_s + kMaxStretch * o.probe_s);
}

double echo_flood_offered(const Options& o) {
  const double ceiling = work_ceiling(o);
  return ceiling > 0 ? std::min(kFloodMessages, kFloodOverWork * ceiling) : kFloodMessages;
}

}  // namespace detail

Options echo_options(const echo_point::Target& t, int connections) {
  Options o;
  o.echo = t;
  o.load.protocol = fanout::Protocol::lines;
  o.load.publishers = connections;
  o.load.subscribers = connections;
  o.probe_s = kEchoProbeSeconds;
  o.warmup_s = kEchoWarmupSeconds;
  o.precision = kEchoPrecision;
  o.overload = kEchoOverload;
  o.max_probes = kEchoMaxProbes;
  o.min_offered = kEchoMinOffered;
  return o;
}

std::string echo_cannot_serve(const echo_point::Target& t, int connections) {
  if (t.model != "pool") return {};
  const int workers = echo::pool_workers(t.threads);
  if (connections <= workers) return {};
  return fmt::format(
      "pool of {} workers: each serves one connection until it leaves, so {} of {} connections would never be "
      "answered (not measured; --threads {} would serve them all)",
      workers, connections - workers, connections, connections);
}

std::string echo_cannot_judge(const Options& o) {
  // The search's lowest rate: enough latencies in a stretched probe, and a request from every
  // connection after the warm-up.
  const double stretched = kMaxStretch * o.probe_s;
  const double enough = (detail::needed_messages(o.load) + 1) / stretched;
  const double lowest = std::max({o.min_offered, enough, detail::echo_lowest_judgeable(o)});
  const double ceiling = detail::work_ceiling(o);
  const double usable = detail::kJudgeableShareOfCeiling * ceiling;
  if (ceiling <= 0 || lowest <= usable) return {};
  // The probe length at which both bounds on the lowest rate fall to that share of the ceiling.
  const double per_connection_s = (lowest / usable * (o.warmup_s + stretched) - o.warmup_s) / kMaxStretch;
  const double needed_s = std::max(per_connection_s, enough * o.probe_s / usable);
  return fmt::format(
      "a probe of {} s at {} connections cannot judge a p99 below {:.0f} requests/s, over {:.0f}% of the {:.0f}/s "
      "this cell carries at most ({} us of work per request on the server's CPUs, {} us of work and wait per "
      "request on each connection); not measured: --probe-seconds {:.1f} would judge it",
      o.probe_s, o.load.publishers, lowest, 100 * detail::kJudgeableShareOfCeiling, ceiling, o.echo->work_us,
      o.echo->work_us + 1e3 * o.echo->block_ms, std::ceil(needed_s * 10) / 10);
}

}  // namespace tvl::capacity
