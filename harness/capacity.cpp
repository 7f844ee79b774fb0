// One probe of the capacity search: the load it offers (probe_params), running it against a fresh
// broker, and its verdict (judge) against the SLO table; the search itself, which picks each
// probe's rate, is in harness/capacity_search.cpp.
#include "harness/capacity.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "harness/capacity_detail.hpp"
#include "harness/capacity_echo.hpp"
#include "measure/process.hpp"
#include "scenarios/fanout.hpp"

namespace tvl::capacity {

namespace detail {

// Of every message, a topic delivers a copy to each subscriber, a queue one copy to one of them;
// an echo request is answered once.
double per_message(const load::Params& lp) {
  return is_echo(lp) || fanout::is_queue(lp.channel) ? 1.0 : lp.subscribers;
}

// Messages a probe must judge: enough for kMinJudged latencies (with a margin), at least one, and
// on a queue one delivery per subscriber.
double needed_messages(const load::Params& lp) {
  const double latencies = std::max(kJudgedMargin * kMinJudged, fanout::is_queue(lp.channel) ? lp.subscribers : 1.0);
  return std::max(1.0, std::ceil(latencies / per_message(lp)));
}

}  // namespace detail

namespace {

using detail::needed_messages;
using detail::per_message;

// A probe that may stop early stops once this share of its judged deliveries came later than
// the SLO: its p99 can no longer meet it.
constexpr double kLateShare = 0.01;
// The others may take this many SLOs to arrive after the schedule ends, a second at least.
constexpr double kDrainSlos = 20;
constexpr double kMinDrainSeconds = 1;

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

// The length after the warm-up at which the schedule judges `needed_messages`: each publisher's
// share, plus half a message interval so that rounding cannot leave the last one out.
double seconds_to_judge_enough(const load::Params& lp) {
  const double each = lp.rate / lp.publishers;
  const double per_publisher = std::ceil(needed_messages(lp) / lp.publishers);
  return (per_publisher + std::ceil(lp.warmup_s * each) + 0.5) / each - lp.warmup_s;
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
  const char* server = detail::is_echo(lp) ? "server" : "broker";
  p.verdict = kPass;
  const double refused = p.counter("server_refused");  // the echo server found no thread for a connection
  if (refused > 0)
    return set_verdict(
        p, kDrops, fmt::format("the server refused {:.0f} connections: no thread could be started for them", refused));
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
                       fmt::format("the {} stopped reading the publisher: {} of {:.0f} offered deliveries "
                                   "arrived",
                                   server, r.delivered, want));
  // Not dropped and no gap: what has not arrived is still on its way, late.
  if (r.lost > 0)
    return set_verdict(p, kLatency,
                       fmt::format("{} of {} deliveries had not arrived {:.1f} s after the schedule ended", r.lost,
                                   r.expected, lp.drain_s));
  if (static_cast<double>(r.delivered) < o.min_delivered * want)
    return set_verdict(p, kLatency,
                       fmt::format("only {} of {:.0f} offered deliveries ({:.1f}%) arrived: the {} could "
                                   "not take the load in time",
                                   r.delivered, want, 100.0 * static_cast<double>(r.delivered) / want, server));
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

double slo_ms(const Options& o) {
  if (o.slo_ms > 0) return o.slo_ms;
  return o.echo ? kEchoSloMs : default_slo_ms(o.load.subscribers);
}

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
  if (o.echo) {
    lp.protocol = fanout::Protocol::lines;  // one connection per client, its own answers back
    lp.subscribers = lp.publishers;
  }
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
  lp.late_limit = may_stop ? static_cast<std::int64_t>(std::ceil(kLateShare * judged)) : 0;
  // Long enough to see what was lost; a probe whose last deliveries need more than this is far
  // over any SLO. Goodput counts what arrived while it was offered.
  lp.drain_s = goodput ? kGoodputDrain : std::max(kMinDrainSeconds, kDrainSlos * slo / 1e3);
  lp.confirm_s = std::max(lp.confirm_s, lp.subscribers / kSubscriptionsPerSecond);
  return lp;
}

void judge(const Options& o, const load::Params& lp, Probe& p) {
  const auto& r = p.point.result;
  p.counters = detail::is_echo(lp) ? detail::echo_counters(lp, p.point) : catalog::fanout_counters(lp, p.point);
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
  p.point = o.echo ? detail::run_echo_point(*o.echo, lp) : fanout_point::run_point(o.target, lp);
  // A signal stopped the broker (process::catch_interrupts): the probe says nothing about it.
  if (process::interrupted()) throw process::Interrupted();
  judge(o, lp, p);
  return p;
}

std::string describe(const Probe& p) {
  const auto& r = p.point.result;
  const bool judged_against_slo = p.kind == ProbeKind::search || p.kind == ProbeKind::confirm;
  const std::string verdict = p.passed() ? std::string(kPass) : (judged_against_slo ? "FAIL " : "") + p.verdict;
  const std::string kind = p.run > 1 ? fmt::format("{}#{}", kind_name(p.kind), p.run) : kind_name(p.kind);
  return fmt::format(
      "{:<9} offered {:>10.0f}/s  delivered {:>10.0f}/s  p99 {:>8.2f} ms (user {:.2f})  judged {:>8}  broker CPU "
      "{:>5.2f} s  load CPU {:>5.2f} s busy {:>3.0f}%  {}{}",
      kind, p.offered, p.delivered_per_s, p.p99_ms, p.user_p99_ms, p.judged(), p.broker_cpu_s(), p.load_cpu_s(),
      100 * r.load_busy, verdict, p.detail.empty() ? "" : ": " + p.detail);
}

}  // namespace tvl::capacity
