// Every primitives mechanism at a tiny size, pinned and unpinned: it runs and does all the
// work it claims (round trips, hand-overs, tasks). No timing is asserted: the machine is shared.
#include <gtest/gtest.h>

#include <unistd.h>
#include "tvl_command.hpp"

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "catalog/catalog.hpp"
#include "catalog_tests.hpp"

namespace {

using namespace tvl::primitives;

void smoke(const Mechanism& m, bool is_switch) {
  for (const bool pinned : {false, true}) {
    const RunParams p{.count = 200, .pinned = pinned};
    const RunResult r = m.run(p);
    EXPECT_NO_THROW(check_run(p, r, is_switch)) << m.model << "/" << m.variant << " pinned=" << pinned;
    EXPECT_EQ(r.done, 200);
    if (is_switch) {
      EXPECT_EQ(r.switches, 400);
    }
    if (pinned) {
      EXPECT_EQ(r.cpus, 1) << m.model << "/" << m.variant;
    }
  }
}

// One test per mechanism of the catalog (tests/catalog_tests.hpp): threads.semaphore_smoke...
const bool registered = [] {
  for (const bool is_switch : {true, false})
    for (const auto& m : is_switch ? tvl::catalog::primitive_switches() : tvl::catalog::primitive_creates())
      tvl::testing_catalog::register_test(
          m.model, m.variant, "smoke", [&m, is_switch] { smoke(m, is_switch); }, __FILE__, __LINE__);
  return true;
}();

}  // namespace

TEST(check, a_short_run_is_refused) {
  const RunParams p{.count = 10};
  RunResult r;
  r.done = 10, r.switches = 19, r.seconds = 1e-3;
  EXPECT_THROW(check_run(p, r, true), std::runtime_error);
  r.switches = 20, r.done = 9;
  EXPECT_THROW(check_run(p, r, true), std::runtime_error);
  r.done = 10;
  EXPECT_NO_THROW(check_run(p, r, true));
}

TEST(waiting, every_waiter_runs_in_process) {
  // The wait functions straight, without the fork: every task is created and measured once.
  for (const auto& w : tvl::catalog::primitive_waiters()) {
    int measured = 0;
    const Waiting got = w.run(50, [&] { ++measured; });
    EXPECT_EQ(got.created, 50) << w.variant << ": " << got.error;
    EXPECT_TRUE(got.error.empty()) << w.variant << ": " << got.error;
    EXPECT_EQ(measured, 1) << w.variant;
  }
}

// `tvl run primitives` as a user runs it: a tiny run prints every section and writes JSON
// that the plot script reads; bad values are usage errors (exit 2).
using tvl::testing_cli::Result, tvl::testing_cli::run_tvl;

TEST(cli, tiny_run_prints_table_and_writes_json) {
  const auto path =
      std::filesystem::temp_directory_path() / ("tvl_primitives_cli_" + std::to_string(getpid()) + ".json");
  const Result r = run_tvl(
      "run primitives --round-trips 200 --creates 20 --threads-n 10,20 --coroutines-n 100,300 --json " + path.string());
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* says : {"ns/switch", "us/create", "KiB/task", "threads/pipe", "asyncloop/sleep-queue", "stack"})
    EXPECT_NE(r.out.find(says), std::string::npos) << says << "\n" << r.out;
  std::ifstream in(path);
  const auto doc = nlohmann::json::parse(in);
  std::set<std::string> names;
  for (const auto& b : doc.at("benchmarks")) names.insert(b.at("name").get<std::string>());
  EXPECT_EQ(names.size(), 2 * (tvl::catalog::primitive_switches().size() + tvl::catalog::primitive_creates().size()) +
                              tvl::catalog::primitive_waiters().size());
  EXPECT_TRUE(names.count("primitives/asyncloop/post/pinned:1"));
  EXPECT_TRUE(names.count("primitives/threads/waiting/tasks_max:20"));
  EXPECT_TRUE(doc.at("context").contains("cpu_model"));
  std::filesystem::remove(path);
}

TEST(cli, bad_values_exit_2) {
  for (const char* args : {"--round-trips 0", "--creates -1", "--threads-n 10,0", "--threads-n 10,10",
                           "--coroutines-n many", "--json /nonexistent-dir/x.json"}) {
    const Result r = run_tvl(std::string("run primitives ") + args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.out;
  }
}
