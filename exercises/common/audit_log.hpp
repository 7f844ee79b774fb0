// The kitchen's audit log for the await-inside exercise: a remote service that every change of
// the cutlery must be reported to, and that a LoopBot awaits. A call takes one to three turns
// of the loop, drawn from a seeded generator, so every run interleaves the bots the same way
// (asyncloop/cutlery.cpp's remote_call(), which the await-inside variant uses).
#pragma once

#include <dirent.h>

#include <cstdint>
#include <random>
#include <thread>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tvl::exercise {

// Threads of this process now (entries of /proc/self/task).
inline int threads_now() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (const dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
  }
  return n;
}

class AuditLog {
 public:
  explicit AuditLog(std::thread::id loop_thread) : loop_thread_(loop_thread) {}

  // Reports one change; the caller awaits the remote service's answer.
  boost::asio::awaitable<void> record(int /*knives*/, int /*forks*/) {
    ++records_;
    if (std::this_thread::get_id() != loop_thread_) ++off_loop_;
    if (records_ % 64 == 1) max_threads_ = std::max(max_threads_, threads_now());  // a sample is enough
    const auto ex = co_await boost::asio::this_coro::executor;
    for (auto turns = 1 + rng_() % 3; turns > 0; --turns) co_await boost::asio::post(ex, boost::asio::use_awaitable);
  }

  std::int64_t records() const { return records_; }
  std::int64_t off_loop() const { return off_loop_; }  // calls made from another thread than the loop's
  int max_threads() const { return max_threads_; }

 private:
  std::thread::id loop_thread_;
  std::minstd_rand rng_{1};
  std::int64_t records_ = 0, off_loop_ = 0;
  int max_threads_ = 0;
};

}  // namespace tvl::exercise
