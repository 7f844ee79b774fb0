#include "measure/stats.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace tvl::stats {

Interval wilson(long successes, long n, double z) {
  if (n <= 0) return {0.0, 1.0};
  if (successes < 0 || successes > n) throw std::invalid_argument("wilson: successes outside [0, n]");
  const double nn = static_cast<double>(n);
  const double p = static_cast<double>(successes) / nn;
  const double z2 = z * z;
  const double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
  const double half = z * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / (1 + z2 / nn);
  // At 0 and n the bound is exactly 0 (or 1); rounding would leave a hair's breadth.
  return {successes == 0 ? 0.0 : std::max(0.0, centre - half), successes == n ? 1.0 : std::min(1.0, centre + half)};
}

double median(std::vector<double> values) {
  if (values.empty()) return 0.0;
  const auto mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<long>(mid), values.end());
  const double upper = values[mid];
  if (values.size() % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + static_cast<long>(mid));
  return (lower + upper) / 2;
}

}  // namespace tvl::stats
