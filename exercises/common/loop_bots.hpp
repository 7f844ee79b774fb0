// The book's LoopBots (ch. 2) on an asio::io_context, for the strand exercise and its
// ThreadSanitizer twin. Every bot is a coroutine that lays and clears `tables` tables, handing
// the loop back (a co_await) after every few; how the bots are started, on the io_context itself or
// on a strand of it, is the student's start_bots(). The io_context is run by `threads` threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "cutlery_bots.hpp"

namespace tvl::exercise {

using BotFn = std::function<boost::asio::awaitable<void>()>;

// The book's kitchen with plain ints, as the Python has it: a data race when threads share it.
// noinline: a call the optimiser cannot see through, so that it keeps every read and write and
// cannot fold a table's -4 and +4 into nothing (a data race is undefined behaviour: it may).
struct PlainCutlery {
  PlainCutlery(int k, int f) : knives_(k), forks_(f) {}
  [[gnu::noinline]] void change(int k, int f) {
    knives_ += k;
    forks_ += f;
  }
  int knives() const { return knives_; }
  int forks() const { return forks_; }
  int knives_, forks_;
};

// A bot lays and clears this many tables per turn of the loop, then hands the loop back. (After
// every table, the two threads would spend most of their time in the io_context's own queue and
// seldom meet in the kitchen; the race would be rare, and so hard to grade.)
inline constexpr int kTablesPerTurn = 100;

template <typename Kitchen, typename Start>
KitchenTrial run_loop_bots(int bots, int tables, int threads, Start start) {
  namespace asio = boost::asio;
  constexpr int n = cutlery::kPerTable;
  asio::io_context loop(threads);
  Kitchen kitchen(cutlery::kKitchenKnives, cutlery::kKitchenForks);
  std::vector<std::int64_t> done(static_cast<std::size_t>(bots));
  std::atomic<int> started{0};
  std::vector<BotFn> all;
  for (int b = 0; b < bots; ++b)
    all.push_back([&, b]() -> asio::awaitable<void> {
      started.fetch_add(1);
      // Named, not a temporary inside the co_await below: GCC 12 destroys a temporary with a
      // destructor (an executor holds a reference count) twice when it is part of a co_await.
      const auto ex = co_await asio::this_coro::executor;
      Kitchen mine(0, 0);
      for (int i = 0; i < tables; ++i) {
        kitchen.change(-n, -n);  // prepare a table
        mine.change(n, n);
        mine.change(-n, -n);  // clear it
        kitchen.change(n, n);
        done[static_cast<std::size_t>(b)] += 2;
        if (i % kTablesPerTurn == kTablesPerTurn - 1)  // hand the loop back: another bot's turn
          co_await asio::post(ex, asio::use_awaitable);
      }
    });
  start(loop, all);
  std::vector<std::thread> runners;
  for (int i = 0; i < threads; ++i) runners.emplace_back([&loop] { loop.run(); });
  for (auto& r : runners) r.join();
  KitchenTrial t;
  t.knives = kitchen.knives();
  t.forks = kitchen.forks();
  t.bots_started = started.load();
  for (auto d : done) t.table_ops += d;
  return t;
}

}  // namespace tvl::exercise
