// The thread ceiling, coroutine side: N asio::awaitable coroutines on one io_context, each
// waiting on one steady_timer until a single cancel wakes them all. Compare with
// threads/ceiling.cpp, where N threads wait on one latch.
//
// A waiting coroutine owns no stack, no pid and no mapping: its frame and its wait on the
// shared timer are heap memory, so the only limit it can meet is memory (an allocation that
// fails, ENOMEM here).
#include <cerrno>
#include <chrono>
#include <exception>
#include <new>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "scenarios/ceiling.hpp"

namespace tvl::ceiling {

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

constexpr int kOneThread = 1;                  // the concurrency hint of a loop run by one thread
constexpr auto kFar = std::chrono::hours(24);  // a wait only the release ends

// A coroutine's whole life: say it is waiting, wait, say it finished. The release cancels
// the timer, so the wait ends with operation_aborted, which is the expected way out.
asio::awaitable<void> waiter(asio::steady_timer& gate, int& arrived, int& finished) {
  ++arrived;
  boost::system::error_code ec;
  co_await gate.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  ++finished;
}

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

Held asyncloop_hold(const Hold& h, const std::function<void()>& while_waiting) {
  asio::io_context loop(kOneThread);
  asio::steady_timer gate(loop, kFar);  // one timer; many async_waits on it are allowed
  int arrived = 0;
  int finished = 0;
  std::exception_ptr failure;  // from inside a coroutine
  Held held;
  const auto t0 = Clock::now();
  try {
    for (int i = 0; i < h.n && !failure; ++i) {
      co_spawn(loop, waiter(gate, arrived, finished), [&failure](std::exception_ptr e) {
        if (e && !failure) failure = e;
      });
      loop.poll();  // each runs to its wait before the next is made
    }
    if (failure) std::rethrow_exception(failure);
  } catch (const std::bad_alloc&) {
    held.error = ENOMEM;
  }
  held.created = arrived;
  held.create_seconds = since(t0);
  while_waiting();
  const auto t1 = Clock::now();
  gate.cancel();
  loop.run();
  held.release_seconds = since(t1);
  held.finished = finished;
  return held;
}

}  // namespace tvl::ceiling
