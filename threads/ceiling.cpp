// The thread ceiling, threads side: N threads, each blocked on one latch until a single
// count_down wakes them all. Compare with asyncloop/ceiling.cpp, where N coroutines wait on one
// timer that a single cancel wakes.
//
// Each thread's stack is the process's default while the hold lasts (threads/default_stack.hpp:
// std::thread has no stack size of its own). A thread that cannot be created comes back as a
// std::system_error whose code is the errno: EAGAIN at pid_max, threads-max, RLIMIT_NPROC or
// vm.max_map_count (glibc turns a stack that could not be mapped into EAGAIN too).
#include <atomic>
#include <chrono>
#include <latch>
#include <system_error>
#include <thread>
#include <vector>

#include "scenarios/ceiling.hpp"
#include "threads/default_stack.hpp"

namespace tvl::ceiling {

namespace {

// What every waiter shares: how many are waiting, how many finished, and the gate they wait at.
struct Shared {
  std::atomic<int> arrived{0};
  std::atomic<int> finished{0};
  std::latch gate{1};  // one count_down opens it for every thread
};

// A thread's whole life: say it is waiting, wait, say it finished.
void waiter(Shared& shared) {
  ++shared.arrived;
  shared.arrived.notify_one();
  shared.gate.wait();
  ++shared.finished;
}

// Starts one waiter: 0, or the errno of a thread that could not be created.
int start_waiter(Shared& shared, std::vector<std::thread>& threads) {
  try {
    threads.emplace_back(waiter, std::ref(shared));
  } catch (const std::system_error& e) {
    return e.code().value();  // the errno: EAGAIN at a limit of threads
  }
  return 0;
}

}  // namespace

Held threads_hold(const Hold& h, const std::function<void()>& while_waiting) {
  const DefaultStack stack(h.stack_kib);  // of each thread created below
  Shared shared;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(h.n));
  Held held;
  const auto t0 = std::chrono::steady_clock::now();
  create_tasks(h, held, [&] { return start_waiter(shared, threads); });
  const int started = static_cast<int>(threads.size());
  for (int seen = shared.arrived; seen < started; seen = shared.arrived) shared.arrived.wait(seen);
  held.created = shared.arrived;
  held.create_seconds = seconds_since(t0);
  while_waiting();
  const auto t1 = std::chrono::steady_clock::now();
  shared.gate.count_down();
  for (auto& t : threads) t.join();
  held.release_seconds = seconds_since(t1);
  held.finished = shared.finished;
  return held;
}

}  // namespace tvl::ceiling
