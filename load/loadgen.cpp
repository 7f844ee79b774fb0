// The fan-out load generator's entry points: the checks made before anything connects, the
// descriptor limit, and the counters of a run. How a run goes is in load/load.hpp and the files
// it names.
#include "load/loadgen.hpp"

#include <sys/resource.h>

#include <boost/asio/ip/address.hpp>
#include <stdexcept>

#include <fmt/format.h>

#include "load/load.hpp"
#include "measure/limits.hpp"
#include "measure/process.hpp"
#include "scenarios/fanout.hpp"

namespace tvl::load {

namespace {
constexpr int kMaxLoadThreads = 1024;
constexpr std::int64_t kSpareDescriptors = 64;  // beyond the connections: files, pipes, the broker's
}  // namespace

std::int64_t raise_fd_limit(std::int64_t needed) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_max != RLIM_INFINITY && static_cast<std::int64_t>(lim.rlim_max) < needed)
    throw limits::LimitReached(
        fmt::format("{} descriptors needed, the open-files hard limit is {}: this point cannot be reached", needed,
                    lim.rlim_max),
        limits::kFdLimit, {{"needed", needed}, {"hard_limit", lim.rlim_max}});
  return static_cast<std::int64_t>(lim.rlim_cur);
}

Result run(const Params& p) {
  if (p.subscribers < 1 || p.publishers < 1 || p.rate <= 0 || p.duration_s <= 0)
    throw std::invalid_argument("load: need subscribers, publishers, a rate and a duration");
  if (p.payload < fanout::kStampBytes)
    throw std::invalid_argument(fmt::format("load: payload must be at least {} bytes", fanout::kStampBytes));
  if (p.threads < 0 || p.threads > kMaxLoadThreads)
    throw std::invalid_argument(
        fmt::format("load: threads must be between 0 (one per load CPU) and {}", kMaxLoadThreads));
  if (p.read_delay_s < 0) throw std::invalid_argument("load: the read delay cannot be negative");
  boost::system::error_code bad_host;
  boost::asio::ip::make_address(p.host, bad_host);
  if (bad_host) throw std::invalid_argument(fmt::format("load: the host must be an IP address; '{}' is not", p.host));
  process::check_cpus(p.cpus);
  const auto fds = raise_fd_limit(p.subscribers + p.slow_subscribers + p.publishers + kSpareDescriptors);
  Result r = detail::Load(p).run();
  r.fd_limit = fds;
  return r;
}

std::vector<std::pair<std::string, double>> counters(const Params& p, const Result& r) {
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  // CPU seconds per million deliveries: what the broker and the generator each paid per delivery.
  auto per_million = [&r](double cpu_s) {
    return r.delivered > 0 && cpu_s >= 0 ? cpu_s / (static_cast<double>(r.delivered) / 1e6) : 0.0;
  };
  return {
      {"items_per_second", r.seconds > 0 ? static_cast<double>(r.delivered) / r.seconds : 0},
      {"published_per_second", static_cast<double>(r.published) / p.duration_s},
      {"published", static_cast<double>(r.published)},
      {"delivered", static_cast<double>(r.delivered)},
      {"expected", static_cast<double>(r.expected)},
      {"lost", static_cast<double>(r.lost)},
      {"gaps", static_cast<double>(r.gaps)},
      {"duplicates_or_reordered", static_cast<double>(r.duplicates_or_reordered)},
      {"publishers_stalled", static_cast<double>(r.publishers_stalled)},
      {"impossible", r.impossible.empty() ? 0.0 : 1.0},
      {"judged", static_cast<double>(r.from_intended_ns.count())},
      {"p50_us", us(r.from_intended_ns.percentile(50))},
      {"p90_us", us(r.from_intended_ns.percentile(90))},
      {"p99_us", us(r.from_intended_ns.percentile(99))},
      {"p999_us", us(r.from_intended_ns.percentile(99.9))},
      {"max_us", us(r.from_intended_ns.max())},
      {"sent_p50_us", us(r.from_sent_ns.percentile(50))},
      {"sent_p99_us", us(r.from_sent_ns.percentile(99))},
      {"sent_p999_us", us(r.from_sent_ns.percentile(99.9))},
      {"user_p50_us", us(r.user_from_intended_ns.percentile(50))},
      {"user_p99_us", us(r.user_from_intended_ns.percentile(99))},
      {"user_p999_us", us(r.user_from_intended_ns.percentile(99.9))},
      {"kernel_clock", r.receive_clock == kKernelClock ? 1.0 : 0.0},
      {"unstamped", static_cast<double>(r.unstamped)},
      {"subscribers", p.subscribers},
      {"publishers", p.publishers},
      {"slow_subscribers", p.slow_subscribers},
      {"payload", static_cast<double>(p.payload)},
      {"rate", p.rate},
      {"duration_s", p.duration_s},
      {"load_threads", r.load_threads},
      {"load_cpu_s", r.load_cpu_s},
      {"load_cpu_s_per_million", per_million(r.load_cpu_s)},
      {"load_busy", r.load_busy},
      {"load_bound", r.load_bound ? 1.0 : 0.0},
      {"rss_kib", static_cast<double>(r.broker_rss_kib)},
      {"broker_hwm_kib", static_cast<double>(r.broker_hwm_kib)},
      {"broker_cpu_s", r.broker_cpu_s},
      {"broker_cpu_s_per_million", per_million(r.broker_cpu_s)},
      {"vcsw", static_cast<double>(r.broker_vcsw)},
      {"ivcsw", static_cast<double>(r.broker_ivcsw)},
      {"fd_limit", static_cast<double>(r.fd_limit)},
  };
}

}  // namespace tvl::load
