// A broker as a user runs it, for fault tests: `tvl broker ...` in a child process, so that a
// test can stop it with SIGSTOP, lower its limits and read its descriptors, threads, memory and
// CPU time from /proc while it runs, then stop it with SIGTERM and read its counters.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "measure/process.hpp"
#include "scenarios/fanout.hpp"

namespace tvl::testing {

class BrokerChild {
 public:
  // `tvl broker --model M --design D --port 0` and `extra` arguments; returns once it listens.
  BrokerChild(const std::string& model, const std::string& design, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{TVL_BINARY, "broker", "--model", model, "--design", design, "--port", "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    child_ = process::spawn(argv);
    const std::string line = process::read_line(child_, "listening on ", 30);
    if (line.empty()) {
      process::stop(child_, SIGKILL, 1);
      throw std::runtime_error("the broker did not start listening: " + child_.pending);
    }
    port_ = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
  }
  BrokerChild(const BrokerChild&) = delete;
  // A test that failed part-way: the broker is killed, and what it said goes to stderr if it
  // had ended by itself (a crash, a sanitizer's report).
  ~BrokerChild() {
    if (child_.pid > 0) {
      siginfo_t info{};
      const bool ended = waitid(P_PID, static_cast<id_t>(child_.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                         info.si_pid == child_.pid;
      process::stop(child_, SIGKILL, 5);
      if (ended) std::fprintf(stderr, "the broker ended by itself; it said:\n%s\n", output().c_str());
    }
    if (child_.out_fd >= 0) ::close(child_.out_fd);
  }

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return child_.pid; }
  void signal(int sig) const { ::kill(child_.pid, sig); }

  // Its open descriptors (the entries of /proc/PID/fd), those numbered below `below` only if
  // given: at an open-files limit of N, accept fails once 0 .. N - 1 are all taken, whatever it
  // inherited above them.
  int fds(int below = INT_MAX) const {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(proc("fd")))
      n += std::stoi(e.path().filename().string()) < below;
    return n;
  }
  // fds(below) once the count has held still for 200 ms (at most 5 s): the base a test counts
  // connections from. Read once, it may catch a descriptor the broker's runtime holds for a
  // moment (under the sanitizers on a loaded machine, one more than a moment later), and every
  // later "base + N" is then off by it.
  int settled_fds(int below = INT_MAX) const {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    int last = fds(below);
    auto since = Clock::now();
    while (Clock::now() < deadline && Clock::now() - since < std::chrono::milliseconds(200)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (const int n = fds(below); n != last) last = n, since = Clock::now();
    }
    return last;
  }
  std::int64_t rss_kib() const { return status_field("VmRSS:"); }
  std::int64_t threads() const { return status_field("Threads:"); }
  // User plus system CPU time so far, every thread together (/proc/PID/stat, fields 14 and 15).
  double cpu_s() const {
    std::ifstream in(proc("stat"));
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream rest(all.substr(all.rfind(')') + 2));  // the name may hold spaces
    std::string field;
    for (int i = 3; i < 14; ++i) rest >> field;  // state .. cmajflt
    double user = 0, system = 0;
    rest >> user >> system;
    return (user + system) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }

  // CPU time plus time runnable but waiting for a CPU, every thread together
  // (/proc/PID/task/*/schedstat): a thread that spins counts in full even on a machine too busy
  // to give it a CPU all the time, where its CPU time alone would look modest.
  double busy_s() const {
    std::int64_t ns = 0;
    for (const auto& task : std::filesystem::directory_iterator(proc("task"))) {
      std::ifstream in(task.path() / "schedstat");
      std::int64_t run = 0, wait = 0;
      if (in >> run >> wait) ns += run + wait;
    }
    return static_cast<double>(ns) / 1e9;
  }

  // Lowers its open-files limit, soft and hard, while it runs (prlimit: it raised its soft
  // limit to the hard one as it started).
  void limit_open_files(rlim_t n) const {
    const rlimit lim{n, n};
    if (prlimit(child_.pid, RLIMIT_NOFILE, &lim, nullptr) != 0) throw std::runtime_error("prlimit failed");
  }

  // Waits, at most `limit`, until pred() holds; returns whether it did.
  template <typename Pred>
  static bool wait_until(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  // SIGTERM; its counters from the stats line. Throws, with what it printed, if it did not exit
  // 0 within the time (a sanitizer report, a crash) or printed no counters.
  nlohmann::json stop(double timeout_s = 30) {
    signal(SIGCONT);  // a stopped process does not act on SIGTERM
    const int status = process::stop(child_, SIGTERM, timeout_s);
    const std::string said = output();
    const std::string prefix(fanout::kStatsLinePrefix);
    const std::size_t at = said.rfind(prefix);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || at == std::string::npos)
      throw std::runtime_error("the broker did not stop cleanly (status " + std::to_string(status) + "): " + said);
    return nlohmann::json::parse(said.substr(at + prefix.size(), said.find('\n', at) - at - prefix.size()));
  }

 private:
  // What it printed and nobody read yet, once it has exited.
  std::string output() {
    std::string said = std::exchange(child_.pending, "");
    char buf[4096];
    for (ssize_t n; (n = ::read(child_.out_fd, buf, sizeof buf)) > 0;) said.append(buf, static_cast<std::size_t>(n));
    return said;
  }
  std::string proc(const std::string& what) const { return "/proc/" + std::to_string(child_.pid) + "/" + what; }
  std::int64_t status_field(const std::string& key) const {
    std::ifstream in(proc("status"));
    for (std::string line; std::getline(in, line);)
      if (line.starts_with(key)) return std::stoll(line.substr(key.size()));
    return -1;
  }

  process::Child child_;
  std::uint16_t port_ = 0;
};

}  // namespace tvl::testing
