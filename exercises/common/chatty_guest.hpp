// The chatty guest of the chatty-guest exercise, as let_guest_talk() receives it.
//
// A plain value (trivially copyable), so that it can be captured by a lambda that a co_await
// expression holds as a temporary: GCC 12 destroys such temporaries twice, harmless only for a
// type with nothing to destroy.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

namespace tvl::exercise {

struct TalkCount {
  std::atomic<int> total{0}, on_loop{0};
};

class Guest {
 public:
  Guest(std::chrono::microseconds talk_for, TalkCount& count, std::thread::id loop_thread)
      : talk_for_(talk_for), count_(&count), loop_thread_(loop_thread) {}

  // The guest talks: holds the calling thread for the whole conversation (20 ms).
  void talk() const {
    count_->total.fetch_add(1);
    if (std::this_thread::get_id() == loop_thread_) count_->on_loop.fetch_add(1);
    std::this_thread::sleep_for(talk_for_);
  }

 private:
  std::chrono::microseconds talk_for_;
  TalkCount* count_;
  std::thread::id loop_thread_;
};

}  // namespace tvl::exercise
