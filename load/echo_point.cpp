// One echo point: the server as a child, the load against it, the counts checked.
#include "load/echo_point.hpp"

#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include <stdexcept>

#include "measure/process.hpp"

namespace tvl::echo_point {
namespace {

constexpr double kStartTimeoutS = 10;  // the server says where it listens within this
constexpr double kStopTimeoutS = 10;   // and stops within this of SIGINT

std::pair<process::Child, std::uint16_t> start_server(const Target& t) {
  std::vector<std::string> argv{t.tvl_exe.empty() ? process::self_exe() : t.tvl_exe,
                                "serve",
                                "echo",
                                "--model",
                                t.model,
                                "--port",
                                "0",
                                "--work-us",
                                fmt::format("{}", t.work_us),
                                "--block-ms",
                                fmt::format("{}", t.block_ms),
                                "--threads",
                                std::to_string(t.threads),
                                "--stack-kib",
                                std::to_string(t.stack_kib)};
  if (!t.variant.empty()) argv.insert(argv.end(), {"--variant", t.variant});
  process::Child child = process::spawn(argv, t.cpus);
  const std::string line = process::read_line(child, "listening on ", kStartTimeoutS);
  if (line.empty()) {
    const std::string said = child.pending;
    process::stop(child, SIGKILL, 1);
    throw std::runtime_error(fmt::format("the {} echo server did not say where it listens: {}", t.model, said));
  }
  return {std::move(child), static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)))};
}

// What the point proves: every request answered once, in order and upper-cased, and the
// server counted at least as many requests as were answered.
std::string check_point(const load::Result& r, const nlohmann::json& stats) {
  if (!r.impossible.empty()) return r.impossible;
  if (r.publishers_stalled > 0)
    return fmt::format("{} connection(s) stalled: the server stopped reading them", r.publishers_stalled);
  if (r.lost > 0) return fmt::format("{} of {} requests unanswered", r.lost, r.expected);
  if (r.gaps > 0 || r.duplicates_or_reordered > 0)
    return fmt::format("{} gaps, {} duplicated or reordered answers", r.gaps, r.duplicates_or_reordered);
  if (stats.is_null()) return "the server printed no counters";
  if (stats.value("requests", std::int64_t{0}) < r.delivered)
    return fmt::format("the server counted {} requests, {} were answered", stats.value("requests", 0), r.delivered);
  return {};
}

}  // namespace

Point run_point(const Target& t, load::Params lp) {
  lp.protocol = fanout::Protocol::lines;
  lp.subscribers = lp.publishers;
  load::raise_fd_limit(lp.publishers + 64);  // the server inherits it
  auto [server, port] = start_server(t);
  lp.port = port;
  lp.broker_pid = server.pid;
  Point point;
  try {
    point.result = load::run(lp);
  } catch (...) {
    process::stop(server, SIGKILL, 2);
    close(server.out_fd);
    throw;
  }
  process::stop(server, SIGINT, kStopTimeoutS);
  const std::string line = process::read_line(server, std::string(kStatsLinePrefix), 1);
  if (!line.empty()) point.server_stats = nlohmann::json::parse(line.substr(kStatsLinePrefix.size()));
  close(server.out_fd);
  point.check = check_point(point.result, point.server_stats);
  return point;
}

}  // namespace tvl::echo_point
