// Robots and cutlery on an event loop (the book's LoopBot, ch. 2).
//
// Every bot is a coroutine on one asio::io_context. A coroutine gives up the thread only at a
// co_await, and change() contains none, so on a loop run by one thread the same racy
// read-then-write never loses an update. Two variants bring the race back:
//   await-inside  a co_await between the read and the write (say, a log call to a remote
//                 service): the loop itself switches bots there, deterministically;
//   asyncloop-mt  the io_context run by several threads: bots run in parallel again, unless
//                 they share a strand, which runs their handlers one at a time.
//
// Compare with threads/cutlery.cpp: the bots are the same, only the model around them changes.
#include <chrono>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "asyncloop/loop_task.hpp"
#include "scenarios/cutlery.hpp"

namespace tvl::cutlery {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using TaskQueue = asio::experimental::concurrent_channel<void(boost::system::error_code, Task)>;

// A call to a remote service (say, an audit log) whose latency varies: one to three turns of
// the loop, drawn from the bot's seeded generator, so every run interleaves the bots the same
// way. (With a fixed latency all bots would move in lockstep and their lost updates on taking
// and on returning cutlery would cancel out exactly.)
asio::awaitable<void> remote_call(std::minstd_rand& rng) {
  const auto ex = co_await asio::this_coro::executor;
  for (auto turns = 1 + rng() % 3; turns > 0; --turns) co_await asio::post(ex, asio::use_awaitable);
}

// The racy change() with a suspension point between its read and its write.
asio::awaitable<void> change_with_await(Cutlery& c, int knives, int forks, std::minstd_rand& rng) {
  const int k = c.read_knives(), f = c.read_forks();
  co_await remote_call(rng);
  c.write(k + knives, f + forks);
}

asio::awaitable<void> give_with_await(Cutlery& from, Cutlery& to, int knives, int forks, std::minstd_rand& rng) {
  co_await change_with_await(from, -knives, -forks, rng);
  co_await change_with_await(to, knives, forks, rng);
}

// A bot and its queue of tasks: an Asio channel instead of a blocking queue.
class LoopBot {
 public:
  LoopBot(asio::any_io_executor ex, Cutlery& kitchen, int capacity, unsigned seed)
      : tasks(ex, capacity), kitchen_(kitchen), rng_(seed) {}

  TaskQueue tasks;

  // The bot's life: await a task, do it, until told to shut down.
  asio::awaitable<void> manage_table(bool await_inside, std::atomic<int>& started) {
    started.fetch_add(1);
    for (;;) {
      const Task task = co_await tasks.async_receive(asio::use_awaitable);
      if (task == Task::prepare_table) {
        if (await_inside)
          co_await give_with_await(kitchen_, cutlery_, kPerTable, kPerTable, rng_);
        else
          give(kitchen_, cutlery_, kPerTable, kPerTable, Update::racy);
      }
      if (task == Task::clear_table) {
        if (await_inside)
          co_await give_with_await(cutlery_, kitchen_, kPerTable, kPerTable, rng_);
        else
          give(cutlery_, kitchen_, kPerTable, kPerTable, Update::racy);
      }
      if (task == Task::shutdown) co_return;
      ++done_;
    }
  }

  std::int64_t done() const { return done_; }

 private:
  Cutlery& kitchen_;
  Cutlery cutlery_{0, 0};
  std::minstd_rand rng_;  // drives remote_call() in the await-inside variant
  std::int64_t done_ = 0;
};

// As in the book, every bot's queue is filled before any bot starts.
std::vector<std::unique_ptr<LoopBot>> make_bots(const Params& p, asio::io_context& loop, Cutlery& kitchen) {
  std::vector<std::unique_ptr<LoopBot>> bots;
  for (int b = 0; b < p.bots; ++b) {
    auto bot = std::make_unique<LoopBot>(loop.get_executor(), kitchen, 2 * p.tables + 1, static_cast<unsigned>(b + 1));
    for (int i = 0; i < p.tables; ++i) {
      bot->tasks.try_send(boost::system::error_code{}, Task::prepare_table);
      bot->tasks.try_send(boost::system::error_code{}, Task::clear_table);
    }
    bot->tasks.try_send(boost::system::error_code{}, Task::shutdown);
    bots.push_back(std::move(bot));
  }
  return bots;
}

Trial finish(const Cutlery& kitchen, const std::vector<std::unique_ptr<LoopBot>>& bots, int started,
             Clock::time_point t0, int os_threads) {
  Trial t;
  t.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  t.kitchen_knives = kitchen.knives();
  t.kitchen_forks = kitchen.forks();
  t.bots_started = started;
  for (const auto& bot : bots) t.table_ops += bot->done();
  t.os_threads = os_threads;
  return t;
}

}  // namespace

// The LoopBot: every bot a coroutine on one io_context, run by this one thread.
Trial run_asyncloop(const Params& p) {
  if (p.variant != "racy" && p.variant != "await-inside")
    throw std::invalid_argument("cutlery/asyncloop: no variant '" + p.variant + "'");
  asio::io_context loop(1);
  Cutlery kitchen(kKitchenKnives, kKitchenForks);
  auto bots = make_bots(p, loop, kitchen);
  std::atomic<int> started{0};

  const auto t0 = Clock::now();
  for (auto& bot : bots) co_spawn(loop, bot->manage_table(p.variant == "await-inside", started), rethrow);
  loop.run();
  return finish(kitchen, bots, started.load(), t0, 1);
}

// One io_context run by K threads; with the "strand" variant every bot runs on one strand.
Trial run_asyncloop_mt(const Params& p) {
  if (p.variant != "nostrand" && p.variant != "strand")
    throw std::invalid_argument("cutlery/asyncloop-mt: no variant '" + p.variant + "'");
  const int workers = p.os_threads > 0 ? p.os_threads : static_cast<int>(std::thread::hardware_concurrency());
  asio::io_context loop(workers);
  auto strand = asio::make_strand(loop);
  Cutlery kitchen(kKitchenKnives, kKitchenForks);
  auto bots = make_bots(p, loop, kitchen);
  std::atomic<int> started{0};

  const auto t0 = Clock::now();
  for (auto& bot : bots) {
    if (p.variant == "strand")
      co_spawn(strand, bot->manage_table(false, started), rethrow);
    else
      co_spawn(loop, bot->manage_table(false, started), rethrow);
  }
  std::exception_ptr failure;  // the first exception out of any runner, rethrown after the join
  std::mutex failure_mutex;
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i)
    threads.emplace_back([&] {
      try {
        loop.run();
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        loop.stop();
      }
    });
  for (auto& thread : threads) thread.join();
  rethrow(failure);
  return finish(kitchen, bots, started.load(), t0, workers);
}

}  // namespace tvl::cutlery
