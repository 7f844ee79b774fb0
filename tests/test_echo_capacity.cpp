// `tvl capacity echo`: the fan-out's capacity search run against the echo server finds a
// capacity whose probes all checked, a probe with too few latencies does not pass, bad input is
// refused, and every row has the keys the map's plots read. Names: echo.<model>.<what>.
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "harness/capacity_echo.hpp"
#include "tvl_command.hpp"

namespace {

using namespace tvl;

// A small search at two connections, short probes and a coarse precision; the bound is loose
// (50 ms) so that a busy machine's hiccup at a low rate cannot leave the search without a pass.
capacity::Result small_search(const std::string& model, std::string& log) {
  echo_point::Target t;
  t.model = model;
  t.tvl_exe = TVL_BINARY;  // the test binary is not tvl: the probes start the real server
  capacity::Options o = capacity::echo_options(t, 2);
  o.probe_s = 0.3;
  o.precision = 0.5;
  o.overload = 0;
  o.slo_ms = 50;
  o.max_probes = 8;
  return capacity::search(o, [&log](const capacity::Probe& p) { log += capacity::describe(p) + "\n"; });
}

void expect_a_checked_capacity(const capacity::Result& r, const std::string& log) {
  EXPECT_GT(r.capacity, 0) << log;
  ASSERT_TRUE(r.at_capacity.has_value()) << log;
  EXPECT_EQ(r.at_capacity->point.result.lost, 0) << log;
  EXPECT_GE(r.at_capacity->judged(), capacity::kMinJudged) << log;
  EXPECT_EQ(r.log.front().kind, capacity::ProbeKind::floor);
  for (const auto& p : r.log) {
    // Every probe checked: no count that cannot be, no answer corrupted, duplicated or reordered.
    EXPECT_NE(p.verdict, capacity::kCheck) << capacity::describe(p);
    EXPECT_TRUE(p.point.impossible.empty()) << capacity::describe(p);
    EXPECT_EQ(p.point.result.gaps + p.point.result.duplicates_or_reordered, 0) << capacity::describe(p);
    if (!p.passed()) continue;
    EXPECT_GE(p.judged(), capacity::kMinJudged) << capacity::describe(p);
    EXPECT_GT(p.counter("server_requests"), 0) << capacity::describe(p);
  }
}

int exit_status(const std::string& args, std::string& out) {
  const std::string command = std::string(TVL_BINARY).append(" ").append(args).append(" 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return -1;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  const int raw = pclose(pipe);
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
}

}  // namespace

TEST(asyncloop, capacity_search_at_two_connections_finds_a_checked_capacity) {
  std::string log;
  expect_a_checked_capacity(small_search("asyncloop", log), log);
}

TEST(threads, capacity_search_at_two_connections_finds_a_checked_capacity) {
  std::string log;
  expect_a_checked_capacity(small_search("threads", log), log);
}

// A p99 of a few latencies meets any bound: fewer than kMinJudged is no verdict, not a pass.
TEST(capacity, a_probe_that_judged_too_few_latencies_does_not_pass) {
  echo_point::Target t;
  const capacity::Options o = capacity::echo_options(t, 2);
  const load::Params lp = capacity::probe_params(o, 2'000, capacity::ProbeKind::search);
  EXPECT_EQ(lp.protocol, fanout::Protocol::lines);
  const auto judged = [&](std::uint64_t latencies) {
    capacity::Probe p;
    auto& r = p.point.result;
    r.published = r.delivered = r.expected = static_cast<std::int64_t>(lp.rate * lp.duration_s);
    r.seconds = lp.duration_s;
    for (std::uint64_t i = 0; i < latencies; ++i) r.from_intended_ns.record(1'000'000);  // 1 ms each
    capacity::judge(o, lp, p);
    return p;
  };
  const auto few = judged(capacity::kMinJudged - 1);
  EXPECT_EQ(few.verdict, capacity::kTooFew) << few.detail;
  EXPECT_FALSE(few.passed());
  const auto enough = judged(capacity::kMinJudged);
  EXPECT_TRUE(enough.passed()) << enough.detail;
}

// One bound whatever the connection count; a pool too small for the connections, and a cell whose
// judgeable rates are all over what it carries, are named before any probe runs.
TEST(capacity, one_bound_for_every_cell_and_the_cells_that_cannot_run_are_named) {
  echo_point::Target t;
  const capacity::Options o = capacity::echo_options(t, 10'000);
  const auto lp = capacity::probe_params(o, 100, capacity::ProbeKind::search);
  EXPECT_EQ(capacity::slo_ms(o), capacity::kEchoSloMs);
  EXPECT_EQ(lp.subscribers, 10'000);
  EXPECT_FALSE(capacity::echo_cannot_serve(t, 10'000).size() > 0);
  // 10,000 connections must offer 2 requests each in a probe; at 1 ms of work on one core the
  // server spins through 1,000/s: no rate can be both judged and carried.
  echo_point::Target slow;
  slow.work_us = 1'000;
  slow.cpus = {0};
  EXPECT_FALSE(capacity::echo_cannot_judge(capacity::echo_options(slow, 10'000)).empty());
  EXPECT_TRUE(capacity::echo_cannot_judge(capacity::echo_options(slow, 10)).empty());
  t.model = "pool";
  t.threads = 4;
  EXPECT_TRUE(capacity::echo_cannot_serve(t, 4).empty());
  EXPECT_NE(capacity::echo_cannot_serve(t, 5).find("pool of 4 workers"), std::string::npos);
}

TEST(capacity, bad_input_exits_2_with_one_line) {
  for (const char* args : {"capacity echo --model nosuch", "capacity echo --model asyncloop --connections ''",
                           "capacity echo --model asyncloop --variant nosuch --connections 1",
                           "capacity echo --connections 10", "capacity echo --model threads --work-us -1",
                           "capacity echo --model threads --connections 0", "capacity --subscribers 10"}) {
    std::string out;
    EXPECT_EQ(exit_status(args, out), 2) << args << "\n" << out;
    EXPECT_NE(out.find("error"), std::string::npos) << args << "\n" << out;
  }
}

// One small search and one cell the pool cannot serve: both rows carry every key, and the one
// that did not run names the limit.
TEST(pool, capacity_rows_have_every_key_and_name_the_pools_limit) {
  int status = -1;
  const auto doc = testing_cli::run_tvl_json(
      "capacity echo --model pool --threads 2 --connections 2,3 --work-us 0 --block-ms 0 --probe-seconds 0.3 "
      "--precision 0.5 --overload 0 --max-probes 6 --slo-ms 50",
      status);
  EXPECT_EQ(status, 0);
  ASSERT_TRUE(doc.contains("benchmarks")) << doc.dump(2);
  ASSERT_EQ(doc["benchmarks"].size(), 2u) << doc.dump(2);
  for (const auto& row : doc["benchmarks"]) {
    for (const char* k : {"name",
                          "scenario",
                          "model",
                          "variant",
                          "connections",
                          "work_us",
                          "block_ms",
                          "capacity",
                          "load_bound",
                          "projected_ceiling",
                          "limit",
                          "limit_detail",
                          "slo_ms",
                          "floor_p99_us",
                          "p99_us",
                          "user_p99_us",
                          "cpu_us_per_request",
                          "load_cpu_us_per_request",
                          "server_rss_kib",
                          "saturation",
                          "goodput",
                          "goodput_ratio",
                          "overload_factor",
                          "overload_offered",
                          "collapsed",
                          "confirmed",
                          "spread_p99",
                          "probe_log"})
      EXPECT_TRUE(row.contains(k)) << k << " missing in " << row["name"];
    EXPECT_EQ(row["scenario"], "echo");
    EXPECT_EQ(row["slo_ms"], 50);
  }
  const auto& served = doc["benchmarks"][0];
  EXPECT_EQ(served["name"], "echo_capacity/pool/fixed/connections:2/work_us:0/block_ms:0");
  EXPECT_GT(served["capacity"].get<double>(), 0) << served.dump(2);
  for (const auto& p : served["probe_log"])
    for (const char* k : {"kind", "offered", "delivered_per_s", "p99_ms", "user_p99_ms", "judged", "verdict", "detail",
                          "load_bound", "server_cpu_s"})
      EXPECT_TRUE(p.contains(k)) << k;
  const auto& unserved = doc["benchmarks"][1];
  EXPECT_EQ(unserved["capacity"], 0);
  EXPECT_EQ(unserved["limit"], "not-run");
  EXPECT_NE(unserved["limit_detail"].get<std::string>().find("pool of 2 workers"), std::string::npos);
  EXPECT_TRUE(unserved["probe_log"].empty());
}
