#include "harness/capacity.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "measure/process.hpp"
#include "scenarios/fanout.hpp"

namespace tvl::capacity {
namespace {

// Deliveries the offered load asks for in one probe: a topic reaches every subscriber, a queue
// one of them.
double offered_deliveries(const load::Params& lp) {
  const double per_message = fanout::is_queue(lp.channel) ? 1.0 : lp.subscribers;
  return std::floor(lp.duration_s * lp.rate) * per_message;
}

// What the broker did wrong in a probe, most telling first; kPass when nothing.
void judge_broker(const Options& o, const load::Params& lp, Probe& p) {
  const auto& r = p.point.result;
  const double want = offered_deliveries(lp);
  auto fail = [&p](const char* verdict, std::string detail) { p.verdict = verdict, p.detail = std::move(detail); };
  p.verdict = kPass;
  const double dropped = p.counter("broker_dropped"), cut = p.counter("broker_slow_disconnects");
  if (dropped > 0 || cut > 0)
    return fail(kDrops,
                fmt::format("the broker dropped {:.0f} deliveries and cut off {:.0f} subscribers", dropped, cut));
  if (r.gaps > 0 || r.duplicates_or_reordered > 0)
    return fail(kLoss, fmt::format("{} deliveries missing in the middle of a subscriber's stream, {} duplicated or "
                                   "reordered",
                                   r.gaps, r.duplicates_or_reordered));
  if (r.cut_short_s > 0)
    return fail(kLatency, fmt::format("cut short after {:.2f} s: over 1% of the offered deliveries were already later "
                                      "than the SLO of {} ms",
                                      r.cut_short_s, o.slo_ms));
  if (r.publishers_stalled > 0)
    return fail(kLatency, fmt::format("the broker stopped reading the publisher: {} of {:.0f} offered deliveries "
                                      "arrived",
                                      r.delivered, want));
  // Not dropped and no gap: what has not arrived is still on its way, late.
  if (r.lost > 0)
    return fail(kLatency, fmt::format("{} of {} deliveries had not arrived {:.1f} s after the schedule ended", r.lost,
                                      r.expected, lp.drain_s));
  if (static_cast<double>(r.delivered) < o.min_delivered * want)
    return fail(kLatency, fmt::format("only {} of {:.0f} offered deliveries ({:.1f}%) arrived: the broker could "
                                      "not take the load in time",
                                      r.delivered, want, 100.0 * static_cast<double>(r.delivered) / want));
  if (p.p99_ms > o.slo_ms) return fail(kLatency, fmt::format("p99 {:.2f} ms > the SLO of {} ms", p.p99_ms, o.slo_ms));
}

// The judgement of one probe. Counts that cannot be are a bug, whatever else happened. A probe
// that passed did so with every delay the generator added counted against it, so it stands even
// when the generator was busy; a probe that failed while the generator was saturated or starved
// says nothing about the broker: load-bound.
void judge(const Options& o, const load::Params& lp, Probe& p) {
  const auto& r = p.point.result;
  if (!p.point.impossible.empty()) {
    p.verdict = kCheck, p.detail = p.point.impossible;
    return;
  }
  judge_broker(o, lp, p);
  if (!p.passed() && r.load_bound) {
    p.detail = fmt::format("the load generator was busy {:.0f}% of the time, so this failure ({}: {}) may be its own",
                           100 * r.load_busy, p.verdict, p.detail);
    p.verdict = kLoadBound;
  }
}

}  // namespace

double Probe::counter(const std::string& name) const {
  for (const auto& [k, v] : point.counters)
    if (k == name) return v;
  return 0;
}

double Result::cpu_s_per_million() const {
  if (!at_capacity || at_capacity->point.result.delivered <= 0 || at_capacity->broker_cpu_s() < 0) return 0;
  return at_capacity->broker_cpu_s() / (static_cast<double>(at_capacity->point.result.delivered) / 1e6);
}

Probe probe(const Options& o, double offered, double seconds, bool goodput) {
  load::Params lp = o.load;
  const double per_message = fanout::is_queue(lp.channel) ? 1.0 : lp.subscribers;
  lp.rate = offered / per_message;
  // A warm-up first, then the probe proper: only the latter's latencies are judged.
  lp.warmup_s = goodput && seconds > 0 ? 0 : o.warmup_s;  // the flood only wants a rough rate
  lp.duration_s = lp.warmup_s + (seconds > 0 ? seconds : o.probe_s);
  lp.tick_s = o.tick_s;
  // Once over 1% of the judged deliveries are later than the SLO, p99 cannot meet it: stop.
  lp.late_ns = static_cast<std::int64_t>(o.slo_ms * 1e6);
  const double judged = std::floor((seconds > 0 ? seconds : o.probe_s) * lp.rate) * per_message;
  lp.late_limit = goodput ? 0 : static_cast<std::int64_t>(std::ceil(0.01 * judged));
  // Long enough to see what was lost; a probe whose last deliveries need more than this is
  // far over any SLO.
  lp.drain_s = std::max(1.0, 20 * o.slo_ms / 1e3);
  if (goodput) lp.drain_s = kGoodputDrain;  // goodput counts what arrived while it was offered
  Probe p;
  p.offered = offered;
  p.point = fanout_point::run_point(o.target, lp);
  // A signal stopped the broker (process::catch_interrupts): the probe says nothing about it.
  if (process::interrupted()) throw process::Interrupted();
  const auto& r = p.point.result;
  p.delivered_per_s = r.seconds > 0 ? static_cast<double>(r.delivered) / r.seconds : 0;
  p.p99_ms = static_cast<double>(r.from_intended_ns.percentile(99)) / 1e6;
  judge(o, lp, p);
  return p;
}

Result search(const Options& o, const std::function<void(const Probe&)>& progress) {
  Result res;
  double lo = 0, hi = 0;  // the highest offered load that passed, the lowest that failed (0: none yet)
  double next = o.start;
  if (next <= 0) {
    // A publisher builds what is due in one batch: cap the messages, not only the deliveries.
    const double per_message = fanout::is_queue(o.load.channel) ? 1.0 : o.load.subscribers;
    Probe flood = probe(o, std::min(kFloodOffered, kFloodMessages * per_message), kFloodSeconds, true);
    flood.verdict = "flood", flood.detail = "calibration: the first probe offers half of what it delivered";
    if (progress) progress(flood);
    next = std::max(o.floor, flood.delivered_per_s / 2);
    res.flood = std::move(flood);
  }
  // Below ten messages a second there is nothing left to measure.
  const double floor = std::max(o.floor, 10 * (fanout::is_queue(o.load.channel) ? 1.0 : o.load.subscribers));
  res.limit = "max-probes";
  while (static_cast<int>(res.probes.size()) < o.max_probes) {
    Probe p = probe(o, next);
    if (progress) progress(p);
    res.probes.push_back(p);
    if (p.passed()) {
      lo = next, res.at_capacity = p;
    } else {
      hi = next, res.limit = p.verdict;
      if (p.verdict == kCheck) break;  // counts that cannot be: a bug to fix, not a limit
      // Nothing above a load-bound failure would be the broker's number; below it, with no pass
      // yet, a lighter load may still be the broker's.
      if (p.verdict == kLoadBound && lo > 0) break;
    }
    if (hi == 0) {
      next = 2 * lo;  // ramp up
    } else if (lo == 0) {
      next = hi / 4;  // even the first probe failed: ramp down, faster than up (nothing to bisect yet)
      if (next < floor) break;
    } else if (hi / lo <= 1 + o.precision) {
      break;
    } else {
      next = std::sqrt(lo * hi);  // bisect on a log scale: the error is a ratio
    }
  }
  res.capacity = lo;
  res.load_bound = res.limit == kLoadBound;
  if (lo > 0 && o.overload > 0 && res.limit != kCheck) {
    Probe p = probe(o, o.overload * lo, 0, true);
    if (progress) progress(p);
    if (p.verdict == kCheck) {
      res.limit = kCheck;  // counts that cannot be: no goodput is reported from them
    } else {
      res.goodput = p.delivered_per_s;
      res.collapsed = res.goodput < kCollapseBelow * lo;
    }
    res.overload = std::move(p);
  }
  return res;
}

std::string describe(const Probe& p) {
  const auto& r = p.point.result;
  return fmt::format(
      "offered {:>10.0f}/s  delivered {:>10.0f}/s  p99 {:>8.2f} ms  broker CPU {:>5.2f} s  load busy "
      "{:>3.0f}%  {}{}",
      p.offered, p.delivered_per_s, p.p99_ms, p.broker_cpu_s(), 100 * r.load_busy,
      p.passed()             ? "pass"
      : p.verdict == "flood" ? "flood"
                             : "FAIL " + p.verdict,
      p.detail.empty() ? "" : ": " + p.detail);
}

}  // namespace tvl::capacity
