// The capacity search (harness/capacity.hpp, steps 1-5): the floor, the flood that picks the first
// rate, the ramp and the bisection, the confirmation, and the overload probe. Each probe is run
// and judged by harness/capacity.cpp; this file only decides which rate to offer next and what
// the probes found together.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "harness/capacity.hpp"
#include "harness/capacity_detail.hpp"
#include "measure/process.hpp"

namespace tvl::capacity {
namespace {

using detail::needed_messages;
using detail::per_message;

// With nothing to bisect towards, each failed probe divides the rate by this.
constexpr double kRampDownFactor = 4;

// The lowest offered deliveries/s whose probe, stretched as far as it may be, still judges enough
// latencies: below it the search has nothing to learn.
double lowest_judgeable(const Options& o) {
  // One message more than needed: the window's edges may round one away.
  const double messages_per_s = (needed_messages(o.load) + 1) / (kMaxStretch * o.probe_s);
  const double lowest = std::max(o.min_offered, messages_per_s * per_message(o.load));
  return detail::is_echo(o.load) ? std::max(lowest, detail::echo_lowest_judgeable(o)) : lowest;
}

// |a - b| / max(a, b): how far apart two runs of the same rate came out (0 when both are 0).
double spread(double a, double b) {
  const double larger = std::max(a, b);
  return larger > 0 ? std::abs(a - b) / larger : 0;
}

// The search, one probe after another, each recorded in the result's log as it is run.
class Search {
 public:
  Search(const Options& o, const std::function<void(const Probe&)>& progress, const ProbeRunner& runner)
      : o_(o), progress_(progress), runner_(runner ? runner : ProbeRunner(probe)) {
    if (o_.echo) {
      o_.load.protocol = fanout::Protocol::lines;  // what the search plans by: one answer per request
      o_.load.subscribers = o_.load.publishers;
    }
    o_.slo_ms = slo_ms(o);
    res_.slo_ms = o_.slo_ms;
    res_.slo_default = o.slo_ms <= 0;
  }

  Result run() {
    res_.floor = measure_floor();
    if (res_.floor->verdict == kCheck) {
      stop_on_check();
      return std::move(res_);
    }
    double first = o_.start;
    if (first <= 0) {
      res_.flood = calibrate();
      first = res_.flood->delivered_per_s / 2;
    }
    bisect(std::max(first, lowest_judgeable(o_)));
    if (res_.limit == kCheck) return std::move(res_);
    confirm();
    if (res_.limit == kCheck) return std::move(res_);
    res_.load_bound = res_.limit == kLoadBound;
    if (o_.overload > 0) overload();
    return std::move(res_);
  }

 private:
  Probe run_probe(double offered, ProbeKind kind, double seconds = 0, int run = 1) {
    Probe p;
    try {
      p = runner_(o_, offered, kind, seconds);
    } catch (const process::Interrupted&) {
      throw;
    } catch (const std::runtime_error& e) {
      // The first probe that cannot run fails the whole point (nothing is known yet); a later
      // one ends the search with what the earlier probes found, and says why.
      if (res_.log.empty()) throw;
      p.kind = kind;
      p.offered = offered;
      p.verdict = kNotRun;
      p.detail = fmt::format("the probe could not run: {}", e.what());
    }
    p.run = run;
    if (progress_) progress_(p);
    res_.log.push_back(p);
    if (kind != ProbeKind::overload && p.delivered_per_s > res_.saturation) {
      res_.saturation = p.delivered_per_s;
      res_.saturation_by = kind;
    }
    return p;
  }

  // A search or confirmation probe of `offered`, and as many runs again as its verdict needs: a
  // pass, or a failure that is not marginal, decides alone; a marginal failure is run again, and
  // two runs of three decide (`passes_before`: runs of this rate that passed before, as the
  // search probe a confirmation repeats). Every run is in the log; the deciding one is returned.
  Probe run_decided(double offered, ProbeKind kind, int passes_before = 0) {
    int passes = passes_before, fails = 0;
    for (int run = 1;; ++run) {
      Probe p = run_probe(offered, kind, 0, run);
      (p.passed() ? passes : fails) += 1;
      const bool decided = p.passed() ? passes > fails : fails >= 2 || !marginal(p, o_.slo_ms);
      if (decided || passes + fails >= 3) return p;
    }
  }

  // Counts that cannot be: a bug to fix, not a limit; no capacity is reported from them.
  void stop_on_check() {
    res_.limit = kCheck;
    res_.capacity = 0;
    res_.at_capacity.reset();
    res_.confirmed = false;
  }

  // A trickle: just enough messages to judge kMinJudged latencies in kFloorSeconds, at least
  // one; each message's fan-out is over long before the next (at 10 subscribers 240 messages a
  // second, at 10,000 two: ten a second would already be more than a threaded broker on one
  // core delivers there).
  Probe measure_floor() {
    if (detail::is_echo(o_.load)) return run_probe(detail::echo_floor_offered(o_), ProbeKind::floor);
    const double messages_per_s = needed_messages(o_.load) / kFloorSeconds;
    return run_probe(messages_per_s * per_message(o_.load), ProbeKind::floor);
  }

  // A publisher builds what is due in one batch: cap the messages, not only the deliveries.
  Probe calibrate() {
    const double offered = detail::is_echo(o_.load) ? detail::echo_flood_offered(o_)
                                                    : std::min(kFloodOffered, kFloodMessages * per_message(o_.load));
    return run_probe(offered, ProbeKind::flood, kFloodSeconds);
  }

  // Ramps up from `next` (x2 while probes pass), or down (/4 while they fail) to the lowest rate
  // a probe can judge, then bisects on a log scale between the highest pass and the lowest failure.
  void bisect(double next) {
    floor_rate_ = lowest_judgeable(o_);
    res_.limit = "max-probes";
    search_from(next, o_.max_probes);
  }

  // The search loop, from `next` with lo_ and hi_ as they stand, until the two are within the
  // precision or `max_probes` search probes have run.
  void search_from(double next, int max_probes) {
    while (static_cast<int>(res_.probes.size()) < max_probes) {
      Probe p = run_decided(next, ProbeKind::search);
      res_.probes.push_back(p);
      if (p.verdict == kTooFew) {
        // Nothing at or below this rate can be judged: the floor of the search rises past it.
        floor_rate_ = std::max(floor_rate_, 2 * next);
        if (hi_ > 0 && floor_rate_ >= hi_) break;
        next = floor_rate_;
        continue;
      }
      if (p.verdict == kNotRun) {
        res_.limit = kNotRun;
        break;
      }
      if (p.passed()) {
        lo_ = next;
      } else {
        hi_ = next;
        res_.limit = p.verdict;
        if (p.verdict == kCheck) return;
        // Nothing above a load-bound failure would be the broker's number; below it, with no
        // pass yet, a lighter load may still be the broker's.
        if (p.verdict == kLoadBound && lo_ > 0) break;
      }
      if (hi_ == 0) {
        next = 2 * lo_;  // ramp up
      } else if (lo_ == 0) {
        next = ramp_down(hi_, floor_rate_);
        if (next <= 0) break;
      } else if (hi_ / lo_ <= 1 + o_.precision) {
        break;
      } else {
        next = std::sqrt(lo_ * hi_);  // bisect on a log scale: the error is a ratio
      }
    }
    res_.capacity = lo_;
  }

  // The next rate when every search probe failed, the lowest at `hi` (0: stop). The floor probe,
  // shorter than a search probe, is not the capacity, but a floor that passed shows where to
  // look: bisect towards it. (A floor that failed is not trusted the other way: one hiccup of a
  // busy machine in its second would drop the whole search below the broker's number.) Without
  // it, the rate falls faster than it rises (nothing to bisect yet), never below what a probe
  // can judge.
  double ramp_down(double hi, double floor_rate) const {
    const Probe& floor = *res_.floor;
    const double f = floor.offered;
    if (floor.passed() && f < hi) return hi / f <= 1 + o_.precision ? f : std::max(std::sqrt(f * hi), floor_rate);
    if (hi <= floor_rate) return 0;
    return std::max(hi / kRampDownFactor, floor_rate);
  }

  // The highest passing search probe at or below `rate` (nullptr: none).
  const Probe* pass_at_or_below(double rate) const {
    const Probe* best = nullptr;
    for (const auto& p : res_.probes)
      if (p.passed() && p.offered <= rate && (!best || p.offered > best->offered)) best = &p;
    return best;
  }

  // The capacity stands if its rate passes a second time (after a marginal failure, a third).
  // If not, that rate has now failed too: the search bisects again between the next pass below
  // and it, and confirms what it finds (kMaxConfirmations confirmations at most; each re-search
  // may run kMaxProbesPerRetry probes). A capacity whose last confirmation failed is kept, but
  // unconfirmed.
  void confirm() {
    for (int tries = 0; tries < kMaxConfirmations && lo_ > 0; ++tries) {
      const Probe* candidate = pass_at_or_below(lo_);
      if (!candidate) return;
      res_.at_capacity = *candidate;
      res_.capacity = candidate->offered;
      Probe c = run_decided(candidate->offered, ProbeKind::confirm, 1);
      res_.confirmation = c;
      if (c.verdict == kCheck) {
        stop_on_check();
        return;
      }
      if (c.passed()) {
        res_.confirmed = true;
        res_.spread_p99 = spread(candidate->p99_ms, c.p99_ms);
        res_.spread_delivered = spread(candidate->delivered_per_s, c.delivered_per_s);
        return;
      }
      if (c.verdict != kTooFew) res_.limit = c.verdict;
      if (c.verdict == kNotRun || tries + 1 == kMaxConfirmations) return;
      hi_ = candidate->offered;
      const Probe* below = pass_at_or_below(hi_ * (1 - 1e-9));
      if (!below) return;
      lo_ = below->offered;
      if (hi_ / lo_ > 1 + o_.precision)
        search_from(std::sqrt(lo_ * hi_), static_cast<int>(res_.probes.size()) + kMaxProbesPerRetry);
      if (res_.limit == kCheck) return;
    }
  }

  // Past saturation: a multiple of the most the broker delivered so far.
  void overload() {
    if (res_.saturation <= 0) return;
    Probe p = run_probe(o_.overload * res_.saturation, ProbeKind::overload);
    if (p.verdict == kNotRun) return;  // no goodput from a probe that did not run (its log line says why)
    if (p.verdict == kCheck) {
      res_.limit = kCheck;  // counts that cannot be: no goodput is reported from them
      res_.overload = std::move(p);
      return;
    }
    const auto& r = p.point.result;
    res_.goodput = p.delivered_per_s;
    // A generator that was itself saturated may have delivered too little to the subscribers'
    // side: a goodput it limited says nothing of a collapse (the row keeps the probe's load_bound).
    res_.collapsed = res_.goodput < kCollapseBelow * res_.saturation && !r.load_bound;
    // Offered at the saturation rate or more? A publisher the broker stopped reading was offered
    // the load and refused it; a generator that could not write it did not offer it.
    const double published_per_s = static_cast<double>(r.published) * per_message(o_.load) / (p.seconds + o_.warmup_s);
    res_.overload_under_offered = published_per_s < res_.saturation && (r.load_bound || r.publishers_stalled == 0);
    res_.overload = std::move(p);
  }

  Options o_;
  const std::function<void(const Probe&)>& progress_;
  ProbeRunner runner_;
  Result res_;
  double lo_ = 0;          // the highest offered load that passed (0: none yet)
  double hi_ = 0;          // the lowest that failed (0: none yet)
  double floor_rate_ = 0;  // the lowest rate a probe can judge
};

}  // namespace

bool marginal(const Probe& p, double slo_ms) {
  return (p.verdict == kLatency || p.verdict == kDrops) && p.p99_ms <= kMarginalSlos * slo_ms;
}

Result search(const Options& o, const std::function<void(const Probe&)>& progress, const ProbeRunner& runner) {
  return Search(o, progress, runner).run();
}

}  // namespace tvl::capacity
