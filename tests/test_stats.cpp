// Wilson interval and median against values computed by hand from the formula, and the
// process metrics against what the process just did.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "measure/metrics.hpp"
#include "measure/stats.hpp"

TEST(stats, wilson_matches_reference_values) {
  // 4 of 100: centre 0.0540, half-width 0.0379 (Wilson 1927, z = 1.96).
  auto ci = tvl::stats::wilson(4, 100);
  EXPECT_NEAR(ci.lo, 0.01566, 5e-5);
  EXPECT_NEAR(ci.hi, 0.09837, 5e-5);
  // 0 of 200: the lower bound is 0, the upper bound z^2 / (n + z^2).
  ci = tvl::stats::wilson(0, 200);
  EXPECT_DOUBLE_EQ(ci.lo, 0.0);
  EXPECT_NEAR(ci.hi, 3.8415 / (200 + 3.8415), 1e-5);
  // All failed: symmetric to none failed.
  const auto all = tvl::stats::wilson(200, 200);
  EXPECT_NEAR(all.lo, 1.0 - ci.hi, 1e-12);
  EXPECT_DOUBLE_EQ(all.hi, 1.0);
  EXPECT_THROW(tvl::stats::wilson(3, 2), std::invalid_argument);
}

TEST(stats, median_of_odd_and_even_counts) {
  EXPECT_DOUBLE_EQ(tvl::stats::median({3, 1, 2}), 2.0);
  EXPECT_DOUBLE_EQ(tvl::stats::median({4, 1, 3, 2}), 2.5);
  EXPECT_DOUBLE_EQ(tvl::stats::median({}), 0.0);
}

TEST(metrics, rss_grows_when_memory_is_touched) {
  const auto before = tvl::metrics::memory();
  ASSERT_TRUE(before.has_value());
  std::vector<char> block(64 << 20, 1);  // 64 MiB, touched
  const auto after = tvl::metrics::memory();
  ASSERT_TRUE(after.has_value());
  EXPECT_GE(after->rss_kib - before->rss_kib, 60 * 1024) << static_cast<int>(block[12345]);
  EXPECT_GE(after->hwm_kib, after->rss_kib);
}

TEST(metrics, blocking_counts_voluntary_switches) {
  const auto before = tvl::metrics::usage();
  for (int i = 0; i < 20; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto used = tvl::metrics::usage() - before;
  EXPECT_GE(used.vcsw, 20);
  const auto other = tvl::metrics::usage_of(getpid());
  ASSERT_TRUE(other.has_value());
  EXPECT_GE(other->vcsw, 20);
  EXPECT_FALSE(tvl::metrics::memory(999999).has_value());  // above pid_max: no such process
}
