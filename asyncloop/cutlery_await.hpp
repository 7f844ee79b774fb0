// The await-inside variant of the LoopBot's cutlery (asyncloop/cutlery.cpp): change() with a
// co_await between its read and its write, where the loop may run another bot. The racy
// change() of scenarios/cutlery.hpp has no co_await, so on one thread it never loses an
// update; this one loses updates on one thread, deterministically: an event loop removes data
// races, not atomicity bugs across suspension points.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "scenarios/cutlery.hpp"

namespace tvl::cutlery {

namespace asio = boost::asio;

// A call to a remote service (say, an audit log) whose latency varies: one to kMostTurns turns
// of the loop, drawn from the bot's seeded generator, so every run interleaves the bots the
// same way. (With a fixed latency all bots would move in lockstep and their lost updates on
// taking and on returning cutlery would cancel out exactly.)
class RemoteLog {
 public:
  explicit RemoteLog(unsigned seed) : rng_(seed) {}

  asio::awaitable<void> call() {
    const auto ex = co_await asio::this_coro::executor;
    for (auto turns = 1 + rng_() % kMostTurns; turns > 0; --turns) co_await asio::post(ex, asio::use_awaitable);
  }

 private:
  static constexpr unsigned kMostTurns = 3;
  std::minstd_rand rng_;
};

// The racy change() with a suspension point between its read and its write.
inline asio::awaitable<void> change_with_await(Cutlery& c, int knives, int forks, RemoteLog& log) {
  const int knives_seen = c.read_knives();
  const int forks_seen = c.read_forks();
  co_await log.call();
  c.write(knives_seen + knives, forks_seen + forks);
}

inline asio::awaitable<void> give_with_await(Cutlery& from, Cutlery& to, int knives, int forks, RemoteLog& log) {
  co_await change_with_await(from, -knives, -forks, log);
  co_await change_with_await(to, knives, forks, log);
}

}  // namespace tvl::cutlery
