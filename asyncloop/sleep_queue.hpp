// One timer queue per loop: every sleeping coroutine is a node in a binary heap, and a single
// asio::steady_timer is armed for the earliest deadline. A steady_timer per coroutine would
// cost a timer object plus an allocated wait each; here a sleeper costs one heap node.
#pragma once

#include <algorithm>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace tvl {

namespace asio = boost::asio;

// A stored completion handler: a move-only void() callable. (Boost 1.81's
// asio::any_completion_handler wraps itself again on move assignment, without end.)
class Wake {
 public:
  Wake() = default;
  template <typename Handler>
  explicit Wake(Handler h) : impl_(std::make_unique<Impl<Handler>>(std::move(h))) {}

  void operator()() {
    auto impl = std::move(impl_);
    impl->call();
  }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual void call() = 0;
  };
  template <typename Handler>
  struct Impl final : Base {
    explicit Impl(Handler h) : handler(std::move(h)) {}
    void call() override { std::move(handler)(); }
    Handler handler;
  };
  std::unique_ptr<Base> impl_;
};

// Resumes the waiter later, on the loop: never inside the code that woke it.
inline void post_wake(const asio::any_io_executor& ex, Wake wake) {
  asio::post(ex, [wake = std::move(wake)]() mutable { wake(); });
}

class SleepQueue {
 public:
  using Clock = std::chrono::steady_clock;

  explicit SleepQueue(asio::any_io_executor ex) : timer_(std::move(ex)) {}

  // Completes (on the loop) once `when` has passed: `co_await q.sleep_until(t, use_awaitable)`.
  template <typename Token>
  auto sleep_until(Clock::time_point when, Token&& token) {
    return asio::async_initiate<Token, void()>(
        [this, when](auto handler) {
          heap_.push_back({when, next_seq_++, Wake(std::move(handler))});
          std::push_heap(heap_.begin(), heap_.end(), later);
          if (heap_.front().seq == next_seq_ - 1) arm();  // perhaps a new earliest deadline
        },
        token);
  }

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
