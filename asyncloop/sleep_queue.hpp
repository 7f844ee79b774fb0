// One timer queue per loop: every sleeping coroutine is a node in a binary heap, and a single
// asio::steady_timer is armed for the earliest deadline. A steady_timer per coroutine would
// cost a timer object plus an allocated wait each; here a sleeper costs one heap node.
#pragma once

#include <algorithm>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "asyncloop/loop_task.hpp"

namespace tvl {

namespace asio = boost::asio;

// A stored completion handler: a move-only void() callable. A coroutine's handler is one
// pointer, so it lives inline, without an allocation per waiting task; anything larger goes
// to the heap. (Boost 1.81's asio::any_completion_handler would do, but it wraps itself again
// on move assignment, without end.)
class Wake {
 public:
  Wake() = default;
  template <typename Handler>
  explicit Wake(Handler h) : ops_(&ops_for<Handler>) {
    if constexpr (fits<Handler>)
      new (buf_) Handler(std::move(h));
    else
      *reinterpret_cast<Handler**>(buf_) = new Handler(std::move(h));
  }
  Wake(Wake&& o) noexcept : ops_(std::exchange(o.ops_, nullptr)) {
    if (ops_) ops_->move(o.buf_, buf_);
  }
  Wake& operator=(Wake&& o) noexcept {
    if (this != &o) {
      reset();
      ops_ = std::exchange(o.ops_, nullptr);
      if (ops_) ops_->move(o.buf_, buf_);
    }
    return *this;
  }
  ~Wake() { reset(); }

  void operator()() {
    Wake self(std::move(*this));  // empty afterwards, even if the call throws
    self.ops_->call(self.buf_);
  }

 private:
  static constexpr std::size_t kInline = 2 * sizeof(void*);
  template <typename H>
  static constexpr bool fits = sizeof(H) <= kInline && alignof(H) <= alignof(void*);

  struct Ops {
    void (*call)(void*);
    void (*move)(void* from, void* to);
    void (*destroy)(void*);
  };
  template <typename H>
  static H& get(void* p) {
    if constexpr (fits<H>)
      return *std::launder(reinterpret_cast<H*>(p));
    else
      return **reinterpret_cast<H**>(p);
  }
  template <typename H>
  static constexpr Ops ops_for = {
      [](void* p) { std::move(get<H>(p))(); },
      [](void* from, void* to) {
        if constexpr (fits<H>) {
          new (to) H(std::move(get<H>(from)));
          get<H>(from).~H();
        } else {
          *reinterpret_cast<H**>(to) = *reinterpret_cast<H**>(from);
        }
      },
      [](void* p) {
        if constexpr (fits<H>)
          get<H>(p).~H();
        else
          delete *reinterpret_cast<H**>(p);
      },
  };

  void reset() {
    if (ops_) std::exchange(ops_, nullptr)->destroy(buf_);
  }

  const Ops* ops_ = nullptr;
  alignas(void*) unsigned char buf_[kInline];
};

// Resumes the waiter later, on the loop: never inside the code that woke it.
inline void post_wake(const asio::any_io_executor& ex, Wake wake) {
  asio::post(ex, [wake = std::move(wake)]() mutable { wake(); });
}

// What a bare coroutine (LoopTask) awaits to suspend: it hands its own wake-up to `park` (a
// queue, a table's slot, the timer queue), and runs `then` once it is resumed. A function that
// returns one reads, at the co_await, like the blocking call of a thread.
template <typename Park, typename Then>
struct Suspended {
  Park park;
  Then then;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) { park(Wake(Resume(h))); }
  void await_resume() { then(); }
};

// The default `then` of suspend(): nothing to do once resumed.
inline void resume_only() {}

template <typename Park, typename Then = void (*)()>
Suspended<Park, Then> suspend(Park park, Then then = resume_only) {
  return {std::move(park), std::move(then)};
}

class SleepQueue {
 public:
  using Clock = std::chrono::steady_clock;

  explicit SleepQueue(asio::any_io_executor ex) : timer_(std::move(ex)) {}

  // Completes (on the loop) once `when` has passed: `co_await q.sleep_until(t, use_awaitable)`.
  template <typename Token>
  auto sleep_until(Clock::time_point when, Token&& token) {
    return asio::async_initiate<Token, void()>([this, when](auto handler) { push(when, Wake(std::move(handler))); },
                                               token);
  }

  // The same for a bare coroutine (LoopTask): `co_await q.sleep_until(t)`. The loop resumes it.
  auto sleep_until(Clock::time_point when) {
    return suspend([this, when](Wake wake) { push(when, std::move(wake)); });
  }

  // Calls `wake` (on the loop) once `when` has passed.
  void wake_at(Clock::time_point when, Wake wake) { push(when, std::move(wake)); }

  std::size_t size() const { return heap_.size(); }

 private:
  struct Sleeper {
    Clock::time_point when;
    std::uint64_t seq;  // FIFO among equal deadlines
    Wake wake;
  };
  static bool later(const Sleeper& a, const Sleeper& b) { return a.when != b.when ? a.when > b.when : a.seq > b.seq; }

  // Arms the timer for the earliest sleeper, on a grid of kTick: sleepers due within one tick
  // share a wake-up, and setting the kernel's timer (a system call) happens once per tick at
  // most rather than once per sleeper. Each sleeper still records how late it really woke.
  void push(Clock::time_point when, Wake wake) {
    heap_.push_back({when, next_seq_++, std::move(wake)});
    std::push_heap(heap_.begin(), heap_.end(), later);
    if (heap_.front().seq == next_seq_ - 1) arm();  // perhaps a new earliest deadline
  }

  void arm() {
    const auto tick = heap_.front().when.time_since_epoch() / kTick + 1;
    const Clock::time_point at(tick * kTick);
    if (armed_ && armed_at_ <= at) return;  // already set to wake early enough
    armed_ = true;
    armed_at_ = at;
    timer_.expires_at(at);  // cancels the wait for the previous earliest
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      armed_ = false;
      fire();
    });
  }

  // Wakes everyone due. Wakers are posted, not called, so that no coroutine runs inside fire().
  void fire() {
    const auto now = Clock::now();
    while (!heap_.empty() && heap_.front().when <= now) {
      std::pop_heap(heap_.begin(), heap_.end(), later);
      auto wake = std::move(heap_.back().wake);
      heap_.pop_back();
      post_wake(timer_.get_executor(), std::move(wake));
    }
    if (!heap_.empty()) arm();
  }

  static constexpr std::chrono::microseconds kTick{100};
  asio::steady_timer timer_;
  bool armed_ = false;
  Clock::time_point armed_at_;
  std::vector<Sleeper> heap_;
  std::uint64_t next_seq_ = 0;
};

}  // namespace tvl
