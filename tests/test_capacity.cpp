// `tvl capacity`: the search finds a cap that is known in advance, a probe is judged by what
// failed, and bad placements are refused before anything runs.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
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
}

TEST(capacity, an_overload_probe_reports_goodput_of_a_broker_that_holds) {
  auto o = throttled_python(4'000, 2);
  o.overload = 2;
  o.start = 8'000 * 0.8;  // near the cap: few probes
  o.precision = 0.3;
  const auto r = capacity::search(o);
  ASSERT_GT(r.capacity, 0);
  ASSERT_TRUE(r.overload.has_value());
  EXPECT_DOUBLE_EQ(r.overload->offered, 2 * r.capacity);
  EXPECT_NE(r.overload->verdict, capacity::kPass);  // twice the cap cannot meet the SLO
  // A throttle pushes back on the publisher and keeps delivering at its cap: no collapse.
  EXPECT_GT(r.goodput, 0);
  EXPECT_EQ(r.overload->counter("broker_dropped"), 0);
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
