// The leanest coroutine that lives on an io_context: its frame is its only allocation.
//
// asio::awaitable spawned with co_spawn brings a spawn frame, a thread of awaitable frames and a
// work guard: about 0.9 KiB per coroutine before it has done anything (measured here with one
// sleep each). That is fine for a handful of bots and too much for a million tables, so a
// table is a LoopTask: it starts when the loop runs it, suspends into the loop's timer queue or
// a bot's queue as a bare std::coroutine_handle, and is resumed by the loop (asio::post).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <coroutine>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace tvl {

// co_spawn's completion handler for a coroutine that must not fail quietly: an exception that
// escaped it leaves io_context::run(), where the caller sees it, instead of being dropped.
inline void rethrow(std::exception_ptr e) {
  if (e) std::rethrow_exception(e);
}

// Runs `loop` on `threads` threads until it runs out of work. The first exception out of any
// of them stops the loop and is rethrown here, once every thread has ended.
inline void run_on_threads(boost::asio::io_context& loop, int threads) {
  std::exception_ptr failure;
  std::mutex failure_mutex;
  std::vector<std::thread> runners;
  for (int i = 0; i < threads; ++i)
    runners.emplace_back([&] {
      try {
        loop.run();
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        loop.stop();
      }
    });
  for (auto& runner : runners) runner.join();
  rethrow(failure);
}

// A suspended bare coroutine, as its waker holds it: calling it resumes the coroutine. One that
// is never called (its queue or its loop went first) destroys the frame instead, so that no
// frame outlives the loop that was to resume it.
class Resume {
 public:
  explicit Resume(std::coroutine_handle<> h) noexcept : handle_(h) {}
  Resume(Resume&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
  Resume& operator=(Resume&&) = delete;
  ~Resume() {
    if (handle_) handle_.destroy();
  }
  void operator()() { std::exchange(handle_, {}).resume(); }

 private:
  std::coroutine_handle<> handle_;
};

class LoopTask {
 public:
  struct promise_type {
    LoopTask get_return_object() noexcept { return LoopTask(std::coroutine_handle<promise_type>::from_promise(*this)); }
    std::suspend_always initial_suspend() noexcept { return {}; }  // starts when spawn() posts it
    std::suspend_never final_suspend() noexcept { return {}; }     // the frame frees itself
    void return_void() noexcept {}
    void unhandled_exception() { throw; }  // out of resume(), out of io_context::run()
  };

  // Hands the coroutine to the loop, which starts it.
  void spawn(const boost::asio::any_io_executor& ex) && { boost::asio::post(ex, Resume(std::exchange(handle_, {}))); }

  LoopTask(LoopTask&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
  ~LoopTask() {
    if (handle_) handle_.destroy();  // never spawned
  }

 private:
  explicit LoopTask(std::coroutine_handle<promise_type> h) : handle_(h) {}
  std::coroutine_handle<promise_type> handle_;
};

}  // namespace tvl
