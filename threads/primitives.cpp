// The primitives with OS threads: what the kernel charges for a switch, a thread and a wait.
//
// A switch between threads goes through the kernel: the waiting thread sleeps in a futex (or
// in read() on a pipe), the other thread's wake-up makes it runnable, and the scheduler saves
// one thread's registers and loads the other's. Pinned to one CPU, every hand-over is such a
// switch on that CPU; unpinned, the two threads may sit on two CPUs and the cost becomes a
// cross-CPU wake-up, which is often slower, not faster. A thread's memory is its stack (the
// pages it touched) plus the thread descriptor glibc keeps at the top of that stack.
//
// Compare with asyncloop/primitives.cpp: the same three measurements with coroutines.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <semaphore>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "scenarios/primitives.hpp"

namespace tvl::primitives {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Two pipes, closed on every way out.
struct Pipes {
  int ping[2] = {-1, -1};
  int pong[2] = {-1, -1};
  Pipes() {
    if (pipe(ping) != 0 || pipe(pong) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  }
  ~Pipes() {
    for (const int fd : {ping[0], ping[1], pong[0], pong[1]})
      if (fd >= 0) close(fd);
  }
};

bool send_byte(int fd, unsigned char b) { return write(fd, &b, 1) == 1; }
bool receive_byte(int fd, unsigned char& b) { return read(fd, &b, 1) == 1; }

}  // namespace

// The caller pings, a second thread pongs; each round trip is two hand-overs.
RunResult threads_semaphore(const RunParams& p) {
  ScopedPin pin(p.pinned ? pin_cpu() : -1);  // the ponger inherits the pin
  std::binary_semaphore ping{0}, pong{0};
  long pongs = 0;
  std::thread ponger([&] {
    for (long i = 0; i < p.count; ++i) {
      ping.acquire();
      ++pongs;
      pong.release();
    }
  });
  RunResult r;
  r.cpus = pin.cpus();
  const auto before = metrics::usage();
  const auto t0 = Clock::now();
  long pings = 0;
  for (long i = 0; i < p.count; ++i) {
    ping.release();
    pong.acquire();
    ++pings;
  }
  r.seconds = since(t0);
  r.usage = metrics::usage() - before;
  ponger.join();
  r.done = std::min(pings, pongs);
  r.switches = pings + pongs;
  return r;
}

// The same through pipes: the ponger echoes each byte, so a lost or garbled byte shows.
RunResult threads_pipe(const RunParams& p) {
  ScopedPin pin(p.pinned ? pin_cpu() : -1);
  Pipes pipes;
  long pongs = 0;
  std::thread ponger([&] {
    unsigned char b = 0;
    for (long i = 0; i < p.count; ++i) {
      if (!receive_byte(pipes.ping[0], b) || !send_byte(pipes.pong[1], b)) break;
      ++pongs;
    }
    close(pipes.pong[1]), pipes.pong[1] = -1;  // EOF for the pinger, should this side stop early
  });
  RunResult r;
  r.cpus = pin.cpus();
  const auto before = metrics::usage();
  const auto t0 = Clock::now();
  long pings = 0;
  for (long i = 0; i < p.count; ++i) {
    unsigned char sent = static_cast<unsigned char>(i), echoed = 0;
    if (!send_byte(pipes.ping[1], sent) || !receive_byte(pipes.pong[0], echoed) || echoed != sent) break;
    ++pings;
  }
  r.seconds = since(t0);
  r.usage = metrics::usage() - before;
  if (pings < p.count) close(pipes.ping[1]), pipes.ping[1] = -1;  // unblock the ponger: EOF
  ponger.join();
  r.done = std::min(pings, pongs);
  r.switches = pings + pongs;
  return r;
}

// A thread's whole life, one after another: clone(), run, exit, join.
RunResult threads_create(const RunParams& p) {
  ScopedPin pin(p.pinned ? pin_cpu() : -1);
  std::atomic<long> ran{0};
  RunResult r;
  r.cpus = pin.cpus();
  const auto before = metrics::usage();
  const auto t0 = Clock::now();
  for (long i = 0; i < p.count; ++i) std::thread([&ran] { ran.fetch_add(1, std::memory_order_relaxed); }).join();
  r.seconds = since(t0);
  r.usage = metrics::usage() - before;
  r.done = ran.load();
  return r;
}

// N threads blocked on one latch. Each says it has arrived before it blocks, so the memory
// is read only once every thread has run and touched its stack.
Waiting threads_waiting(int n, const std::function<void()>& while_waiting) {
  std::atomic<int> arrived{0};
  std::latch release(1);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  Waiting w;
  try {
    for (int i = 0; i < n; ++i)
      threads.emplace_back([&] {
        arrived.fetch_add(1);
        arrived.notify_one();
        release.wait();
      });
  } catch (const std::exception& e) {  // EAGAIN (pid_max, threads-max, RLIMIT_NPROC), no memory
    w.error = e.what();
  }
  w.created = static_cast<int>(threads.size());
  for (int seen = arrived.load(); seen < w.created; seen = arrived.load()) arrived.wait(seen);
  if (w.error.empty()) while_waiting();
  release.count_down();
  for (auto& t : threads) t.join();
  return w;
}

}  // namespace tvl::primitives
