// The thread ceiling (von Behren et al., "Why Events Are A Bad Idea", HotOS 2003; Capriccio,
// SOSP 2003): how many waiting tasks each model holds on this machine, what each costs in
// memory and in creation time, and which limit of the machine stops it.
//
// A kind of task (a thread with the default stack, a thread with a small stack, a coroutine)
// climbs a ladder of N. Each N runs in a fresh forked child: it creates N tasks that all wait
// on one thing a single release wakes (a latch, a timer), reads its RSS while they wait,
// releases them and counts that every one finished. A kind stops at the first N it cannot
// reach, and the row says why, with the limit's name and value: read from the errno of the
// creation that failed and from the system (pid_max, threads-max, RLIMIT_NPROC,
// vm.max_map_count, memory). This header is the domain: parameters, rows, the naming of a
// limit and the forking driver (scenarios/ceiling.cpp); the models hold their tasks in
// threads/ceiling.cpp and asyncloop/ceiling.cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tvl::ceiling {

// ---------------------------------------------------------------- holding N waiting tasks

struct Hold {
  int n = 0;                  // tasks to create
  std::size_t stack_kib = 0;  // threads: each one's stack (0: the system's default); coroutines: unused
  // Threads: asked every kCheckEvery creations; false stops creating (Held::stopped). Other
  // processes make threads too, so the pids left are read again while this one climbs.
  std::function<bool()> more;
};

inline constexpr int kCheckEvery = 256;

// Wall-clock seconds since t0: how long creating, and releasing, the tasks took.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Held {
  int created = 0;
  int finished = 0;            // tasks that ran to their end after the release
  int error = 0;               // errno of the creation that failed (0: none failed)
  double create_seconds = 0;   // wall time to create them all and see each waiting
  double release_seconds = 0;  // wall time from the release until every task had finished
  bool stopped = false;        // creation stopped because Hold::more said so
};

// Creates up to h.n tasks, each by start() (0, or the errno of a creation that failed): stops at
// the first failure (held.error) or when Hold::more, asked every kCheckEvery creations, says so
// (held.stopped).
template <class Start>
void create_tasks(const Hold& h, Held& held, Start start) {
  for (int i = 0; i < h.n && held.error == 0; ++i) {
    if (h.more && i > 0 && i % kCheckEvery == 0 && !h.more()) {
      held.stopped = true;
      return;
    }
    held.error = start();
  }
}

// Creates h.n tasks, each of which blocks until one release wakes them
// all; calls while_waiting() once every task created is waiting (also when creation stopped
// short), then releases them and waits for every one to finish. Stops creating at the first
// failure and returns its errno (ENOMEM for an allocation that failed).
using HoldFn = Held (*)(const Hold& h, const std::function<void()>& while_waiting);

Held threads_hold(const Hold& h, const std::function<void()>& while_waiting);    // pthreads on a latch
Held asyncloop_hold(const Hold& h, const std::function<void()>& while_waiting);  // awaitables on a timer

// ---------------------------------------------------------------- the limits of the machine

// What stops a thread-per-task program, read at the moment it stopped. A limit the kernel
// does not bound is -1.
struct System {
  std::int64_t pid_max = -1;            // /proc/sys/kernel/pid_max: pids system-wide
  std::int64_t threads_max = -1;        // /proc/sys/kernel/threads-max
  std::int64_t max_map_count = -1;      // /proc/sys/vm/max_map_count: mappings per process
  std::int64_t nproc = -1;              // RLIMIT_NPROC: threads of this user (root is not bound)
  std::int64_t cgroup_pids = -1;        // pids.max of this cgroup
  std::int64_t address_space_kib = -1;  // RLIMIT_AS of this process
  std::int64_t threads_in_system = 0;   // /proc/loadavg: every thread of every process
  std::int64_t maps_in_process = 0;     // lines of /proc/self/maps
  std::int64_t mem_available_kib = -1;  // MemAvailable
  std::int64_t vm_kib = 0;              // VmSize of this process: address space, touched or not
  std::int64_t kernel_kib = 0;          // KernelStack + PageTables, system-wide: what RSS leaves out
};

System read_system();  // of the calling process, now

// Each thread's stack is two mappings: the stack and its guard page (glibc).
inline constexpr int kMapsPerThread = 2;
// A limit counts as reached once this share of it is in use (a few threads or mappings may
// have come and gone between the failure and the reading).
inline constexpr double kReachedShare = 0.97;
// Below this much memory available, a failed allocation is put down to memory.
inline constexpr std::int64_t kLowMemoryKib = 256 * 1024;

struct Limit {
  std::string name;         // "pid_max", "max_map_count", "memory (MemAvailable)"...; empty: none
  std::int64_t value = -1;  // the limit's value (KiB for memory)
  std::string text;         // one sentence: what was in use against it
  bool empty() const { return name.empty(); }
};

// The limit that stopped a creation: `error` (errno, 0 if none failed), `spared` (creation
// stopped at the cap before the system-wide limits, to leave pids to the rest of the machine),
// the tasks created, the system as read then, and the address space one more task would have
// mapped (a thread: its stack and guard page). Pure: unit-tested on made-up readings.
Limit name_limit(int error, bool spared, int created, const System& s, std::int64_t next_task_vm_kib = 0);

// How many threads may be created without taking the machine's last `spare` pids: the least
// of the system-wide limits (pid_max, threads-max, cgroup pids.max) less the threads in use
// and `spare`; with the name of that limit.
struct Headroom {
  std::int64_t threads = 0;
  std::string limit;
};
Headroom thread_headroom(const System& s, int spare);
// The same from a quick reading of the system-wide limits only (not the mappings, not memory):
// cheap enough to ask while threads are being created.
Headroom thread_headroom_now(int spare);

// ---------------------------------------------------------------- the ladder

struct Params {
  std::vector<int> tasks{1'000, 2'000, 5'000, 10'000, 20'000, 50'000, 100'000};
  int spare_pids = 1024;               // threads: never take the machine's last pids (others are running)
  int timeout_s = 120;                 // a child that has not reported by then is killed
  std::int64_t address_space_mib = 0;  // > 0: each child may map only this much more (RLIMIT_AS)
};

struct Row {
  int tasks = 0;  // N asked for
  int created = 0;
  int finished = 0;
  bool reached = false;  // all N created, waiting, released and finished
  double us_per_create = 0;
  double ms_release = 0;
  std::int64_t rss_before_kib = 0;                     // the child's VmRSS before it created anything
  std::int64_t rss_kib = 0;                            // with every created task waiting
  std::int64_t vm_before_kib = 0, vm_kib = 0;          // the child's VmSize, the same two moments
  std::int64_t kernel_before_kib = 0, kernel_kib = 0;  // the kernel's stacks and page tables
  Limit limit;                                         // why it stopped; empty when reached
  std::string failure;                                 // the child failed otherwise (killed, no report): said here
  double kib_per_task() const;                         // (rss_kib - rss_before_kib) / created
  double vm_kib_per_task() const;                      // address space reserved per task (a thread's whole stack)
  double kernel_kib_per_task() const;                  // kernel memory per task (system-wide, so approximate)
};

// Measures each N of p.tasks in its own forked child, in order, and stops after the first N
// that is not reached (that row included). Call it while this process has one thread.
std::vector<Row> climb(HoldFn hold, std::size_t stack_kib, bool is_thread, const Params& p);

// KiB per task as the least-squares slope of RSS growth over the tasks created, through the
// rows that were reached (at least 2 with different N); otherwise the last row's own ratio.
double kib_per_task_slope(const std::vector<Row>& rows);

// "stopped at 50,000: <limit text>" (or the failure), for a row that was not reached.
std::string stopped_text(const Row& r);

}  // namespace tvl::ceiling
