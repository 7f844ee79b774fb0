// The memory per waiting task: a least-squares slope over N, each N measured in a forked
// child process so that no point inherits the heap of the one before.
#include "scenarios/primitives.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

namespace tvl::primitives {

Fit fit_line(const std::vector<double>& xs, const std::vector<double>& ys) {
  if (xs.size() != ys.size()) throw std::invalid_argument("fit_line: as many x as y values are needed");
  if (xs.size() < 2) throw std::invalid_argument("fit_line: at least 2 points are needed");
  const double n = static_cast<double>(xs.size());
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) mx += xs[i] / n, my += ys[i] / n;
  double sxx = 0, sxy = 0, syy = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    sxx += (xs[i] - mx) * (xs[i] - mx);
    sxy += (xs[i] - mx) * (ys[i] - my);
    syy += (ys[i] - my) * (ys[i] - my);
  }
  if (sxx == 0.0) throw std::invalid_argument("fit_line: all x are equal, no slope to fit");
  Fit f;
  f.slope = sxy / sxx;
  f.intercept = my - f.slope * mx;
  double ss_res = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double r = ys[i] - (f.intercept + f.slope * xs[i]);
    ss_res += r * r;
  }
  f.residual = std::sqrt(ss_res / n);
  f.r2 = syy > 0.0 ? 1.0 - ss_res / syy : 1.0;  // a flat line through flat data fits perfectly
  return f;
}

int MemoryCurve::failed() const {
  return static_cast<int>(std::count_if(points.begin(), points.end(), [](const auto& p) { return !p.ok(); }));
}

namespace {

// What a child writes to its pipe: plain bytes, so it needs no allocation on either side.
struct ChildReport {
  std::int32_t created = 0;
  std::int64_t rss_before_kib = 0;
  std::int64_t rss_kib = 0;
  char error[256] = {};
};

void set_error(ChildReport& r, const std::string& what) {
  std::strncpy(r.error, what.c_str(), sizeof r.error - 1);
  if (r.error[0] == '\0') std::strcpy(r.error, "failed without a message");
}

// Lets the child map only `extra_mib` more than it has now: how a test makes creation fail.
void limit_address_space(std::int64_t extra_mib) {
  std::ifstream statm("/proc/self/statm");
  std::int64_t pages = 0;
  statm >> pages;
  const auto bytes = static_cast<rlim_t>(pages * sysconf(_SC_PAGESIZE) + extra_mib * 1024 * 1024);
  const rlimit limit{bytes, bytes};
  if (setrlimit(RLIMIT_AS, &limit) != 0) throw std::system_error(errno, std::generic_category(), "setrlimit");
}

// Runs in the child: never returns to the caller's code, never runs its atexit handlers.
[[noreturn]] void child(WaitFn wait, int n, const MemoryParams& p, int fd) {
  ChildReport r;
  try {
    if (p.address_space_mib > 0) limit_address_space(p.address_space_mib);
    if (const auto m = metrics::memory()) r.rss_before_kib = m->rss_kib;
    bool measured = false;
    const Waiting w = wait(n, [&] {
      if (const auto m = metrics::memory()) r.rss_kib = m->rss_kib, measured = true;
    });
    r.created = w.created;
    if (!w.error.empty())
      set_error(r, fmt::format("created {} of {}: {}", w.created, n, w.error));
    else if (!measured)
      set_error(r, "could not read VmRSS while the tasks waited");
  } catch (const std::exception& e) {
    set_error(r, e.what());
  } catch (...) {
    set_error(r, "unknown exception");
  }
  const auto* bytes = reinterpret_cast<const char*>(&r);
  for (std::size_t sent = 0; sent < sizeof r;) {
    const ssize_t k = write(fd, bytes + sent, sizeof r - sent);
    if (k <= 0 && errno != EINTR) _exit(3);
    if (k > 0) sent += static_cast<std::size_t>(k);
  }
  _exit(0);
}

// Reads the child's report, or says why there is none: killed, crashed, silent too long.
MemoryPoint collect(pid_t pid, int fd, int n, int timeout_s) {
  MemoryPoint point;
  point.n = n;
  ChildReport r;
  std::size_t got = 0;
  auto* bytes = reinterpret_cast<char*>(&r);
  bool timed_out = false;
  while (got < sizeof r) {
    pollfd pfd{fd, POLLIN, 0};
    const int ready = poll(&pfd, 1, timeout_s * 1000);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) timed_out = true, kill(pid, SIGKILL);
    if (ready <= 0) break;
    const ssize_t k = read(fd, bytes + got, sizeof r - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += static_cast<std::size_t>(k);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (got == sizeof r) {
    point.created = r.created, point.rss_before_kib = r.rss_before_kib, point.rss_kib = r.rss_kib;
    point.reason = r.error;
  } else if (timed_out) {
    point.reason = fmt::format("no report within {} s; child killed", timeout_s);
  } else if (WIFSIGNALED(status)) {
    point.reason = fmt::format("child killed by signal {} ({}){}", WTERMSIG(status), strsignal(WTERMSIG(status)),
                               WTERMSIG(status) == SIGKILL ? ", out of memory?" : "");
  } else {
    point.reason = fmt::format("child exited with status {} without a report", WEXITSTATUS(status));
  }
  if (point.ok() && point.created != n) point.reason = fmt::format("created {} of {}", point.created, n);
  return point;
}

MemoryPoint measure_point(WaitFn wait, int n, const MemoryParams& p) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(fds[0]), close(fds[1]);
    MemoryPoint point;
    point.n = n;
    point.reason = fmt::format("fork failed: {}", std::strerror(err));
    return point;
  }
  if (pid == 0) {
    close(fds[0]);
    child(wait, n, p, fds[1]);
  }
  close(fds[1]);
  MemoryPoint point = collect(pid, fds[0], n, p.timeout_s);
  close(fds[0]);
  return point;
}

}  // namespace

MemoryCurve measure_memory(WaitFn wait, const MemoryParams& p) {
  if (p.ns.empty()) throw std::invalid_argument("measure_memory: no task counts");
  for (const int n : p.ns)
    if (n < 1) throw std::invalid_argument("measure_memory: task counts must be positive");
  MemoryCurve curve;
  std::vector<double> xs, ys;
  for (const int n : p.ns) {
    curve.points.push_back(measure_point(wait, n, p));
    const auto& point = curve.points.back();
    if (point.ok()) xs.push_back(n), ys.push_back(static_cast<double>(point.growth_kib()));
  }
  if (xs.size() >= 2 && std::any_of(xs.begin(), xs.end(), [&](double x) { return x != xs.front(); }))
    curve.fit = fit_line(xs, ys);
  return curve;
}

}  // namespace tvl::primitives
