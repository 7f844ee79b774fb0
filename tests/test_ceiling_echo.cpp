// The echo servers' ceiling on small N: idle connections held open against `tvl serve echo`
// (each answered once), the server's RSS read, and the load's open-files limit named when the
// next N would pass it.
#include <gtest/gtest.h>

#include <string>

#include "load/echo_idle.hpp"

namespace {

using namespace tvl::echo_idle;

Params small(const std::string& model) {
  Params p;
  p.model = model;
  p.connections = {10, 50, 10'000'000};  // the last one more than any open-files limit here
  p.tvl_exe = TVL_BINARY;
  return p;
}

void expect_climb(const std::string& model) {
  const auto rows = climb(small(model));
  ASSERT_EQ(rows.size(), 3u) << model;
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(rows[i].reached) << model << " N=" << rows[i].connections << ": " << rows[i].limit;
    EXPECT_EQ(rows[i].opened, rows[i].connections);
    EXPECT_GT(rows[i].rss_kib, 0);
  }
  EXPECT_FALSE(rows[2].reached);
  EXPECT_EQ(rows[2].opened, 50);  // nothing opened past what the limit allows
  EXPECT_EQ(rows[2].limit_name, "RLIMIT_NOFILE (load)") << rows[2].limit;
  EXPECT_GT(rows[2].limit_value, 0);
}

TEST(asyncloop, idle_connections_held_and_the_open_files_limit_named) { expect_climb("asyncloop"); }

TEST(threads, idle_connections_held_and_the_open_files_limit_named) { expect_climb("threads"); }

}  // namespace
