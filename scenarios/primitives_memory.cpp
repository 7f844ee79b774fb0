// The memory per waiting task: a least-squares slope over N, each N measured in a forked
// child process so that no point inherits the heap of the one before.
#include "scenarios/primitives.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include "measure/forked.hpp"

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

// What a child reports through its pipe (measure/forked.hpp): plain bytes, so it needs no
// allocation on either side.
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

// In the child: creates the n waiting tasks and writes what it measured into r.
void wait_in_child(WaitFn wait, int n, const MemoryParams& p, ChildReport& r) {
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
}

MemoryPoint measure_point(WaitFn wait, int n, const MemoryParams& p) {
  MemoryPoint point;
  point.n = n;
  const auto report = forked::run<ChildReport>(
      p.timeout_s, [&](ChildReport& r) { wait_in_child(wait, n, p, r); }, point.reason);
  if (report) {
    point.created = report->created, point.rss_before_kib = report->rss_before_kib;
    point.rss_kib = report->rss_kib;
    point.reason = report->error;
  }
  if (point.ok() && point.created != n) point.reason = fmt::format("created {} of {}", point.created, n);
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
