// The thread ceiling, threads side: N threads, each blocked on one latch until a single
// count_down wakes them all. Compare with asyncloop/ceiling.cpp, where N coroutines wait on one
// timer that a single cancel wakes.
//
// pthread_create rather than std::thread, for two reasons the lesson is about: the stack size
// is an attribute (pthread_attr_setstacksize; std::thread has none), and a failure comes back as
// an errno (EAGAIN at pid_max, threads-max, RLIMIT_NPROC or vm.max_map_count; glibc turns a
// stack that could not be mapped into EAGAIN too) rather than as an exception's text.
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <vector>

#include "scenarios/ceiling.hpp"

namespace tvl::ceiling {

namespace {

using Clock = std::chrono::steady_clock;

struct Shared {
  std::atomic<int> arrived{0};
  std::atomic<int> finished{0};
  std::latch release{1};
};

// A thread's whole life: say it is waiting, wait, say it finished.
void* waiter(void* arg) {
  auto& shared = *static_cast<Shared*>(arg);
  shared.arrived.fetch_add(1);
  shared.arrived.notify_one();
  shared.release.wait();
  shared.finished.fetch_add(1);
  return nullptr;
}

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

Held threads_hold(const Hold& h, const std::function<void()>& while_waiting) {
  Shared shared;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (h.stack_kib > 0) pthread_attr_setstacksize(&attr, h.stack_kib * 1024);
  std::vector<pthread_t> threads;
  threads.reserve(static_cast<std::size_t>(h.n));
  Held held;
  const auto t0 = Clock::now();
  for (int i = 0; i < h.n; ++i) {
    if (h.more && i % kCheckEvery == 0 && i > 0 && !h.more()) {
      held.stopped = true;
      break;
    }
    pthread_t t;
    if (const int rc = pthread_create(&t, &attr, waiter, &shared); rc != 0) {
      held.error = rc;  // pthread_create returns the errno rather than setting it
      break;
    }
    threads.push_back(t);
  }
  pthread_attr_destroy(&attr);
  held.created = static_cast<int>(threads.size());
  for (int seen = shared.arrived.load(); seen < held.created; seen = shared.arrived.load()) shared.arrived.wait(seen);
  held.create_seconds = since(t0);
  while_waiting();
  const auto t1 = Clock::now();
  shared.release.count_down();
  for (const pthread_t t : threads) pthread_join(t, nullptr);
  held.release_seconds = since(t1);
  held.finished = shared.finished.load();
  return held;
}

}  // namespace tvl::ceiling
