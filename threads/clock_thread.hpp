// The threaded models' timer: one thread that sleeps until the earliest deadline and then
// hands each due item to a callback. The restaurant's table records (TableRecords in
// threads/restaurant_common.hpp) use it for every wait (menu, cooking, eating, the next diner's
// arrival), as the event loop uses its one timer queue.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace tvl {

class ClockThread {
 public:
  using Clock = std::chrono::steady_clock;
  using Due = std::function<void(int item, Clock::time_point deadline)>;

  explicit ClockThread(Due due) : due_(std::move(due)), thread_([this] { loop(); }) {}
  ~ClockThread() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    changed_.notify_one();
    thread_.join();
  }

  void schedule(Clock::time_point when, int item) {
    bool earliest;
    {
      std::lock_guard lock(mutex_);
      heap_.push({when, seq_++, item});
      earliest = heap_.top().item == item && heap_.top().when == when;
    }
    if (earliest) changed_.notify_one();
  }

 private:
  struct Entry {
    Clock::time_point when;
    std::uint64_t seq;
    int item;
    bool operator>(const Entry& o) const { return when != o.when ? when > o.when : seq > o.seq; }
  };

  void loop() {
    std::unique_lock lock(mutex_);
    while (!stop_) {
      if (heap_.empty()) {
        changed_.wait(lock);
        continue;
      }
      const Entry next = heap_.top();
      if (Clock::now() < next.when) {
        changed_.wait_until(lock, next.when);
        continue;
      }
      heap_.pop();
      lock.unlock();  // the callback may schedule again
      due_(next.item, next.when);
      lock.lock();
    }
  }

  Due due_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap_;
  std::uint64_t seq_ = 0;
  bool stop_ = false;
  std::thread thread_;  // last: starts after everything it uses exists
};

}  // namespace tvl
