// The thread ceiling, coroutine side: N asio::awaitable coroutines on one io_context, each
// waiting on one steady_timer until a single cancel wakes them all. Compare with
// threads/ceiling.cpp, where N threads wait on one latch.
//
// A waiting coroutine owns no stack, no pid and no mapping: its frame and its wait on the
// shared timer are heap memory, so the only limit it can meet is memory (an allocation that
// fails, ENOMEM here).
#include <chrono>
#include <exception>
#include <new>
#include <system_error>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "scenarios/ceiling.hpp"

namespace tvl::ceiling {

namespace {

namespace asio = boost::asio;

constexpr int kOneThread = 1;                  // the concurrency hint of a loop run by one thread
constexpr auto kFar = std::chrono::hours(24);  // a wait only the release ends

// What every waiter shares: how many are waiting, how many finished, and the gate they wait at.
struct Shared {
  explicit Shared(asio::io_context& loop) : gate(loop, kFar) {}
  int arrived = 0;          // one loop thread: no atomic needed
  int finished = 0;         // (the loop's thread alone touches them)
  asio::steady_timer gate;  // one cancel opens it for every coroutine (many may wait on one timer)
};

// A coroutine's whole life: say it is waiting, wait, say it finished. The release cancels
// the timer, so the wait ends with operation_aborted, which is the expected way out (as_tuple
// hands it back as a value instead of throwing it).
asio::awaitable<void> waiter(Shared& shared) {
  ++shared.arrived;
  co_await shared.gate.async_wait(asio::as_tuple(asio::use_awaitable));  // ends with operation_aborted
  ++shared.finished;
}

// A coroutine's completion: what it threw, thrown again out of the loop's poll() or run().
void rethrow(std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
}

// Starts one waiter and runs it to its wait: 0, or ENOMEM when it could not be allocated.
int start_waiter(asio::io_context& loop, Shared& shared) {
  try {
    co_spawn(loop, waiter(shared), rethrow);
    loop.poll();  // runs it to its wait; what it threw comes out here
  } catch (const std::bad_alloc&) {
    return static_cast<int>(std::errc::not_enough_memory);  // ENOMEM: no memory for a coroutine
  }
  return 0;
}

}  // namespace

Held asyncloop_hold(const Hold& h, const std::function<void()>& while_waiting) {
  asio::io_context loop(kOneThread);
  Shared shared(loop);
  Held held;
  const auto t0 = std::chrono::steady_clock::now();
  create_tasks(h, held, [&] { return start_waiter(loop, shared); });
  held.created = shared.arrived;
  held.create_seconds = seconds_since(t0);
  while_waiting();
  const auto t1 = std::chrono::steady_clock::now();
  shared.gate.cancel();
  loop.run();
  held.release_seconds = seconds_since(t1);
  held.finished = shared.finished;
  return held;
}

}  // namespace tvl::ceiling
