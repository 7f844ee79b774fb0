// What a run costs the process while it runs: the peak resident set, sampled every few
// milliseconds from another thread (the kernel keeps no peak that a run could reset), and the
// context switches of every thread of the process across the run.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace tvl::metrics {

// Samples this process's RSS every few milliseconds while alive; keeps the peak.
class RssSampler {
 public:
  RssSampler();
  ~RssSampler();
  std::int64_t before_kib() const { return before_; }
  std::int64_t peak_kib() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::int64_t before_ = 0;
};

// What run_measured saw across its work.
struct Footprint {
  std::int64_t rss_before_kib = 0;
  std::int64_t rss_peak_kib = 0;
  std::int64_t vcsw = 0;   // voluntary context switches
  std::int64_t ivcsw = 0;  // involuntary ones
};

// Runs `work` with RSS sampled and context switches counted across it.
Footprint run_measured(const std::function<void()>& work);

}  // namespace tvl::metrics
