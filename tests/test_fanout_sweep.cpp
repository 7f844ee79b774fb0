// `tvl sweep fanout`: the broker runs as a child, the load checks every delivery, the broker's
// counters are checked against the load's, and a point the machine cannot reach is reported.
#include <gtest/gtest.h>

#include <unistd.h>
#include "tvl_command.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace {

nlohmann::json sweep(const std::string& args) {
  int status = -1;
  auto j = tvl::testing_cli::run_tvl_json("sweep fanout " + args, status);
  EXPECT_EQ(status, 0) << args;
  return j;
}

}  // namespace

TEST(sweep, every_message_reaches_every_subscriber_and_the_counters_agree) {
  for (const char* model : {"threads", "asyncloop"}) {
    const auto j = sweep(std::string("--model ") + model + " --subscribers 3,20 --rate 500 --duration 0.3");
    ASSERT_EQ(j["benchmarks"].size(), 2u) << model;
    for (const auto& row : j["benchmarks"]) {
      EXPECT_FALSE(row.contains("sweep_failed")) << row.dump();
      EXPECT_FALSE(row.contains("check_failed")) << row.dump();
      EXPECT_GT(row["published"].get<double>(), 0) << model;
      EXPECT_EQ(row["delivered"], row["expected"]) << model;
      EXPECT_EQ(row["expected"].get<double>(), row["published"].get<double>() * row["subscribers"].get<double>());
      EXPECT_GE(row["broker_messages_in"].get<double>(), row["published"].get<double>());
      EXPECT_GT(row["rss_kib"].get<double>(), 0);  // read from /proc/<broker pid>
    }
  }
}

TEST(sweep, a_point_beyond_the_open_files_limit_is_reported_not_shrunk) {
  const auto j = sweep("--model asyncloop --subscribers 2,1000000 --rate 100 --duration 0.2");
  ASSERT_EQ(j["benchmarks"].size(), 2u);
  EXPECT_FALSE(j["benchmarks"][0].contains("sweep_failed"));
  EXPECT_EQ(j["benchmarks"][1]["sweep_failed"], true);
  EXPECT_NE(j["benchmarks"][1]["failure_reason"].get<std::string>().find("hard limit"), std::string::npos);
  // The same in fields, which the report reads (never the text).
  EXPECT_EQ(j["benchmarks"][1].value("failure_kind", ""), "fd_limit");
  EXPECT_GT(j["benchmarks"][1]["failure_detail"]["needed"].get<long>(),
            j["benchmarks"][1]["failure_detail"]["hard_limit"].get<long>());
}

TEST(sweep, queue_channel_delivers_each_message_once) {
  const auto j = sweep("--model asyncloop --subscribers 4 --rate 500 --duration 0.3 --channel /queue/jobs");
  ASSERT_EQ(j["benchmarks"].size(), 1u);
  const auto& row = j["benchmarks"][0];
  EXPECT_FALSE(row.contains("check_failed")) << row.dump();
  EXPECT_EQ(row["delivered"], row["published"]);
  EXPECT_EQ(row["duplicates_or_reordered"], 0);
}
