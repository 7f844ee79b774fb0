// `tvl sweep restaurant`: every point runs in a child; a point that fails is recorded with
// its reason and the sweep goes on.
#include <gtest/gtest.h>

#include <unistd.h>
#include "tvl_command.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace {

nlohmann::json sweep(const std::string& args, int& status) {
  return tvl::testing_cli::run_tvl_json("sweep restaurant " + args, status);
}

}  // namespace

TEST(sweep, a_point_over_the_time_limit_is_recorded_and_the_sweep_goes_on) {
  int status = -1;
  // The second point's diners eat for 3 s; the limit is 2 s.
  const auto j =
      sweep("--model asyncloop --tables 5,6 --ramp 0.01 --menu-ms 1 --cook-ms 1 --eat-ms 5 --timeout 2", status);
  ASSERT_EQ(status, 0);
  ASSERT_EQ(j["benchmarks"].size(), 2u);
  EXPECT_FALSE(j["benchmarks"][0].contains("sweep_failed"));
  EXPECT_EQ(j["benchmarks"][0]["meals"], 5);
  const auto k = sweep("--model asyncloop --tables 5,6 --ramp 0.01 --eat-ms 3000 --timeout 2", status);
  ASSERT_EQ(status, 0);
  ASSERT_EQ(k["benchmarks"].size(), 2u);
  for (const auto& row : k["benchmarks"]) {
    EXPECT_EQ(row["sweep_failed"], true);
    EXPECT_NE(row["failure_reason"].get<std::string>().find("time limit"), std::string::npos);
  }
}

#ifndef TVL_SANITIZER  // sanitizer runtimes reserve terabytes of address space: no cap fits them
TEST(sweep, thread_per_table_hits_a_limit_and_names_it) {
  int status = -1;
  // 1 GiB of address space holds about a hundred 8 MiB thread stacks, not 400.
  const auto j =
      sweep("--model threads-per-table --tables 5,400 --ramp 0.01 --eat-ms 50 --max-address-space 1024", status);
  ASSERT_EQ(status, 0);
  ASSERT_EQ(j["benchmarks"].size(), 2u);
  EXPECT_FALSE(j["benchmarks"][0].contains("sweep_failed"));
  EXPECT_EQ(j["benchmarks"][1]["sweep_failed"], true);
  const std::string reason = j["benchmarks"][1]["failure_reason"];
  EXPECT_NE(reason.find("thread creation failed"), std::string::npos) << reason;
  EXPECT_NE(reason.find("pid_max="), std::string::npos) << reason;
  // The same in fields, which the report reads (never the text).
  const auto& failed = j["benchmarks"][1];
  ASSERT_EQ(failed.value("failure_kind", ""), "thread_limit") << failed.dump();
  EXPECT_GT(failed["failure_detail"]["threads"].get<int>(), 0);
  EXPECT_TRUE(failed["failure_detail"]["limits"]["pid_max"].is_number()) << failed.dump();
  EXPECT_EQ(failed["failure_detail"]["limits"]["RLIMIT_AS_mib"], 1024) << failed.dump();
}
#endif
