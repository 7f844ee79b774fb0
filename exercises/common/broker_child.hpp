// A fan-out broker as a child process, for the graders of slow-consumer and coordinated-omission:
// started the way `tvl sweep fanout` starts one (load/fanout_point.cpp), so a broker that hangs
// or crashes costs a failed check, never the grader. It speaks as `tvl broker` does: it prints
// `listening on HOST:PORT` once bound and, after SIGTERM, `tvl-broker-stats {json}` with its
// counters (fanout::BrokerStats).
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "measure/process.hpp"
#include "scenarios/fanout.hpp"

namespace tvl::exercise {

class BrokerChild {
 public:
  // Starts argv and waits (at most 10 s) for the line that gives its port.
  explicit BrokerChild(const std::vector<std::string>& argv) : child_(process::spawn(argv)) {
    const std::string line = process::read_line(child_, "listening on ", 10);
    if (line.empty()) {
      process::stop(child_, SIGKILL, 1);
      ::close(child_.out_fd);
      throw std::runtime_error("the broker did not say where it listens: " + argv.front());
    }
    port_ = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
  }
  BrokerChild(const BrokerChild&) = delete;
  BrokerChild& operator=(const BrokerChild&) = delete;
  ~BrokerChild() {
    if (child_.pid > 0) ::kill(child_.pid, SIGCONT), process::stop(child_, SIGKILL, 1);
    ::close(child_.out_fd);
  }

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return child_.pid; }

  // Tells the broker to stop (SIGTERM) and returns at once: it may still be flushing.
  void signal_stop() { ::kill(child_.pid, SIGTERM); }

  // Stops it (SIGTERM; SIGKILL after timeout_s) and returns its counters; null when it printed
  // none (it crashed, hung, or was killed).
  nlohmann::json stop(double timeout_s = 5) {
    ::kill(child_.pid, SIGCONT);  // a paused broker cannot stop
    const int status = process::stop(child_, SIGTERM, timeout_s);
    exited_cleanly_ = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    const std::string line = process::read_line(child_, std::string(fanout::kStatsLinePrefix), 1);
    if (line.empty()) return nullptr;
    try {
      return nlohmann::json::parse(line.substr(fanout::kStatsLinePrefix.size()));
    } catch (const nlohmann::json::exception&) {
      return nullptr;
    }
  }
  bool exited_cleanly() const { return exited_cleanly_; }

 private:
  process::Child child_;
  std::uint16_t port_ = 0;
  bool exited_cleanly_ = false;
};

// A counter from a broker's stats (0 when absent).
inline std::int64_t stat(const nlohmann::json& stats, const char* name) {
  return stats.is_object() ? stats.value(name, std::int64_t{0}) : 0;
}

}  // namespace tvl::exercise
