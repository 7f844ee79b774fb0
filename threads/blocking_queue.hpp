// The threaded models' queue: a std::mutex and a std::condition_variable around a deque,
// the C++ counterpart of Python's queue.Queue. pop() blocks the calling OS thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>

namespace tvl {

template <typename T>
class BlockingQueue {
 public:
  void push(T value) {
    {
      std::lock_guard lock(mutex_);
      items_.push_back(std::move(value));
    }
    ready_.notify_one();
  }

  T pop() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [this] { return !items_.empty(); });
    T value = std::move(items_.front());
    items_.pop_front();
    return value;
  }

  // The same in oneTBB's shape (concurrent_bounded_queue::pop), for code written for both.
  void pop(T& value) { value = pop(); }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<T> items_;
};

}  // namespace tvl
