#include "load/fanout_point.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <stdexcept>

#include "measure/process.hpp"
#include "scenarios/fanout.hpp"

namespace tvl::fanout_point {
namespace {

// Below the open-files hard limit (20,000 here), with room for redis-server's own descriptors.
constexpr int kRedisMaxClients = 19'000;

// How long redis-server may take to accept connections after it starts: 500 tries, 10 ms apart.
constexpr int kRedisStartTries = 500;
constexpr useconds_t kRedisStartPollUs = 10'000;

// A free loopback port for a peer that cannot pick its own and tell us (redis-server).
std::uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool can_connect(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// Starts the broker of one sweep point; returns it with the port it listens on.
std::pair<process::Child, std::uint16_t> start_broker(const Target& o) {
  std::vector<std::string> argv;
  std::uint16_t port = 0;
  if (o.model == "redis") {
    port = free_port();  // persistence off, loopback only, enough clients for the largest point
    argv = {"redis-server",
            "--port",
            std::to_string(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--maxclients",
            std::to_string(kRedisMaxClients),
            "--loglevel",
            "warning"};
  } else if (o.model.starts_with("python")) {
    argv = {"/usr/bin/python3", std::string(TVL_SOURCE_DIR) + "/peers/asyncio_broker.py",
            "--port",           "0",
            "--queue-depth",    std::to_string(o.queue_depth),
            "--slow-policy",    std::string(fanout::name_of(o.slow_policy))};
    if (o.model == "python-uvloop") argv.push_back("--uvloop");
  } else {
    argv = {o.tvl_exe.empty() ? process::self_exe() : o.tvl_exe,
            "broker",
            "--model",
            o.model,
            "--design",
            std::string(fanout::name_of(o.design)),
            "--port",
            "0",
            "--queue-depth",
            std::to_string(o.queue_depth),
            "--slow-policy",
            std::string(fanout::name_of(o.slow_policy))};
    if (o.queue_bytes > 0) argv.insert(argv.end(), {"--queue-bytes", std::to_string(o.queue_bytes)});
    if (o.model == "asyncloop-mt" && o.loops > 0) argv.insert(argv.end(), {"--loops", std::to_string(o.loops)});
  }
  argv.insert(argv.end(), o.extra_args.begin(), o.extra_args.end());
  process::Child child = process::spawn(argv, o.cpus);
  if (o.model == "redis") {
    for (int i = 0; i < kRedisStartTries && !can_connect(port); ++i) usleep(kRedisStartPollUs);
    if (!can_connect(port)) throw std::runtime_error("redis-server did not start (is it installed?)");
    return {std::move(child), port};
  }
  const std::string line = process::read_line(child, "listening on ", 10);
  if (line.empty()) {
    process::stop(child, SIGKILL, 1);
    throw std::runtime_error(o.model + " broker did not say where it listens");
  }
  port = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
  return {std::move(child), port};
}

// Counts that cannot be, whatever the broker did: more deliveries than were sent, or fewer
// deliveries counted by the broker than its subscribers received. Empty when they add up.
std::string impossible_counts(const load::Params& lp, const load::Result& r, const nlohmann::json& stats) {
  if (r.delivered > r.expected)
    return fmt::format("{} deliveries arrived but only {} were possible ({} published{})", r.delivered, r.expected,
                       r.published,
                       fanout::is_queue(lp.channel) ? "" : fmt::format(" to {} subscribers", lp.subscribers));
  if (!stats.is_null() && stats.value("deliveries", std::int64_t{0}) < r.delivered)
    return fmt::format("broker counted {} deliveries, subscribers received {}", stats.value("deliveries", 0),
                       r.delivered);
  // Every message a subscriber received went through the broker's reader.
  const std::int64_t per_message = fanout::is_queue(lp.channel) ? 1 : lp.subscribers;
  if (!stats.is_null() && stats.value("messages_in", std::int64_t{0}) * per_message < r.delivered)
    return fmt::format("broker counted {} messages in, subscribers received {} deliveries",
                       stats.value("messages_in", 0), r.delivered);
  return {};
}

// What a sweep point proves: everything published reached every subscriber, once, in order, and
// the broker's own counters agree with the load's. Returns an empty string when it holds.
std::string check_point(const load::Params& lp, const load::Result& r, const nlohmann::json& stats,
                        const std::string& impossible) {
  if (!impossible.empty()) return impossible;
  if (r.publishers_stalled > 0)
    return fmt::format("{} publisher(s) stalled: the broker stopped reading them; {} of {} deliveries arrived",
                       r.publishers_stalled, r.delivered, r.expected);
  if (r.lost > 0) return fmt::format("lost {} of {} deliveries", r.lost, r.expected);
  if (r.gaps > 0 || r.duplicates_or_reordered > 0)
    return fmt::format("{} gaps, {} duplicated or reordered", r.gaps, r.duplicates_or_reordered);
  // Everything arrived, so the broker read everything (a publisher cut off mid-write may have
  // its last message counted as published but only partly sent: one per publisher).
  if (!stats.is_null() && stats.value("messages_in", std::int64_t{0}) < r.published - lp.publishers)
    return fmt::format("broker counted {} messages in, {} were published", stats.value("messages_in", 0), r.published);
  return {};
}

}  // namespace

std::string Placement::describe() const {
  if (broker.empty() && load.empty()) return "not pinned";
  auto list = [](const std::vector<int>& cpus) {
    return cpus.empty() ? std::string("any CPU")
                        : fmt::format("CPU{} {}", cpus.size() > 1 ? "s" : "", fmt::join(cpus, ","));
  };
  return fmt::format("broker on {}, load on {}{}", list(broker), list(load), broker == load ? " (shared)" : "");
}

nlohmann::json Placement::to_json() const {
  return {{"broker_cpus", fmt::format("{}", fmt::join(broker, ","))},
          {"load_cpus", fmt::format("{}", fmt::join(load, ","))},
          {"pinned", !broker.empty() || !load.empty()},
          {"placement", describe()}};
}

Placement place(const std::string& broker_cpus, const std::string& load_cpus, bool no_pin) {
  Placement p;
  if (no_pin) {
    if (!broker_cpus.empty() || !load_cpus.empty())
      throw std::invalid_argument("--no-pin goes without --broker-cpus and --load-cpus");
    return p;
  }
  const std::vector<int> all = process::allowed_cpus();
  p.broker = broker_cpus.empty() ? std::vector<int>{all.front()} : process::parse_cpus(broker_cpus);
  if (!load_cpus.empty()) {
    p.load = process::parse_cpus(load_cpus);
  } else {
    for (const int c : all)
      if (std::find(p.broker.begin(), p.broker.end(), c) == p.broker.end()) p.load.push_back(c);
    if (p.load.empty()) p.load = p.broker;  // one CPU in all: they can only share it
  }
  return p;
}

Point run_point(const Target& t, load::Params lp) {
  if (t.model == "redis") lp.protocol = fanout::Protocol::resp;
  load::raise_fd_limit(lp.subscribers + lp.slow_subscribers + lp.publishers + 64);  // the broker inherits it
  auto [broker, port] = start_broker(t);
  lp.port = port;
  lp.broker_pid = broker.pid;
  Point point;
  try {
    point.result = load::run(lp);
  } catch (...) {
    process::stop(broker, SIGKILL, 2);
    close(broker.out_fd);
    throw;
  }
  process::stop(broker, SIGTERM, 10);
  nlohmann::json& stats = point.broker_stats;
  if (t.model != "redis") {
    const std::string line = process::read_line(broker, std::string(fanout::kStatsLinePrefix), 1);
    if (!line.empty()) stats = nlohmann::json::parse(line.substr(fanout::kStatsLinePrefix.size()));
  }
  close(broker.out_fd);
  point.impossible = impossible_counts(lp, point.result, stats);
  point.check = check_point(lp, point.result, stats, point.impossible);
  return point;
}

std::string tvl_beside_me() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw std::runtime_error("cannot read /proc/self/exe");
  std::string path(buf, static_cast<std::size_t>(n));
  return path.substr(0, path.rfind('/') + 1) + "tvl";
}

}  // namespace tvl::fanout_point
