// `tvl capacity`: the search finds a cap that is known in advance, a probe is judged by what
// failed, a probe with too little to judge does not pass, and bad placements are refused before
// anything runs.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <set>
#include <string>

#include "harness/capacity.hpp"
#include "load/fanout_point.hpp"
#include "measure/process.hpp"

using namespace tvl;

namespace {

// A broker whose capacity is known: the Python peer accepting at most `msgs_per_s` messages per
// second (peers/asyncio_broker.py --max-rate), far below what it can do unthrottled.
capacity::Options throttled_python(double msgs_per_s, int subscribers) {
  capacity::Options o;
  o.target.model = "python";
  o.target.extra_args = {"--max-rate", std::to_string(msgs_per_s)};
  o.load.subscribers = subscribers;
  // Short probes keep the test quick, and a loose SLO keeps a noisy machine's hiccups from
  // failing a probe below the cap; the cap is still sharp: offered 5% above it, the backlog
  // grows by 100 ms over a 2 s probe, twice the SLO.
  o.probe_s = 2;
  o.slo_ms = 50;
  o.overload = 0;
  o.start = msgs_per_s * subscribers / 4;
  return o;
}

// A probe's point as if `messages` had been published to `subscribers` and every delivery had
// arrived, `judged` of them after the warm-up, each 1 ms after its intended send.
fanout_point::Point made_up_point(std::int64_t messages, int subscribers, std::uint64_t judged) {
  constexpr std::uint64_t kOneMs = 1'000'000;
  fanout_point::Point point;
  auto& r = point.result;
  r.published = messages;
  r.delivered = messages * subscribers;
  r.expected = r.delivered;
  r.subscribers_confirmed = subscribers;
  r.seconds = 1;
  r.broker_cpu_s = 0.1;
  for (std::uint64_t i = 0; i < judged; ++i) {
    r.from_intended_ns.record(kOneMs);
    r.user_from_intended_ns.record(kOneMs);
  }
  return point;
}

// A broker made up for the search alone: it carries `cap` deliveries/s, p99 1 ms below that and
// 50 ms above (a clear failure). The runs (every probe, counted from 1) listed in `stalls` meet a
// stall of the machine instead: p99 12 ms, over the 10 ms SLO but within kMarginalSlos of it;
// from `marginal_from` x cap up to the cap every run is that marginal.
struct MadeUpBroker {
  double cap = 1e6;
  std::set<int> stalls;
  double marginal_from = 1;
  int runs = 0;

  capacity::Probe operator()(const capacity::Options&, double offered, capacity::ProbeKind kind, double) {
    capacity::Probe p;
    p.kind = kind;
    p.offered = offered;
    p.delivered_per_s = std::min(offered, 1.2 * cap);
    p.p99_ms = offered > cap ? 50 : 1;
    if (stalls.count(++runs) || (offered >= marginal_from * cap && offered <= cap)) p.p99_ms = 12;
    p.verdict = p.p99_ms <= 10 || kind == capacity::ProbeKind::floor || kind == capacity::ProbeKind::flood
                    ? capacity::kPass
                    : capacity::kLatency;
    return p;
  }
};

capacity::Options made_up_search() {
  capacity::Options o;
  o.slo_ms = 10;
  o.overload = 0;
  return o;
}

// The runs of `r`'s log at `offered`.
int runs_at(const capacity::Result& r, double offered) {
  int n = 0;
  for (const auto& p : r.log) n += p.offered == offered;
  return n;
}

int exit_status(const std::string& args, std::string& out) {
  // Appended, not `std::string(TVL_BINARY) + " " + ...`: with the precompiled header GCC 12 inlines
  // that chain differently and warns falsely (-Warray-bounds in char_traits::copy).
  const std::string command = std::string(TVL_BINARY).append(" ").append(args).append(" 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return -1;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  const int raw = pclose(pipe);
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
}

}  // namespace

// The two searches against the throttled Python peer run in the normal build only (the sanitizer
// test presets in CMakePresets.json leave them out): the broker is Python, so nothing under test
// is instrumented but the search's own arithmetic, which the shorter tests here run under the
// sanitizers too, and their 20 s a preset is CI time better spent on the brokers' fault tests.
TEST(capacity, finds_the_cap_of_a_throttled_broker_within_10_percent) {
  const double cap = 4'000 * 2;  // 4,000 messages/s to 2 subscribers
  const auto o = throttled_python(4'000, 2);
  std::string log;
  const auto r = capacity::search(o, [&log](const capacity::Probe& p) { log += capacity::describe(p) + "\n"; });
  EXPECT_GE(r.capacity, 0.9 * cap) << log;
  EXPECT_LE(r.capacity, 1.1 * cap) << log;
  EXPECT_EQ(r.limit, capacity::kLatency) << log;  // above the cap the backlog grows: latency, not loss
  EXPECT_FALSE(r.load_bound) << log;
  ASSERT_TRUE(r.at_capacity.has_value());
  EXPECT_TRUE(r.at_capacity->passed());
  EXPECT_EQ(r.at_capacity->point.result.lost, 0);
  EXPECT_DOUBLE_EQ(r.at_capacity->offered, r.capacity);
  // The floor came first and judged enough to mean something; every pass judged a p99's worth.
  ASSERT_TRUE(r.floor.has_value());
  ASSERT_FALSE(r.log.empty());
  EXPECT_EQ(r.log.front().kind, capacity::ProbeKind::floor);
  EXPECT_GE(r.floor->judged(), capacity::kMinJudged) << log;
  EXPECT_GT(r.floor->p99_ms, 0) << log;
  for (const auto& p : r.log) {
    if (p.passed()) {
      EXPECT_GE(p.judged(), capacity::kMinJudged) << capacity::describe(p);
    }
  }
  // The capacity's rate ran a second time, and the row's numbers come from a real pass.
  ASSERT_TRUE(r.confirmation.has_value()) << log;
  EXPECT_EQ(r.confirmation->kind, capacity::ProbeKind::confirm);
  EXPECT_DOUBLE_EQ(r.confirmation->offered, r.capacity);
  EXPECT_GT(r.cpu_s_per_million(), 0);
  EXPECT_GT(r.projected_ceiling(), 0);
  EXPECT_DOUBLE_EQ(r.slo_ms, 50);
  EXPECT_FALSE(r.slo_default);
}

TEST(capacity, an_overload_probe_reports_goodput_of_a_broker_that_holds) {
  auto o = throttled_python(4'000, 2);
  o.overload = 2;
  o.start = 8'000 * 0.8;  // near the cap: few probes
  o.precision = 0.3;
  const auto r = capacity::search(o);
  ASSERT_GT(r.capacity, 0);
  ASSERT_TRUE(r.overload.has_value());
  // Overload is past saturation (the most any probe delivered), not past the SLO capacity.
  ASSERT_GT(r.saturation, 0);
  EXPECT_GE(r.saturation, 0.9 * r.capacity);
  EXPECT_DOUBLE_EQ(r.overload->offered, 2 * r.saturation);
  EXPECT_EQ(r.overload->kind, capacity::ProbeKind::overload);
  EXPECT_EQ(r.log.back().kind, capacity::ProbeKind::overload);
  EXPECT_NE(r.overload->verdict, capacity::kPass);  // twice the cap cannot meet the SLO
  // A throttle pushes back on the publisher and keeps delivering at its cap: no collapse.
  EXPECT_GT(r.goodput, 0);
  EXPECT_EQ(r.overload->counter("broker_dropped"), 0);
}

// One stall of a busy machine near the knee (a marginal failure: p99 just over the SLO) used to
// end the bisection below it, a quarter lower in one run than in the next. Its rate is now run
// again, and two runs of three decide: the search ends where it would have without the stall.
TEST(capacity, one_stall_near_the_knee_does_not_move_the_capacity) {
  const auto o = made_up_search();
  const auto calm = capacity::search(o, {}, MadeUpBroker{});
  ASSERT_GT(calm.capacity, 0);
  EXPECT_GE(calm.capacity, 1e6 / (1 + o.precision));
  EXPECT_LE(calm.capacity, 1e6);
  // The floor, the flood, the first search probe (0.6 x cap), the next (1.2 x cap), then the
  // bisection's first rate (0.85 x cap): the stall hits it.
  ASSERT_GE(calm.log.size(), 5U);
  const double stalled_rate = calm.log[4].offered;
  const auto r = capacity::search(o, {}, MadeUpBroker{.stalls = {5}});
  EXPECT_DOUBLE_EQ(r.capacity, calm.capacity);
  EXPECT_TRUE(r.confirmed);
  EXPECT_EQ(runs_at(r, stalled_rate), 3);  // failed, passed, and the third decided
  EXPECT_EQ(r.log.size(), calm.log.size() + 2);
  EXPECT_EQ(r.log[6].run, 3);
  // A clear failure (p99 five times the SLO) decides alone.
  EXPECT_EQ(runs_at(r, calm.log[3].offered), 1);

  // A stall on the confirmation: a third run of the capacity's rate passes, and confirms it.
  const int confirm_run = static_cast<int>(calm.log.size());
  ASSERT_EQ(calm.log.back().kind, capacity::ProbeKind::confirm);
  const auto c = capacity::search(o, {}, MadeUpBroker{.stalls = {confirm_run}});
  EXPECT_DOUBLE_EQ(c.capacity, calm.capacity);
  EXPECT_TRUE(c.confirmed);
  EXPECT_EQ(c.log.back().run, 2);
  EXPECT_EQ(c.log.size(), calm.log.size() + 1);
}

// A rate that fails marginally every time is a failure: two marginal runs of two decide it.
TEST(capacity, a_rate_that_fails_marginally_twice_has_failed) {
  const auto o = made_up_search();
  const auto r = capacity::search(o, {}, MadeUpBroker{.stalls = {}, .marginal_from = 0.8});
  EXPECT_LT(r.capacity, 0.8e6);
  EXPECT_GE(r.capacity, 0.8e6 / (1 + o.precision) / (1 + o.precision));
  bool ran_twice = false;
  for (const auto& p : r.log) {
    EXPECT_LE(p.run, 2) << capacity::describe(p);  // fail, fail: no third run
    ran_twice |= p.run == 2;
  }
  EXPECT_TRUE(ran_twice);
}

TEST(capacity, the_default_slo_is_set_per_fan_out_degree) {
  EXPECT_DOUBLE_EQ(capacity::default_slo_ms(10), 10);
  EXPECT_DOUBLE_EQ(capacity::default_slo_ms(100), 10);
  EXPECT_DOUBLE_EQ(capacity::default_slo_ms(101), 100);
  EXPECT_DOUBLE_EQ(capacity::default_slo_ms(1'000), 100);
  EXPECT_DOUBLE_EQ(capacity::default_slo_ms(10'000), 1'000);
  EXPECT_DOUBLE_EQ(capacity::default_slo_ms(100'000), 10'000);
  capacity::Options o;
  o.load.subscribers = 1'000;
  EXPECT_DOUBLE_EQ(capacity::slo_ms(o), 100);
  o.slo_ms = 7;  // --slo-ms
  EXPECT_DOUBLE_EQ(capacity::slo_ms(o), 7);
}

// A p99 of nothing meets any bound: a probe that published nothing, or judged fewer than
// kMinJudged latencies, is "too-few", never a pass; with enough it passes.
TEST(capacity, a_probe_that_judged_too_few_latencies_does_not_pass) {
  constexpr int kSubscribers = 10;
  capacity::Options o;
  o.load.subscribers = kSubscribers;
  o.probe_s = 2;
  // 100 messages/s: every message the schedule holds arrived, of which `judged_messages` after
  // the warm-up, whose latencies were judged.
  const auto judged = [&](double seconds, std::int64_t judged_messages) {
    auto lp = capacity::probe_params(o, 100.0 * kSubscribers, capacity::ProbeKind::search);
    lp.duration_s = lp.warmup_s + seconds;
    const auto messages = static_cast<std::int64_t>(std::floor(lp.duration_s * lp.rate));
    capacity::Probe p;
    p.point = made_up_point(messages, kSubscribers, static_cast<std::uint64_t>(judged_messages * kSubscribers));
    capacity::judge(o, lp, p);
    return p;
  };
  // Offered so little that the schedule holds no message (floor(duration x rate) == 0).
  const auto nothing = capacity::probe_params(o, 0.1 * kSubscribers, capacity::ProbeKind::search);
  EXPECT_LT(nothing.duration_s * nothing.rate, 1);
  capacity::Probe empty;
  empty.point = made_up_point(0, kSubscribers, 0);
  capacity::judge(o, nothing, empty);
  EXPECT_EQ(empty.verdict, capacity::kTooFew) << empty.detail;
  EXPECT_FALSE(empty.passed());

  const auto few = judged(0.5, 50);
  EXPECT_EQ(few.verdict, capacity::kTooFew) << few.detail;
  EXPECT_NE(few.detail.find("500"), std::string::npos) << few.detail;
  const auto enough = judged(2, 200);
  EXPECT_TRUE(enough.passed()) << enough.verdict << ": " << enough.detail;
  EXPECT_DOUBLE_EQ(enough.p99_ms, 1);
}

// A probe too short to judge a p99's worth runs longer, up to kMaxStretch x its length.
TEST(capacity, a_short_probe_runs_long_enough_to_judge_a_p99) {
  capacity::Options o;
  o.load.subscribers = 10;
  o.probe_s = 0.5;
  const auto short_one = capacity::probe_params(o, 1'000, capacity::ProbeKind::search);  // 100 messages/s
  const double judged_messages = (short_one.duration_s - short_one.warmup_s) * short_one.rate;
  EXPECT_GE(judged_messages * o.load.subscribers, capacity::kMinJudged);
  EXPECT_LE(short_one.duration_s - short_one.warmup_s, capacity::kMaxStretch * o.probe_s);
  const auto hopeless = capacity::probe_params(o, 10, capacity::ProbeKind::search);  // 1 message/s
  EXPECT_DOUBLE_EQ(hopeless.duration_s - hopeless.warmup_s, capacity::kMaxStretch * o.probe_s);
  const auto plenty = capacity::probe_params(o, 1e6, capacity::ProbeKind::search);
  EXPECT_DOUBLE_EQ(plenty.duration_s - plenty.warmup_s, o.probe_s);
}

// The same against a real broker: offered 0.1 message a second, a probe stretched to its limit
// still publishes nothing, and does not pass.
TEST(capacity, a_real_probe_that_publishes_nothing_does_not_pass) {
  capacity::Options o;
  o.target.model = "asyncloop";
  o.target.tvl_exe = TVL_BINARY;
  o.load.subscribers = 10;
  o.probe_s = 0.5;
  const auto p = capacity::probe(o, 1);
  EXPECT_EQ(p.point.result.published, 0) << capacity::describe(p);
  EXPECT_EQ(p.verdict, capacity::kTooFew) << capacity::describe(p);
  EXPECT_FALSE(p.passed());
}

TEST(capacity, cpu_lists_are_checked_before_anything_runs) {
  EXPECT_EQ(process::parse_cpus("0").size(), 1u);
  EXPECT_THROW(process::parse_cpus("x"), std::invalid_argument);
  EXPECT_THROW(process::parse_cpus("4096"), std::invalid_argument);
  EXPECT_THROW(process::parse_cpus("1-0"), std::invalid_argument);
  std::string out;
  EXPECT_EQ(exit_status("capacity --model threads --broker-cpus 4000", out), 2) << out;
  EXPECT_NE(out.find("CPU 4000 is not available"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(exit_status("capacity --model nosuch", out), 2) << out;
  out.clear();
  EXPECT_EQ(exit_status("capacity --model threads --no-pin --load-cpus 0", out), 2) << out;
}

TEST(capacity, the_default_placement_pins_broker_and_load_apart) {
  const auto all = process::allowed_cpus();
  const auto p = fanout_point::place("", "", false);
  ASSERT_EQ(p.broker.size(), 1u);
  EXPECT_EQ(p.broker.front(), all.front());
  if (all.size() > 1) {
    for (const int c : p.load) EXPECT_NE(c, p.broker.front());
    EXPECT_EQ(p.load.size(), all.size() - 1);
  }
  const auto free = fanout_point::place("", "", true);
  EXPECT_TRUE(free.broker.empty() && free.load.empty());
}
