#include "measure/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <stdexcept>

namespace tvl {

std::size_t Histogram::index_of(std::uint64_t value) {
  if (value < kExactBelow) return static_cast<std::size_t>(value);
  // Keep the top kSubBits+1 bits: value >> shift lies in [128, 256).
  const int msb = 63 - std::countl_zero(value);
  const int shift = msb - kSubBits;
  const std::uint64_t sub = (value >> shift) - (1u << kSubBits);
  return kExactBelow + static_cast<std::size_t>(shift - 1) * (1u << kSubBits) + static_cast<std::size_t>(sub);
}

std::uint64_t Histogram::lowest_of(std::size_t index) {
  if (index < kExactBelow) return index;
  const std::size_t rel = index - kExactBelow;
  const int shift = static_cast<int>(rel >> kSubBits) + 1;
  const std::uint64_t sub = (rel & ((1u << kSubBits) - 1)) + (1u << kSubBits);
  return sub << shift;
}

std::uint64_t Histogram::highest_of(std::size_t index) {
  if (index < kExactBelow) return index;
  const int shift = static_cast<int>((index - kExactBelow) >> kSubBits) + 1;
  return lowest_of(index) + ((std::uint64_t{1} << shift) - 1);
}

void Histogram::record(std::uint64_t value, std::uint64_t times) {
  if (times == 0) return;
  counts_[index_of(value)] += times;
  count_ += times;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<long double>(value) * times;
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void Histogram::reset() { *this = Histogram(); }

double Histogram::mean() const { return count_ ? static_cast<double>(sum_ / count_) : 0.0; }

std::uint64_t Histogram::percentile(double p) const {
  if (p < 0.0 || p > 100.0 || std::isnan(p)) throw std::invalid_argument("percentile outside [0, 100]");
  if (count_ == 0) return 0;
  if (p == 0.0) return min_;
  // Nearest rank: the smallest value with at least ceil(p/100 * n) samples at or below it.
  const auto rank =
      std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_) - 1e-9)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const std::uint64_t lo = lowest_of(i), hi = highest_of(i);
      // The bucket's midpoint halves the worst-case error; min and max are known exactly.
      return std::clamp(lo + (hi - lo) / 2, min_, max_);
    }
  }
  return max_;
}

}  // namespace tvl
