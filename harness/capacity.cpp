#include "harness/capacity.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "measure/process.hpp"
#include "scenarios/fanout.hpp"

namespace tvl::capacity {
namespace {

// Of every message, a topic delivers a copy to each subscriber, a queue one copy to one of them.
double per_message(const load::Params& lp) { return fanout::is_queue(lp.channel) ? 1.0 : lp.subscribers; }

// Messages the schedule plans: each publisher sends floor(duration x its share of the rate).
double planned_messages(const load::Params& lp) {
  const double each = lp.rate / lp.publishers;
  return lp.publishers * std::floor(lp.duration_s * each);
}

// Of those, the messages meant to go after the warm-up: the ones whose latencies are judged.
double planned_judged_messages(const load::Params& lp) {
  const double each = lp.rate / lp.publishers;
  return lp.publishers * std::max(0.0, std::floor(lp.duration_s * each) - std::ceil(lp.warmup_s * each));
}

// Messages a probe must judge: enough for kMinJudged latencies (with a margin), at least one, and
// on a queue one delivery per subscriber.
double needed_messages(const load::Params& lp) {
  const double latencies = std::max(kJudgedMargin * kMinJudged, fanout::is_queue(lp.channel) ? lp.subscribers : 1.0);
  return std::max(1.0, std::ceil(latencies / per_message(lp)));
}

// The length after the warm-up at which the schedule judges `needed_messages`: each publisher's
// share, plus half a message interval so that rounding cannot leave the last one out.
double seconds_to_judge_enough(const load::Params& lp) {
  const double each = lp.rate / lp.publishers;
  const double per_publisher = std::ceil(needed_messages(lp) / lp.publishers);
  return (per_publisher + std::ceil(lp.warmup_s * each) + 0.5) / each - lp.warmup_s;
}

// The lowest offered deliveries/s whose probe, stretched as far as it may be, still judges enough
// latencies: below it the search has nothing to learn.
double lowest_judgeable(const Options& o) {
  // One message more than needed: the window's edges may round one away.
  const double messages_per_s = (needed_messages(o.load) + 1) / (kMaxStretch * o.probe_s);
  return std::max(o.min_offered, messages_per_s * per_message(o.load));
}

// |a - b| / max(a, b): how far apart two runs of the same rate came out (0 when both are 0).
double spread(double a, double b) {
  const double larger = std::max(a, b);
  return larger > 0 ? std::abs(a - b) / larger : 0;
}

void set_verdict(Probe& p, const char* verdict, std::string detail) {
  p.verdict = verdict;
  p.detail = std::move(detail);
}

// What the broker did wrong in a probe, most telling first; kPass when nothing.
void judge_broker(const Options& o, const load::Params& lp, Probe& p) {
  const auto& r = p.point.result;
  const double want = planned_messages(lp) * per_message(lp);
  const double slo = slo_ms(o);
  p.verdict = kPass;
  const double dropped = p.counter("broker_dropped");
  const double cut = p.counter("broker_slow_disconnects");
  if (dropped > 0 || cut > 0)
    return set_verdict(
        p, kDrops, fmt::format("the broker dropped {:.0f} deliveries and cut off {:.0f} subscribers", dropped, cut));
  if (r.gaps > 0 || r.duplicates_or_reordered > 0)
    return set_verdict(p, kLoss,
                       fmt::format("{} deliveries missing in the middle of a subscriber's stream, {} duplicated or "
                                   "reordered",
                                   r.gaps, r.duplicates_or_reordered));
  if (r.cut_short_s > 0)
    return set_verdict(p, kLatency,
                       fmt::format("cut short after {:.2f} s: over 1% of the offered deliveries were already later "
                                   "than the SLO of {} ms",
                                   r.cut_short_s, slo));
  if (r.publishers_stalled > 0)
    return set_verdict(p, kLatency,
                       fmt::format("the broker stopped reading the publisher: {} of {:.0f} offered deliveries "
                                   "arrived",
                                   r.delivered, want));
  // Not dropped and no gap: what has not arrived is still on its way, late.
  if (r.lost > 0)
    return set_verdict(p, kLatency,
                       fmt::format("{} of {} deliveries had not arrived {:.1f} s after the schedule ended", r.lost,
                                   r.expected, lp.drain_s));
  if (static_cast<double>(r.delivered) < o.min_delivered * want)
    return set_verdict(p, kLatency,
                       fmt::format("only {} of {:.0f} offered deliveries ({:.1f}%) arrived: the broker could "
                                   "not take the load in time",
                                   r.delivered, want, 100.0 * static_cast<double>(r.delivered) / want));
  if (p.p99_ms > slo) return set_verdict(p, kLatency, fmt::format("p99 {:.2f} ms > the SLO of {} ms", p.p99_ms, slo));
}

// A probe the broker passed stands only if it had something to judge: a p99 of nothing meets any
// bound. Not a failure either: a longer or busier probe would tell.
void judge_enough(const load::Params& lp, Probe& p) {
  const auto& r = p.point.result;
  if (r.published == 0)
    return set_verdict(p, kTooFew,
                       fmt::format("no message was published ({:.3g} messages/s for {:.2f} s): nothing to judge",
                                   lp.rate, lp.duration_s));
  if (fanout::is_queue(lp.channel) && r.delivered < lp.subscribers)
    return set_verdict(
        p, kTooFew,
        fmt::format("{} deliveries to {} subscribers of a queue: not one each", r.delivered, lp.subscribers));
  if (p.judged() < kMinJudged)
    return set_verdict(
        p, kTooFew,
        fmt::format("only {} latencies judged after the warm-up; a p99 needs at least {}", p.judged(), kMinJudged));
}

}  // namespace

const char* kind_name(ProbeKind k) {
  switch (k) {
    case ProbeKind::floor:
      return "floor";
    case ProbeKind::flood:
      return "flood";
    case ProbeKind::search:
      return "search";
    case ProbeKind::confirm:
      return "confirm";
    case ProbeKind::overload:
      return "overload";
  }
  return "?";
}

double default_slo_ms(int subscribers) {
  for (const auto& step : kDefaultSlo)
    if (subscribers <= step.up_to_subscribers) return step.slo_ms;
  return kDefaultSlo.back().slo_ms;
}

double slo_ms(const Options& o) { return o.slo_ms > 0 ? o.slo_ms : default_slo_ms(o.load.subscribers); }

double Probe::counter(const std::string& name) const {
  for (const auto& [k, v] : counters)
    if (k == name) return v;
  return 0;
}

double Probe::broker_cpu_s_per_million() const {
  const auto delivered = point.result.delivered;
  if (delivered <= 0 || broker_cpu_s() < 0) return 0;
  return broker_cpu_s() / (static_cast<double>(delivered) / 1e6);
}

double Probe::load_cpu_s_per_million() const {
  const auto delivered = point.result.delivered;
  if (delivered <= 0 || load_cpu_s() < 0) return 0;
  return load_cpu_s() / (static_cast<double>(delivered) / 1e6);
}

double Result::cpu_s_per_million() const { return at_capacity ? at_capacity->broker_cpu_s_per_million() : 0; }

double Result::load_cpu_s_per_million() const { return at_capacity ? at_capacity->load_cpu_s_per_million() : 0; }

double Result::projected_ceiling() const {
  const double per_million = cpu_s_per_million();
  return per_million > 0 ? 1e6 / per_million : 0;
}

double Result::goodput_ratio() const { return overload && saturation > 0 ? goodput / saturation : 0; }

const Probe* Result::lowest() const {
  const Probe* low = nullptr;
  for (const auto& p : probes)
    if (!low || p.offered < low->offered) low = &p;
  return low;
}

load::Params probe_params(const Options& o, double offered, ProbeKind kind, double seconds) {
  load::Params lp = o.load;
  lp.rate = offered / per_message(lp);
  const bool goodput = kind == ProbeKind::flood || kind == ProbeKind::overload;
  // A warm-up first, then the probe proper: only the latter's latencies are judged. The flood
  // only wants a rough rate.
  lp.warmup_s = kind == ProbeKind::flood ? 0 : o.warmup_s;
  double length = seconds;
  if (length <= 0) length = kind == ProbeKind::floor ? kFloorSeconds : o.probe_s;
  lp.duration_s = lp.warmup_s + length;
  if (kind != ProbeKind::flood && planned_judged_messages(lp) < needed_messages(lp))
    lp.duration_s = lp.warmup_s + std::min(kMaxStretch * length, seconds_to_judge_enough(lp));
  lp.tick_s = o.tick_s;
  const double slo = slo_ms(o);
  // Once over 1% of the judged deliveries are later than the SLO, p99 cannot meet it: a search
  // or confirmation probe stops. The others measure to the end.
  lp.late_ns = static_cast<std::int64_t>(slo * 1e6);
  const bool may_stop = kind == ProbeKind::search || kind == ProbeKind::confirm;
  const double judged = planned_judged_messages(lp) * per_message(lp);
  lp.late_limit = may_stop ? static_cast<std::int64_t>(std::ceil(0.01 * judged)) : 0;
  // Long enough to see what was lost; a probe whose last deliveries need more than this is far
  // over any SLO. Goodput counts what arrived while it was offered.
  lp.drain_s = goodput ? kGoodputDrain : std::max(1.0, 20 * slo / 1e3);
  lp.confirm_s = std::max(lp.confirm_s, lp.subscribers / kSubscriptionsPerSecond);
  return lp;
}

void judge(const Options& o, const load::Params& lp, Probe& p) {
  const auto& r = p.point.result;
  p.counters = catalog::fanout_counters(lp, p.point);
  p.seconds = lp.duration_s - lp.warmup_s;
  p.delivered_per_s = r.seconds > 0 ? static_cast<double>(r.delivered) / r.seconds : 0;
  p.p99_ms = static_cast<double>(r.from_intended_ns.percentile(99)) / 1e6;
  p.user_p99_ms = static_cast<double>(r.user_from_intended_ns.percentile(99)) / 1e6;
  // Counts that cannot be are a bug, whatever else happened.
  if (!p.point.impossible.empty()) return set_verdict(p, kCheck, p.point.impossible);
  judge_broker(o, lp, p);
  if (p.passed()) return judge_enough(lp, p);
  // A probe that passed did so with every delay the generator added counted against it, so it
  // stands even when the generator was busy; a probe that failed while the generator was
  // saturated or starved says nothing about the broker: load-bound.
  if (r.load_bound)
    set_verdict(p, kLoadBound,
                fmt::format("the load generator was busy {:.0f}% of the time, so this failure ({}: {}) may be its own",
                            100 * r.load_busy, p.verdict, p.detail));
}

Probe probe(const Options& o, double offered, ProbeKind kind, double seconds) {
  const load::Params lp = probe_params(o, offered, kind, seconds);
  Probe p;
  p.kind = kind;
  p.offered = offered;
  p.point = fanout_point::run_point(o.target, lp);
  // A signal stopped the broker (process::catch_interrupts): the probe says nothing about it.
  if (process::interrupted()) throw process::Interrupted();
  judge(o, lp, p);
  return p;
}

namespace {

// The search, one probe after another, each recorded in the result's log as it is run.
class Search {
 public:
  Search(const Options& o, const std::function<void(const Probe&)>& progress) : o_(o), progress_(progress) {
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
  Probe run_probe(double offered, ProbeKind kind, double seconds = 0) {
    Probe p;
    try {
      p = probe(o_, offered, kind, seconds);
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
    if (progress_) progress_(p);
    res_.log.push_back(p);
    if (kind != ProbeKind::overload && p.delivered_per_s > res_.saturation) {
      res_.saturation = p.delivered_per_s;
      res_.saturation_by = kind;
    }
    return p;
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
    const double messages_per_s = needed_messages(o_.load) / kFloorSeconds;
    return run_probe(messages_per_s * per_message(o_.load), ProbeKind::floor);
  }

  // A publisher builds what is due in one batch: cap the messages, not only the deliveries.
  Probe calibrate() {
    const double offered = std::min(kFloodOffered, kFloodMessages * per_message(o_.load));
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
      Probe p = run_probe(next, ProbeKind::search);
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
    return std::max(hi / 4, floor_rate);
  }

  // The highest passing search probe at or below `rate` (nullptr: none).
  const Probe* pass_at_or_below(double rate) const {
    const Probe* best = nullptr;
    for (const auto& p : res_.probes)
      if (p.passed() && p.offered <= rate && (!best || p.offered > best->offered)) best = &p;
    return best;
  }

  // The capacity stands if its rate passes a second time. If not, that rate has now failed too:
  // the search bisects again between the next pass below and it, and confirms what it finds
  // (kMaxConfirmations runs at most; each re-search may run kMaxProbesPerRetry probes). A
  // capacity whose last confirmation failed is kept, but unconfirmed.
  void confirm() {
    for (int tries = 0; tries < kMaxConfirmations && lo_ > 0; ++tries) {
      const Probe* candidate = pass_at_or_below(lo_);
      if (!candidate) return;
      res_.at_capacity = *candidate;
      res_.capacity = candidate->offered;
      Probe c = run_probe(candidate->offered, ProbeKind::confirm);
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
  Result res_;
  double lo_ = 0;          // the highest offered load that passed (0: none yet)
  double hi_ = 0;          // the lowest that failed (0: none yet)
  double floor_rate_ = 0;  // the lowest rate a probe can judge
};

}  // namespace

Result search(const Options& o, const std::function<void(const Probe&)>& progress) { return Search(o, progress).run(); }

std::string describe(const Probe& p) {
  const auto& r = p.point.result;
  const bool judged_against_slo = p.kind == ProbeKind::search || p.kind == ProbeKind::confirm;
  const std::string verdict = p.passed() ? std::string(kPass) : (judged_against_slo ? "FAIL " : "") + p.verdict;
  return fmt::format(
      "{:<8} offered {:>10.0f}/s  delivered {:>10.0f}/s  p99 {:>8.2f} ms (user {:.2f})  judged {:>8}  broker CPU "
      "{:>5.2f} s  load CPU {:>5.2f} s busy {:>3.0f}%  {}{}",
      kind_name(p.kind), p.offered, p.delivered_per_s, p.p99_ms, p.user_p99_ms, p.judged(), p.broker_cpu_s(),
      p.load_cpu_s(), 100 * r.load_busy, verdict, p.detail.empty() ? "" : ": " + p.detail);
}

}  // namespace tvl::capacity
