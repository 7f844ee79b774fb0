// Small statistics used by every scenario's report.
#pragma once

#include <vector>

namespace tvl::stats {

struct Interval {
  double lo = 0.0;
  double hi = 0.0;
};

// Wilson score interval for a binomial proportion (successes out of n), z = 1.96 for 95%.
// Unlike the normal approximation it stays inside [0, 1] and is sensible at 0 and n.
Interval wilson(long successes, long n, double z = 1.959963984540054);

// Median of the values (the mean of the two middle ones for an even count). Empty -> 0.
double median(std::vector<double> values);

}  // namespace tvl::stats
