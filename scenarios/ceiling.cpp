// The thread ceiling: the limits of the machine, named from errno and /proc, and the ladder of
// N, each N held in a forked child so that a child at the limit takes nothing down with it.
#include "scenarios/ceiling.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <fstream>
#include <functional>

#include <fmt/format.h>

#include "measure/metrics.hpp"
#include "scenarios/primitives.hpp"

namespace tvl::ceiling {

namespace {

// The first number in a file ("max" or a missing file: -1).
std::int64_t read_number(const char* path) {
  std::ifstream in(path);
  std::int64_t v = -1;
  if (!(in >> v)) return -1;
  return v;
}

// The threads of every process: the denominator of /proc/loadavg's fourth field ("3/134").
std::int64_t threads_in_system() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c, running;
  in >> a >> b >> c >> running;
  const auto slash = running.find('/');
  return slash == std::string::npos ? -1 : std::stoll(running.substr(slash + 1));
}

std::int64_t lines_of(const char* path) {
  std::ifstream in(path);
  std::int64_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// A "Key: value kB" line of /proc/meminfo or /proc/self/status; -1 when absent.
std::int64_t kib_field(const char* path, const std::string& key) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(key)) return std::stoll(line.substr(key.size()));
  return -1;
}

// A limit and how much of it is in use.
struct Use {
  const char* name;
  std::int64_t used, limit;
  const char* what;
  double share() const { return limit > 0 ? double(used) / double(limit) : 0.0; }
};

// The limits that count threads system-wide, which the rest of the machine shares.
std::array<Use, 3> system_wide(const System& s, std::int64_t used) {
  return {Use{"pid_max", used, s.pid_max, "threads in use system-wide (a thread takes a pid)"},
          Use{"threads-max", used, s.threads_max, "threads in use system-wide"},
          Use{"cgroup pids.max", used, s.cgroup_pids, "threads in use system-wide (the cgroup's are fewer)"}};
}

std::string errno_name(int error) {
  switch (error) {
    case EAGAIN:
      return "EAGAIN";
    case ENOMEM:
      return "ENOMEM";
    default:
      return fmt::format("errno {}", error);
  }
}

}  // namespace

System read_system() {
  System s;
  s.pid_max = read_number("/proc/sys/kernel/pid_max");
  s.threads_max = read_number("/proc/sys/kernel/threads-max");
  s.max_map_count = read_number("/proc/sys/vm/max_map_count");
  rlimit nproc{};
  if (getrlimit(RLIMIT_NPROC, &nproc) == 0 && nproc.rlim_cur != RLIM_INFINITY && geteuid() != 0)
    s.nproc = static_cast<std::int64_t>(nproc.rlim_cur);
  rlimit as{};
  if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY)
    s.address_space_kib = static_cast<std::int64_t>(as.rlim_cur / 1024);
  s.cgroup_pids = read_number("/sys/fs/cgroup/pids.max");  // cgroup v2; "max" reads as -1
  if (s.cgroup_pids < 0) s.cgroup_pids = read_number("/sys/fs/cgroup/pids/pids.max");
  s.threads_in_system = threads_in_system();
  s.maps_in_process = lines_of("/proc/self/maps");
  s.mem_available_kib = kib_field("/proc/meminfo", "MemAvailable:");
  s.vm_kib = kib_field("/proc/self/status", "VmSize:");
  s.kernel_kib = kib_field("/proc/meminfo", "KernelStack:") + kib_field("/proc/meminfo", "PageTables:");
  return s;
}

Headroom thread_headroom(const System& s, int spare) {
  Headroom h{.threads = -1, .limit = ""};
  for (const Use& u : system_wide(s, s.threads_in_system)) {
    if (u.limit <= 0) continue;
    const std::int64_t left = std::max<std::int64_t>(0, u.limit - 1 - u.used - spare);  // pid 0 is never given
    if (h.threads < 0 || left < h.threads) h = {left, u.name};
  }
  return h;
}

Headroom thread_headroom_now(int spare) {
  System s;
  s.pid_max = read_number("/proc/sys/kernel/pid_max");
  s.threads_max = read_number("/proc/sys/kernel/threads-max");
  s.cgroup_pids = read_number("/sys/fs/cgroup/pids.max");
  if (s.cgroup_pids < 0) s.cgroup_pids = read_number("/sys/fs/cgroup/pids/pids.max");
  s.threads_in_system = threads_in_system();
  return thread_headroom(s, spare);
}

Limit name_limit(int error, bool spared, int created, const System& s, std::int64_t next_task_vm_kib) {
  if (spared) {
    const Headroom h = thread_headroom(s, 0);
    const auto limits = system_wide(s, s.threads_in_system);
    const auto u = std::ranges::find_if(limits, [&](const Use& x) { return x.name == h.limit; });
    if (u == limits.end()) return {"spared pids", -1, "stopped early to leave pids to the other processes"};
    return {h.limit, u->limit,
            fmt::format("{} = {}: {} {} with {} of this run's; the last pids are left to the other processes", u->name,
                        u->limit, u->used, u->what, created)};
  }
  if (error == 0) return {};
  std::vector<Use> uses;
  for (const Use& u : system_wide(s, s.threads_in_system + 1)) uses.push_back(u);  // +1: the one that failed
  uses.push_back({"RLIMIT_NPROC", s.threads_in_system + 1, s.nproc, "threads in use (the limit counts this user's)"});
  uses.push_back({"max_map_count", s.maps_in_process + kMapsPerThread, s.max_map_count,
                  "memory mappings in this process (a stack and its guard page per thread)"});
  uses.push_back({"RLIMIT_AS (KiB)", s.vm_kib + next_task_vm_kib, s.address_space_kib,
                  "KiB of address space this process had mapped or needed for the next task"});
  const auto top = std::ranges::max_element(uses, {}, &Use::share);
  const std::string cause = fmt::format("creating task {} failed with {}", created + 1, errno_name(error));
  if (top->share() >= kReachedShare)
    return {top->name, top->limit,
            fmt::format("{}: {} = {}, {} {}", cause, top->name, top->limit, top->used, top->what)};
  if (s.mem_available_kib >= 0 && s.mem_available_kib < kLowMemoryKib)
    return {"memory (MemAvailable)", s.mem_available_kib,
            fmt::format("{}: {} KiB of memory available", cause, s.mem_available_kib)};
  return {errno_name(error), error,
          fmt::format("{}, and no limit was near: the nearest, {} = {}, had {} in use", cause, top->name, top->limit,
                      top->used)};
}

double Row::kib_per_task() const { return created > 0 ? static_cast<double>(rss_kib - rss_before_kib) / created : 0.0; }

double Row::vm_kib_per_task() const {
  return created > 0 ? static_cast<double>(vm_kib - vm_before_kib) / created : 0.0;
}

double Row::kernel_kib_per_task() const {
  return created > 0 ? static_cast<double>(kernel_kib - kernel_before_kib) / created : 0.0;
}

std::string stopped_text(const Row& r) {
  return fmt::format("stopped at {}: {}", r.tasks, r.limit.empty() ? r.failure : r.limit.text);
}

double kib_per_task_slope(const std::vector<Row>& rows) {
  std::vector<double> xs, ys;
  for (const Row& r : rows)
    if (r.reached) xs.push_back(r.created), ys.push_back(static_cast<double>(r.rss_kib - r.rss_before_kib));
  if (std::ranges::adjacent_find(xs, std::not_equal_to{}) != xs.end()) return primitives::fit_line(xs, ys).slope;
  return rows.empty() ? 0.0 : rows.back().kib_per_task();
}

}  // namespace tvl::ceiling
