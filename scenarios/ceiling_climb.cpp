// The ceiling's ladder: each N in a forked child, which creates the tasks, reads its RSS and
// the system while they wait, releases them and reports through a pipe. A child may run into
// a limit of the machine (or be killed for memory); the parent only reads its report.
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "measure/forked.hpp"
#include "measure/metrics.hpp"
#include "scenarios/ceiling.hpp"

namespace tvl::ceiling {

namespace {

// What a child reports through its pipe (measure/forked.hpp): plain bytes, no allocation on
// either side.
struct Report {
  Held held;
  int asked = 0;                 // tasks the child created at most: N, or fewer to spare the machine's last pids
  std::int64_t task_vm_kib = 0;  // address space one more task maps: a thread's stack and guard page
  std::int64_t rss_before_kib = 0, rss_kib = 0;
  System before;  // read before the child created anything
  System system;  // read while the tasks waited: at the limit, if creation stopped at one
  char error[256] = {};
};

constexpr std::int64_t kGuardKib = 4;  // glibc's guard page below each thread stack

// Lets the child map only `extra_mib` more than it has now: how a test meets a limit for real
// without touching the machine's.
void limit_address_space(std::int64_t extra_mib) {
  const auto kib = read_system().vm_kib + extra_mib * 1024;
  const rlimit limit{static_cast<rlim_t>(kib) * 1024, static_cast<rlim_t>(kib) * 1024};
  if (setrlimit(RLIMIT_AS, &limit) != 0) throw std::system_error(errno, std::generic_category(), "setrlimit");
}

// In the child: creates and holds the tasks, and writes what it saw into r.
void hold_in_child(HoldFn hold, int n, std::size_t stack_kib, bool is_thread, const Params& p, Report& r) {
  try {
    if (p.address_space_mib > 0) limit_address_space(p.address_space_mib);
    r.before = read_system();
    if (is_thread)
      r.task_vm_kib = (stack_kib > 0 ? static_cast<std::int64_t>(stack_kib) : metrics::default_stack_kib()) + kGuardKib;
    const Headroom room = thread_headroom(r.before, p.spare_pids);
    r.asked = is_thread && room.threads >= 0 ? static_cast<int>(std::min<std::int64_t>(n, room.threads)) : n;
    if (const auto m = metrics::memory()) r.rss_before_kib = m->rss_kib;
    Hold h{.n = r.asked, .stack_kib = stack_kib, .more = {}};
    if (is_thread) h.more = [&p] { return thread_headroom_now(p.spare_pids).threads > 0; };
    r.held = hold(h, [&] {
      if (const auto m = metrics::memory()) r.rss_kib = m->rss_kib;
      r.system = read_system();
    });
  } catch (const std::exception& e) {
    std::strncpy(r.error, e.what(), sizeof r.error - 1);
  }
}

Row to_row(int n, const Report& r) {
  Row row;
  row.tasks = n;
  row.created = r.held.created;
  row.finished = r.held.finished;
  row.us_per_create = r.held.created > 0 ? r.held.create_seconds * 1e6 / r.held.created : 0.0;
  row.ms_release = r.held.release_seconds * 1e3;
  row.rss_before_kib = r.rss_before_kib;
  row.rss_kib = r.rss_kib;
  row.vm_before_kib = r.before.vm_kib;
  row.vm_kib = r.system.vm_kib;
  row.kernel_before_kib = r.before.kernel_kib;
  row.kernel_kib = r.system.kernel_kib;
  const bool spared = r.held.error == 0 && (r.held.stopped || (r.asked < n && r.held.created == r.asked));
  row.limit = name_limit(r.held.error, spared, r.held.created, r.system, r.task_vm_kib);
  if (r.error[0] != '\0')
    row.failure = r.error;
  else if (row.finished != row.created)
    row.failure = fmt::format("{} of {} tasks finished after the release", row.finished, row.created);
  else if (row.created < n && row.limit.empty())
    row.failure = fmt::format("created {} of {} and no creation failed", row.created, n);
  row.reached = row.created == n && row.finished == n && row.limit.empty() && row.failure.empty();
  return row;
}

Row measure(HoldFn hold, int n, std::size_t stack_kib, bool is_thread, const Params& p) {
  std::string failure;
  const auto report = forked::run<Report>(
      p.timeout_s, [&](Report& r) { hold_in_child(hold, n, stack_kib, is_thread, p, r); }, failure);
  if (report) return to_row(n, *report);
  Row row;
  row.tasks = n;
  row.failure = failure;
  return row;
}

}  // namespace

std::vector<Row> climb(HoldFn hold, std::size_t stack_kib, bool is_thread, const Params& p) {
  if (p.tasks.empty()) throw std::invalid_argument("ceiling: no task counts");
  if (!std::ranges::is_sorted(p.tasks) || p.tasks.front() < 1)
    throw std::invalid_argument("ceiling: task counts must be positive and ascending");
  std::vector<Row> rows;
  for (const int n : p.tasks) {
    rows.push_back(measure(hold, n, stack_kib, is_thread, p));
    if (!rows.back().reached) break;
  }
  return rows;
}

}  // namespace tvl::ceiling
