// The RSS sampler's thread, and a run measured with it.
#include "measure/rss_sampler.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "measure/metrics.hpp"

namespace tvl::metrics {

namespace {

// Often enough to catch the peak of a run that lasts a fraction of a second.
constexpr std::chrono::milliseconds kSampleInterval{5};

}  // namespace

struct RssSampler::Impl {
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> peak{0};
  std::thread thread;
};

RssSampler::RssSampler() : impl_(std::make_unique<Impl>()) {
  if (const auto m = memory()) before_ = m->rss_kib;
  impl_->peak = before_;
  impl_->thread = std::thread([impl = impl_.get()] {
    while (!impl->stop.load()) {
      if (const auto m = memory()) impl->peak = std::max(impl->peak.load(), m->rss_kib);
      std::this_thread::sleep_for(kSampleInterval);
    }
  });
}

RssSampler::~RssSampler() {
  impl_->stop = true;
  impl_->thread.join();
}

std::int64_t RssSampler::peak_kib() const {
  if (const auto m = memory()) impl_->peak = std::max(impl_->peak.load(), m->rss_kib);
  return impl_->peak.load();
}

Footprint run_measured(const std::function<void()>& work) {
  RssSampler rss;
  const auto usage_before = usage();
  work();
  Footprint f;
  f.rss_before_kib = rss.before_kib();
  f.rss_peak_kib = rss.peak_kib();
  const auto used = usage() - usage_before;
  f.vcsw = used.vcsw;
  f.ivcsw = used.ivcsw;
  return f;
}

}  // namespace tvl::metrics
