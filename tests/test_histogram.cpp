// The latency histogram against exact nearest-rank percentiles of the raw samples.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "measure/histogram.hpp"

namespace {

std::uint64_t exact_percentile(std::vector<std::uint64_t> v, double p) {
  std::sort(v.begin(), v.end());
  if (p == 0.0) return v.front();
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size()) - 1e-9));
  return v[std::max<std::size_t>(rank, 1) - 1];
}

void expect_within_one_percent(const std::vector<std::uint64_t>& samples) {
  tvl::Histogram h;
  for (auto s : samples) h.record(s);
  for (double p : {0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const double exact = static_cast<double>(exact_percentile(samples, p));
    const double got = static_cast<double>(h.percentile(p));
    EXPECT_LE(std::abs(got - exact), 0.01 * exact) << "p" << p << " exact " << exact << " got " << got;
  }
  EXPECT_EQ(h.count(), samples.size());
  EXPECT_EQ(h.min(), *std::min_element(samples.begin(), samples.end()));
  EXPECT_EQ(h.max(), *std::max_element(samples.begin(), samples.end()));
}

}  // namespace

TEST(histogram, small_values_are_exact) {
  tvl::Histogram h;
  for (std::uint64_t v = 0; v < 256; ++v) h.record(v);
  EXPECT_EQ(h.percentile(50), 127u);  // rank 128 of 0..255
  EXPECT_EQ(h.percentile(100), 255u);
  EXPECT_EQ(h.percentile(0), 0u);
  EXPECT_DOUBLE_EQ(h.mean(), 127.5);
}

TEST(histogram, buckets_tile_the_range_without_gaps) {
  for (std::size_t i = 0; i + 1 < tvl::Histogram::kBuckets; ++i) {
    ASSERT_EQ(tvl::Histogram::highest_of(i) + 1, tvl::Histogram::lowest_of(i + 1)) << "bucket " << i;
    const auto lo = tvl::Histogram::lowest_of(i), hi = tvl::Histogram::highest_of(i);
    ASSERT_EQ(tvl::Histogram::index_of(lo), i);
    ASSERT_EQ(tvl::Histogram::index_of(hi), i);
    // Bucket width relative to its lower bound bounds the error of the midpoint.
    if (lo > 0) {
      ASSERT_LE(static_cast<double>(hi - lo) / 2.0 / static_cast<double>(lo), 1.0 / 256 + 1e-12);
    }
  }
  EXPECT_EQ(tvl::Histogram::index_of(UINT64_MAX), tvl::Histogram::kBuckets - 1);
}

TEST(histogram, lognormal_latencies_within_one_percent) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(std::log(50'000.0), 1.2);  // ~50 us median, long tail
  std::vector<std::uint64_t> samples(200'000);
  for (auto& s : samples) s = static_cast<std::uint64_t>(dist(rng));
  expect_within_one_percent(samples);
}

TEST(histogram, uniform_wide_range_within_one_percent) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::uint64_t> dist(1, 10'000'000'000ull);
  std::vector<std::uint64_t> samples(100'000);
  for (auto& s : samples) s = dist(rng);
  expect_within_one_percent(samples);
}

TEST(histogram, adversarial_bucket_edges_within_one_percent) {
  // Values at the extremes of buckets, where a midpoint is furthest from the truth.
  std::vector<std::uint64_t> samples;
  for (std::uint64_t base = 256; base < (1ull << 40); base <<= 1) {
    samples.push_back(base);
    samples.push_back(base + (base >> 7) - 1);
    samples.push_back(2 * base - 1);
  }
  expect_within_one_percent(samples);
  // One huge outlier among many identical values: p99 stays the common value, max is exact.
  std::vector<std::uint64_t> skewed(999, 1000);
  skewed.push_back(UINT64_MAX / 2);
  expect_within_one_percent(skewed);
}

TEST(histogram, merge_across_threads_equals_one_histogram) {
  std::vector<tvl::Histogram> parts(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&parts, t] {
      std::mt19937_64 rng(static_cast<unsigned>(t));
      std::exponential_distribution<double> dist(1.0 / 20'000);
      for (int i = 0; i < 50'000; ++i) parts[static_cast<std::size_t>(t)].record(static_cast<std::uint64_t>(dist(rng)));
    });
  for (auto& t : threads) t.join();
  tvl::Histogram merged, serial;
  for (int t = 0; t < 4; ++t) {
    merged.merge(parts[static_cast<std::size_t>(t)]);
    std::mt19937_64 rng(static_cast<unsigned>(t));
    std::exponential_distribution<double> dist(1.0 / 20'000);
    for (int i = 0; i < 50'000; ++i) serial.record(static_cast<std::uint64_t>(dist(rng)));
  }
  EXPECT_EQ(merged.count(), 200'000u);
  for (double p : {50.0, 90.0, 99.0, 99.9, 100.0}) EXPECT_EQ(merged.percentile(p), serial.percentile(p));
  EXPECT_EQ(merged.min(), serial.min());
  EXPECT_DOUBLE_EQ(merged.mean(), serial.mean());
}

TEST(histogram, empty_and_bad_input) {
  tvl::Histogram h;
  EXPECT_EQ(h.percentile(99), 0u);
  EXPECT_EQ(h.count(), 0u);
  EXPECT_THROW(h.percentile(101), std::invalid_argument);
  EXPECT_THROW(h.percentile(-1), std::invalid_argument);
}
