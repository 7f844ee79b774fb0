// The primitives' domain: the slope fit, and the forking memory driver on small N — points
// measured in child processes, a failing point recorded with its reason instead of lost.
#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "catalog/catalog.hpp"
#include "scenarios/primitives.hpp"

namespace {

using namespace tvl::primitives;

TEST(fit, exact_line_gives_exact_slope_and_zero_residual) {
  const std::vector<double> xs{250, 500, 1000, 2000};
  std::vector<double> ys;
  for (const double x : xs) ys.push_back(12.5 + 8.25 * x);
  const Fit f = fit_line(xs, ys);
  EXPECT_NEAR(f.slope, 8.25, 1e-12);
  EXPECT_NEAR(f.intercept, 12.5, 1e-9);
  EXPECT_NEAR(f.residual, 0.0, 1e-9);
  EXPECT_NEAR(f.r2, 1.0, 1e-12);
}

TEST(fit, noisy_line_gives_slope_within_tolerance) {
  std::mt19937 rng(42);
  std::normal_distribution<double> noise(0.0, 50.0);  // KiB of noise on each point
  std::vector<double> xs, ys;
  for (int x = 1000; x <= 100'000; x += 1000) xs.push_back(x), ys.push_back(300 + 1.25 * x + noise(rng));
  const Fit f = fit_line(xs, ys);
  EXPECT_NEAR(f.slope, 1.25, 0.01);
  EXPECT_GT(f.residual, 25.0);  // the noise shows up as residual, not as slope
  EXPECT_LT(f.residual, 100.0);
  EXPECT_GT(f.r2, 0.99);
  EXPECT_LE(f.r2, 1.0);
}

TEST(fit, two_points_fit_exactly) {
  const Fit f = fit_line({1, 3}, {10, 4});
  EXPECT_DOUBLE_EQ(f.slope, -3.0);
  EXPECT_DOUBLE_EQ(f.intercept, 13.0);
  EXPECT_DOUBLE_EQ(f.residual, 0.0);
}

TEST(fit, too_few_points_or_equal_x_throw) {
  EXPECT_THROW(fit_line({}, {}), std::invalid_argument);
  EXPECT_THROW(fit_line({1}, {2}), std::invalid_argument);
  EXPECT_THROW(fit_line({5, 5, 5}, {1, 2, 3}), std::invalid_argument);
  EXPECT_THROW(fit_line({1, 2}, {1, 2, 3}), std::invalid_argument);
}

TEST(driver, threads_points_are_measured_and_slope_is_positive) {
  const MemoryCurve c = measure_memory(threads_waiting, {.ns = {20, 80, 160}});
  ASSERT_EQ(c.points.size(), 3u);
  for (const auto& p : c.points) {
    EXPECT_TRUE(p.ok()) << "N=" << p.n << ": " << p.reason;
    EXPECT_EQ(p.created, p.n);
    EXPECT_GT(p.rss_before_kib, 0);
    EXPECT_GT(p.rss_kib, 0);
  }
  EXPECT_EQ(c.failed(), 0);
  ASSERT_TRUE(c.fit.has_value());
  EXPECT_GT(c.fit->slope, 0.0);  // every thread touches at least a page of stack
}

TEST(driver, coroutine_points_are_measured) {
  for (const auto& w : tvl::catalog::primitive_waiters()) {
    if (w.model != "asyncloop") continue;
    const MemoryCurve c = measure_memory(w.run, {.ns = {100, 2000}});
    ASSERT_EQ(c.points.size(), 2u) << w.variant;
    for (const auto& p : c.points) EXPECT_TRUE(p.ok()) << w.variant << " N=" << p.n << ": " << p.reason;
    EXPECT_TRUE(c.fit.has_value()) << w.variant;
  }
}

TEST(driver, failing_point_is_recorded_with_its_reason) {
  // 64 MiB more address space than the child has: a few thread stacks, then EAGAIN. Ask for
  // twice as many threads as fit, whatever the default stack size is.
  const int n = static_cast<int>(2 * 64 * 1024 / std::max<std::int64_t>(1, default_stack_kib())) + 10;
  MemoryParams p{.ns = {4, n}, .address_space_mib = 64};
  const MemoryCurve c = measure_memory(threads_waiting, p);
  ASSERT_EQ(c.points.size(), 2u);
  EXPECT_TRUE(c.points[0].ok()) << c.points[0].reason;
  EXPECT_FALSE(c.points[1].ok());
  EXPECT_FALSE(c.points[1].reason.empty());
  EXPECT_LT(c.points[1].created, n);
  EXPECT_EQ(c.failed(), 1);
  EXPECT_FALSE(c.fit.has_value());  // one good point is not a slope
}

TEST(driver, bad_task_counts_are_refused) {
  EXPECT_THROW(measure_memory(threads_waiting, {.ns = {}}), std::invalid_argument);
  EXPECT_THROW(measure_memory(threads_waiting, {.ns = {10, 0}}), std::invalid_argument);
}

TEST(threads, default_stack_size_is_reported) { EXPECT_GT(default_stack_kib(), 0); }

}  // namespace
