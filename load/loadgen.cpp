// The fan-out load generator's entry points: the checks made before anything connects, and the
// descriptor limit. How a run goes is in load/load.hpp and the files
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
  // On an echo server a connection both sends and reads its answers: one descriptor, not two.
  const int connections = p.protocol == fanout::Protocol::lines ? p.publishers : p.subscribers + p.publishers;
  const auto fds = raise_fd_limit(connections + p.slow_subscribers + kSpareDescriptors);
  Result r = detail::Load(p).run();
  r.fd_limit = fds;
  return r;
}

}  // namespace tvl::load
