// The primitives with coroutines on one io_context: a switch, a creation and a wait.
//
// A coroutine switch never enters the kernel. The running coroutine suspends (its frame
// already holds everything that lives across the co_await), the loop takes the next handler
// from its queue and resumes that coroutine: a few loads and stores and an indirect call.
// Two ways are measured. asio::awaitable with co_await asio::post(use_awaitable) is what the
// scenarios use; it moves a stack of frames in and out of an "awaitable thread" and allocates
// the posted operation (recycled per thread). A bare coroutine whose await_suspend posts its
// std::coroutine_handle does only the post. Each runs on an io_context with the usual
// one-thread hint and with locking switched off (BOOST_ASIO_CONCURRENCY_HINT_UNSAFE).
// Waiting coroutines cost their frames plus whatever their wait allocates: a steady_timer
// each, one wait on a shared timer each, or one node in the loop-wide SleepQueue that the
// restaurant's tables sleep in (asyncloop/sleep_queue.hpp).
//
// Compare with threads/primitives.cpp: the same three measurements with OS threads.
#include <algorithm>
#include <chrono>
#include <coroutine>
#include <exception>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "asyncloop/loop_task.hpp"
#include "asyncloop/sleep_queue.hpp"
#include "scenarios/primitives.hpp"

namespace tvl::primitives {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using Executor = asio::io_context::executor_type;

constexpr int kLocking = 1;  // the hint cutlery's single-threaded loop uses
constexpr int kNoLocking = BOOST_ASIO_CONCURRENCY_HINT_UNSAFE;
constexpr auto kFar = std::chrono::hours(24);  // a wait that does not end during a measurement

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// A coroutine that is nothing but its frame: created suspended, resumed by whoever holds its
// handle, and freed when it returns.
struct Bare {
  struct promise_type {
    Bare get_return_object() { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
  std::coroutine_handle<> handle;
};

// Hands the thread back to the loop: the handle goes to the back of the loop's queue.
struct ToLoop {
  Executor ex;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) const {
    asio::post(ex, [h] { h.resume(); });
  }
  void await_resume() const noexcept {}
};

// Who ran last. A turn counts as a switch only when the other player had the thread before.
struct Turns {
  long count;
  int last = -1;
  long switches = 0;
  long done[2] = {0, 0};
  void take(int me) {
    switches += last != me;
    last = me;
    ++done[me];
  }
};

asio::awaitable<void> player_post(Turns& t, int me) {
  const auto ex = co_await asio::this_coro::executor;
  for (long i = 0; i < t.count; ++i) {
    if (i > 0) co_await asio::post(ex, asio::use_awaitable);
    t.take(me);
  }
}

Bare player_handle(Turns& t, int me, Executor ex) {
  // Named, not a temporary inside the co_await (it holds an executor, whose destructor is not
  // trivial): GCC 12 destroys such temporaries twice.
  const ToLoop to_loop{ex};
  for (long i = 0; i < t.count; ++i) {
    if (i > 0) co_await to_loop;
    t.take(me);
  }
}

// Runs two players to the end on a loop run by this thread; only loop.run() is timed.
template <typename Start>
RunResult ping_pong(const RunParams& p, int hint, Start start) {
  ScopedPin pin(p.pinned ? pin_cpu() : -1);
  asio::io_context loop(hint);
  Turns turns{p.count};
  start(loop, turns, 0);
  start(loop, turns, 1);
  RunResult r;
  r.cpus = pin.cpus();
  const auto before = metrics::usage();
  const auto t0 = Clock::now();
  loop.run();
  r.seconds = since(t0);
  r.usage = metrics::usage() - before;
  r.done = std::min(turns.done[0], turns.done[1]);
  r.switches = turns.switches;
  return r;
}

void start_post(asio::io_context& loop, Turns& t, int me) { co_spawn(loop, player_post(t, me), rethrow); }

void start_handle(asio::io_context& loop, Turns& t, int me) {
  asio::post(loop, [h = player_handle(t, me, loop.get_executor()).handle] { h.resume(); });
}

asio::awaitable<void> short_life(long& ran) {
  ++ran;
  co_return;
}

asio::awaitable<void> creator(long count, long& ran) {
  const auto ex = co_await asio::this_coro::executor;
  for (long i = 0; i < count; ++i) {
    // Named, not a temporary inside the co_await: GCC 12 destroys such temporaries twice.
    auto life = short_life(ran);
    co_await co_spawn(ex, std::move(life), asio::use_awaitable);
  }
}

asio::awaitable<void> sleep_own_timer(int& waiting) {
  asio::steady_timer timer(co_await asio::this_coro::executor, kFar);
  ++waiting;
  co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<void> sleep_shared_timer(asio::steady_timer& timer, int& waiting) {
  ++waiting;
  co_await timer.async_wait(asio::use_awaitable);
}

// A table of the restaurant, as far as memory goes: a LoopTask asleep in the loop's SleepQueue.
LoopTask sleep_in_queue(SleepQueue& queue, Clock::time_point until, int& waiting) {
  ++waiting;
  co_await queue.sleep_until(until);
}

// Starts n coroutines one at a time, each running to its wait before the next is made, so
// that what stays resident is what waits and not a queue of start-ups. spawn(i) starts one.
template <typename Spawn>
Waiting wait_all(asio::io_context& loop, int n, int& waiting, const std::function<void()>& while_waiting, Spawn spawn) {
  Waiting w;
  std::exception_ptr failure;  // from inside a coroutine, e.g. a wait that could not allocate
  try {
    for (int i = 0; i < n && !failure; ++i) {
      spawn([&failure](std::exception_ptr e) {
        if (e && !failure) failure = e;
      });
      loop.poll();
    }
    if (failure) std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    w.error = e.what();
  }
  w.created = waiting;
  if (w.error.empty() && waiting < n) w.error = "not every coroutine reached its wait";
  if (w.error.empty()) while_waiting();
  return w;  // the caller's io_context, when destroyed, destroys the waiting coroutines
}

}  // namespace

RunResult asyncloop_post(const RunParams& p) { return ping_pong(p, kLocking, start_post); }
RunResult asyncloop_post_nolock(const RunParams& p) { return ping_pong(p, kNoLocking, start_post); }
RunResult asyncloop_handle(const RunParams& p) { return ping_pong(p, kLocking, start_handle); }
RunResult asyncloop_handle_nolock(const RunParams& p) { return ping_pong(p, kNoLocking, start_handle); }

// A coroutine's whole life, one after another: frame allocated, started, finished, awaited.
RunResult asyncloop_create(const RunParams& p) {
  ScopedPin pin(p.pinned ? pin_cpu() : -1);
  asio::io_context loop(kLocking);
  long ran = 0;
  co_spawn(loop, creator(p.count, ran), rethrow);
  RunResult r;
  r.cpus = pin.cpus();
  const auto before = metrics::usage();
  const auto t0 = Clock::now();
  loop.run();
  r.seconds = since(t0);
  r.usage = metrics::usage() - before;
  r.done = ran;
  return r;
}

Waiting asyncloop_timer_each(int n, const std::function<void()>& while_waiting) {
  asio::io_context loop(kLocking);
  int waiting = 0;
  return wait_all(loop, n, waiting, while_waiting, [&](auto done) { co_spawn(loop, sleep_own_timer(waiting), done); });
}

Waiting asyncloop_timer_shared(int n, const std::function<void()>& while_waiting) {
  asio::io_context loop(kLocking);
  asio::steady_timer timer(loop, kFar);  // one timer; many async_waits on it are allowed
  int waiting = 0;
  return wait_all(loop, n, waiting, while_waiting,
                  [&](auto done) { co_spawn(loop, sleep_shared_timer(timer, waiting), done); });
}

// The queue goes before the loop, and takes the frames still asleep in it along.
Waiting asyncloop_sleep_queue(int n, const std::function<void()>& while_waiting) {
  asio::io_context loop(kLocking);
  SleepQueue queue(loop.get_executor());
  const auto until = Clock::now() + kFar;
  int waiting = 0;
  return wait_all(loop, n, waiting, while_waiting,
                  [&](auto) { sleep_in_queue(queue, until, waiting).spawn(loop.get_executor()); });
}

}  // namespace tvl::primitives
