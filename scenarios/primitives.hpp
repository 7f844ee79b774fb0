// The primitives under every scenario: what a switch, a creation and a waiting task cost.
//
// Three measurements, each made for OS threads and for coroutines on one io_context:
//   switch    two tasks hand one thread of control back and forth (ping-pong); the time per
//             hand-over is the cost of a context switch in that model;
//   create    make a task, let it run to the end and wait for it (create + join);
//   memory    the resident memory that N waiting tasks add, as the slope of RSS over N, each N
//             measured in a fresh child process so that no point inherits another's heap.
// Switch and creation runs are made pinned (every thread on one CPU) and unpinned.
//
// This header is the domain only: parameters, results, their checks, the slope fit and the
// forking memory driver (scenarios/primitives.cpp and primitives_memory.cpp). The models live
// in threads/primitives.cpp and asyncloop/primitives.cpp, behind two signatures: RunFn (a
// switch or a creation run) and WaitFn (N waiting tasks).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "measure/metrics.hpp"

namespace tvl::primitives {

// ---------------------------------------------------------------- switch and create

struct RunParams {
  long count = 20'000;  // switch: ping-pong round trips; create: tasks created one after another
  bool pinned = false;  // every thread of the run on pin_cpu()
};

// What a run did, counted by the tasks themselves, so that the harness can check it.
struct RunResult {
  long done = 0;      // round trips completed, or tasks that ran to the end
  long switches = 0;  // hand-overs seen by the tasks (2 per round trip); 0 for create
  double seconds = 0.0;
  metrics::Usage usage;  // of the whole process, during the timed part
  int cpus = 0;          // CPUs the run's threads were allowed on
};

using RunFn = RunResult (*)(const RunParams&);

// threads/primitives.cpp
RunResult threads_semaphore(const RunParams& p);  // ping-pong through two binary semaphores
RunResult threads_pipe(const RunParams& p);       // ping-pong through two pipes, one byte each way
RunResult threads_create(const RunParams& p);     // std::thread + join, one after another

// asyncloop/primitives.cpp: two coroutines on one io_context run by this thread, each turn
// handing the thread back to the loop, which resumes the other one.
RunResult asyncloop_post(const RunParams& p);           // asio::awaitable, co_await asio::post
RunResult asyncloop_post_nolock(const RunParams& p);    // the same, io_context without locking
RunResult asyncloop_handle(const RunParams& p);         // bare coroutine, its handle posted
RunResult asyncloop_handle_nolock(const RunParams& p);  // the same, io_context without locking
RunResult asyncloop_create(const RunParams& p);         // co_spawn + co_await its completion

// A switch or creation mechanism as the catalog lists it (catalog/primitives.cpp).
struct Mechanism {
  std::string_view model, variant, what;
  RunFn run;
};

// Throws std::runtime_error unless the run did all of p.count (and, for a switch, two
// hand-overs per round trip).
void check_run(const RunParams& p, const RunResult& r, bool is_switch);

double ns_per_switch(const RunResult& r);  // wall-clock time / hand-overs
double us_per_create(const RunResult& r);  // wall-clock time / tasks

// The CPU a pinned run uses: the lowest one this process may run on (0 unless a cpuset
// says otherwise).
int pin_cpu();

// Pins the calling thread to one CPU until destroyed, then restores its previous affinity.
// Threads it creates meanwhile inherit the pin. cpu < 0 leaves the affinity alone.
class ScopedPin {
 public:
  explicit ScopedPin(int cpu);
  ~ScopedPin();
  ScopedPin(const ScopedPin&) = delete;
  ScopedPin& operator=(const ScopedPin&) = delete;
  int cpus() const;  // CPUs the calling thread may run on now

 private:
  std::vector<unsigned char> saved_;  // the previous cpu_set_t, empty if nothing to restore
};

// The stack size a std::thread gets by default (pthread_attr_getstacksize of a default attr).
std::int64_t default_stack_kib();

// ---------------------------------------------------------------- memory per waiting task

// Creates n tasks that all block, calls while_waiting() once every one of them is waiting,
// then releases them. Stops at the first task it cannot create and says why in `error`.
struct Waiting {
  int created = 0;
  std::string error;
};
using WaitFn = Waiting (*)(int n, const std::function<void()>& while_waiting);

Waiting threads_waiting(int n, const std::function<void()>& while_waiting);         // blocked on a latch
Waiting asyncloop_timer_each(int n, const std::function<void()>& while_waiting);    // a steady_timer each
Waiting asyncloop_timer_shared(int n, const std::function<void()>& while_waiting);  // one steady_timer
Waiting asyncloop_sleep_queue(int n, const std::function<void()>& while_waiting);   // the restaurant's SleepQueue

struct Waiter {
  std::string_view model, variant, what;
  WaitFn run;
};

// A least-squares line y = intercept + slope * x.
struct Fit {
  double slope = 0.0;
  double intercept = 0.0;
  double residual = 0.0;  // root mean square of the residuals, in units of y
  double r2 = 0.0;        // coefficient of determination; 1 when the points lie on the line
};

// Throws std::invalid_argument with fewer than 2 points, sizes that differ, or all x equal.
Fit fit_line(const std::vector<double>& xs, const std::vector<double>& ys);

struct MemoryParams {
  std::vector<int> ns;                 // task counts, one child process each
  std::int64_t address_space_mib = 0;  // > 0: the child may map only this much more (RLIMIT_AS)
  int timeout_s = 120;                 // a child that has not reported by then is killed
};

struct MemoryPoint {
  int n = 0;
  int created = 0;
  std::int64_t rss_before_kib = 0;  // the child's VmRSS before it created anything
  std::int64_t rss_kib = 0;         // its VmRSS with all n tasks waiting
  std::string reason;               // empty when the point is good
  bool ok() const { return reason.empty(); }
  std::int64_t growth_kib() const { return rss_kib - rss_before_kib; }
};

struct MemoryCurve {
  std::vector<MemoryPoint> points;  // every N asked for, failed ones included
  std::optional<Fit> fit;           // KiB of RSS growth per task; needs 2 good points
  int failed() const;
};

// Measures every n of p.ns in its own forked child: the child creates the tasks, reads its
// VmRSS while they wait, writes it to a pipe and leaves with _exit. Call it while this process
// has one thread: a child of a multi-threaded process may inherit a lock held by a thread
// that does not exist in it. A point that fails is recorded with its reason.
MemoryCurve measure_memory(WaitFn wait, const MemoryParams& p);

// ---------------------------------------------------------------- what is reported

// Counters with the names used everywhere (docs/metrics.md), for tvl-bench and `tvl run`.
using Counters = std::vector<std::pair<std::string, double>>;

// ns_per_switch or us_per_create, items_per_second, pinned, cpus, vcsw, ivcsw, and
// stack_kib for threads. Names: primitives/<model>/<variant>/pinned:<0|1>.
Counters run_counters(const Mechanism& m, const RunParams& p, const RunResult& r, bool is_switch);
std::string run_name(const Mechanism& m, bool pinned);

// kib_per_task (the slope), fit_residual_kib, fit_r2, fit_intercept_kib, tasks_min, tasks_max,
// points, failed_points, growth_kib_n<N> for every good point, and stack_kib for threads.
// Names: primitives/<model>/<variant>/tasks_max:<largest N>.
Counters memory_counters(const Waiter& w, const MemoryCurve& c);
std::string memory_name(const Waiter& w, const MemoryParams& p);

}  // namespace tvl::primitives
