// The model-independent half of the primitives scenario: checks, CPU pinning and the counters
// reported. The slope fit and the forking memory driver are in primitives_memory.cpp.
#include "scenarios/primitives.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include "scenarios/naming.hpp"

namespace tvl::primitives {

void check_run(const RunParams& p, const RunResult& r, bool is_switch) {
  if (r.done != p.count)
    throw std::runtime_error(
        fmt::format("{} {} of {} asked for", is_switch ? "round trips:" : "tasks completed:", r.done, p.count));
  if (is_switch && r.switches != 2 * p.count)
    throw std::runtime_error(fmt::format("{} hand-overs seen, {} expected", r.switches, 2 * p.count));
  if (r.seconds <= 0.0) throw std::runtime_error("the run took no measurable time");
}

double ns_per_switch(const RunResult& r) { return r.switches > 0 ? r.seconds * 1e9 / double(r.switches) : 0.0; }
double us_per_create(const RunResult& r) { return r.done > 0 ? r.seconds * 1e6 / double(r.done) : 0.0; }

int pin_cpu() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) return cpu;
  return 0;
}

ScopedPin::ScopedPin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t old, one;
  if (pthread_getaffinity_np(pthread_self(), sizeof old, &old) != 0) throw std::runtime_error("cannot read affinity");
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  if (const int err = pthread_setaffinity_np(pthread_self(), sizeof one, &one))
    throw std::system_error(err, std::generic_category(), fmt::format("cannot pin to CPU {}", cpu));
  const auto* bytes = reinterpret_cast<const unsigned char*>(&old);
  saved_.assign(bytes, bytes + sizeof old);
}

ScopedPin::~ScopedPin() {
  if (saved_.empty()) return;
  cpu_set_t old;
  std::memcpy(&old, saved_.data(), sizeof old);
  pthread_setaffinity_np(pthread_self(), sizeof old, &old);
}

int ScopedPin::cpus() const {
  cpu_set_t set;
  if (pthread_getaffinity_np(pthread_self(), sizeof set, &set) != 0) return 0;
  return CPU_COUNT(&set);
}

std::int64_t default_stack_kib() {
  pthread_attr_t attr;
  std::size_t bytes = 0;
  if (pthread_attr_init(&attr) != 0) return 0;
  pthread_attr_getstacksize(&attr, &bytes);
  pthread_attr_destroy(&attr);
  return static_cast<std::int64_t>(bytes / 1024);
}

Counters run_counters(const Mechanism& m, const RunParams& p, const RunResult& r, bool is_switch) {
  const double items = double(is_switch ? r.switches : r.done);
  Counters c;
  if (is_switch) c.emplace_back("ns_per_switch", ns_per_switch(r)), c.emplace_back("round_trips", double(r.done));
  if (!is_switch) c.emplace_back("us_per_create", us_per_create(r)), c.emplace_back("created", double(r.done));
  c.emplace_back("items_per_second", r.seconds > 0 ? items / r.seconds : 0.0);
  c.emplace_back("pinned", p.pinned ? 1.0 : 0.0);
  c.emplace_back("cpus", r.cpus);
  c.emplace_back("vcsw", double(r.usage.vcsw));
  c.emplace_back("ivcsw", double(r.usage.ivcsw));
  if (m.model == "threads") c.emplace_back("stack_kib", double(default_stack_kib()));
  return c;
}

std::string run_name(const Mechanism& m, bool pinned) {
  return benchmark_name("primitives", m.model, m.variant, {{"pinned", pinned ? 1 : 0}});
}

Counters memory_counters(const Waiter& w, const MemoryCurve& curve) {
  Counters c;
  if (curve.fit) {
    c.emplace_back("kib_per_task", curve.fit->slope);
    c.emplace_back("fit_residual_kib", curve.fit->residual);
    c.emplace_back("fit_r2", curve.fit->r2);
    c.emplace_back("fit_intercept_kib", curve.fit->intercept);
  }
  int lo = 0, hi = 0;
  for (const auto& p : curve.points) {
    lo = lo == 0 ? p.n : std::min(lo, p.n);
    hi = std::max(hi, p.n);
    if (p.ok()) c.emplace_back(fmt::format("growth_kib_n{}", p.n), double(p.growth_kib()));
  }
  c.emplace_back("tasks_min", lo);
  c.emplace_back("tasks_max", hi);
  c.emplace_back("points", double(curve.points.size()));
  c.emplace_back("failed_points", curve.failed());
  if (w.model == "threads") c.emplace_back("stack_kib", double(default_stack_kib()));
  return c;
}

std::string memory_name(const Waiter& w, const MemoryParams& p) {
  const int most = p.ns.empty() ? 0 : *std::max_element(p.ns.begin(), p.ns.end());
  return benchmark_name("primitives", w.model, w.variant, {{"tasks_max", most}});
}

}  // namespace tvl::primitives
