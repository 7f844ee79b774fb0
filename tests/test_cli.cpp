// The tvl command line, run as a user would: exit codes and messages.
#include <gtest/gtest.h>

#include <unistd.h>
#include "tvl_command.hpp"

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace {

using tvl::testing_cli::Result;
using tvl::testing_cli::run_tvl;

void expect_usage_error(const std::string& args, const std::string& says) {
  const Result r = run_tvl(args);
  EXPECT_EQ(r.status, 2) << "tvl " << args << "\n" << r.out;
  EXPECT_NE(r.out.find(says), std::string::npos) << "tvl " << args << "\n" << r.out;
}

}  // namespace

TEST(errors, bad_arguments_exit_2_with_one_message) {
  expect_usage_error("", "A subcommand is required");
  expect_usage_error("run nosuchscenario", "nosuchscenario");
  expect_usage_error("run cutlery --model fibers", "fibers");
  expect_usage_error("run cutlery --model asyncloop --variant mutex", "has no variant 'mutex'");
  expect_usage_error("run cutlery --tables 0", "--tables");
  expect_usage_error("run cutlery --tables many", "many");
  expect_usage_error("run cutlery --bots 1", "--bots");
  expect_usage_error("run cutlery --trials", "--trials");
  expect_usage_error("explain", "needs a scenario");
  expect_usage_error("sweep", "needs a scenario");
  expect_usage_error("run cutlery --tables 10 --json /nonexistent-dir/x.json", "cannot write");
}

TEST(run, prints_summary_and_writes_json) {
  const auto path = std::filesystem::temp_directory_path() / ("tvl_cli_test_" + std::to_string(getpid()) + ".json");
  const Result r =
      run_tvl("run cutlery --model threads --variant atomic --tables 50 --trials 3 --json " + path.string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("fail_rate"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0 of 3"), std::string::npos) << r.out;
  std::ifstream in(path);
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["counters"]["trials"], 3);
  EXPECT_EQ(j["counters"]["fail_rate"], 0.0);
  EXPECT_GT(j["counters"]["items_per_second"].get<double>(), 0.0);
  std::filesystem::remove(path);
}

TEST(list, names_every_model) {
  const Result r = run_tvl("list");
  ASSERT_EQ(r.status, 0);
  for (const char* s : {"threads", "tbb", "asyncloop-mt", "await-inside", "strand", "nostrand"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
}

TEST(explain, cutlery_shows_the_lost_update) {
  const Result r = run_tvl("explain cutlery");
  ASSERT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("update is lost"), std::string::npos) << r.out;
  EXPECT_EQ(r.out, run_tvl("explain cutlery").out);  // deterministic
}

TEST(help, exits_0) { EXPECT_EQ(run_tvl("--help").status, 0); }

TEST(list, every_scenario_of_the_catalog_including_fanout) {
  const Result r = run_tvl("list");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* says : {"cutlery", "primitives", "restaurant", "fanout", "--model asyncloop-mt  --design  improved",
                           "--model redis         --design  peer", "switch: "})
    EXPECT_NE(r.out.find(says), std::string::npos) << says << "\n" << r.out;
}

TEST(run, fanout_prints_a_checked_point_and_writes_its_json) {
  const auto path = std::filesystem::temp_directory_path() / ("tvl_cli_fanout_" + std::to_string(getpid()) + ".json");
  const Result r =
      run_tvl("run fanout --model asyncloop --subscribers 20 --rate 200 --duration 0.3 --json " + path.string());
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("fanout/asyncloop/improved/subscribers:20"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("checked:"), std::string::npos) << r.out;
  std::ifstream in(path);
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["scenario"], "fanout");
  EXPECT_EQ(j["counters"]["delivered"], j["counters"]["expected"]);
  EXPECT_EQ(j["counters"]["lost"], 0);
  EXPECT_TRUE(j["context"].contains("placement"));
  std::filesystem::remove(path);
}

TEST(errors, fanout_and_load_say_what_is_wrong_in_words) {
  expect_usage_error("run fanout --model asyncloop-mt --design naive", "has no naive design");
  expect_usage_error("run fanout --model fibers", "fibers");
  expect_usage_error("broker --model asyncloop-mt --design naive", "has no naive design");
  const Result refused = run_tvl("load --port 1 --duration 0.1");  // nothing listens on port 1
  EXPECT_EQ(refused.status, 1) << refused.out;
  EXPECT_NE(refused.out.find("cannot connect to 127.0.0.1:1: Connection refused"), std::string::npos) << refused.out;
  EXPECT_EQ(refused.out.find(".hpp"), std::string::npos) << "a source location leaked: " << refused.out;
  const Result bad_host = run_tvl("load --host nowhere --port 1 --duration 0.1");
  EXPECT_NE(bad_host.out.find("'nowhere' is not"), std::string::npos) << bad_host.out;
}

TEST(sweep, restaurant_timeout_0_means_the_schedule_plus_30_s) {
  const Result r = run_tvl("sweep restaurant --model asyncloop --tables 2 --timeout 0 --ramp 0.01 --eat-ms 5");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("1 of 1"), std::string::npos) << r.out;
}
