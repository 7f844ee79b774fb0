// A log-linear latency histogram in the style of HdrHistogram.
//
// Values (nanoseconds, or any unsigned count) below 256 are kept exactly. Above, each power
// of two is split into 128 linear sub-buckets, so a bucket is at most 1/128 of its lower
// bound wide; reporting the bucket's midpoint bounds the relative error by 1/256 (0.4%).
// Recording is O(1) and allocation-free; histograms recorded on different threads merge by
// adding counts.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace tvl {

class Histogram {
 public:
  static constexpr int kSubBits = 7;                     // 128 sub-buckets per power of two
  static constexpr std::uint64_t kExactBelow = 256;      // 2^(kSubBits + 1)
  static constexpr int kMaxShift = 64 - (kSubBits + 1);  // largest shift for a 64-bit value
  static constexpr std::size_t kBuckets = kExactBelow + kMaxShift * (1u << kSubBits);

  Histogram() : counts_(kBuckets, 0) {}

  void record(std::uint64_t value, std::uint64_t times = 1);
  void merge(const Histogram& other);
  void reset();

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ ? min_ : 0; }
  std::uint64_t max() const { return max_; }
  double mean() const;

  // Nearest-rank percentile: the value v such that at least p% of samples are <= v.
  // p in [0, 100]; 0 gives min(), 100 gives max(). Empty histogram -> 0.
  std::uint64_t percentile(double p) const;

  // The bucket a value falls in and the value reported for that bucket (exposed for tests).
  static std::size_t index_of(std::uint64_t value);
  static std::uint64_t lowest_of(std::size_t index);
  static std::uint64_t highest_of(std::size_t index);

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace tvl
