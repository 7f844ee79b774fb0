// Robots and cutlery on an event loop (the book's LoopBot, ch. 2).
//
// Every bot is a coroutine on one asio::io_context. A coroutine gives up the thread only at a
// co_await, and change() contains none, so on a loop run by one thread the same racy
// read-then-write never loses an update. Two variants bring the race back:
//   await-inside  a co_await between the read and the write (say, a log call to a remote
//                 service: asyncloop/cutlery_await.hpp): the loop itself switches bots there,
//                 deterministically;
//   asyncloop-mt  the io_context run by several threads: bots run in parallel again, unless
//                 they share a strand, which runs their handlers one at a time.
//
// Compare with threads/cutlery.cpp: the bots are the same, only the model around them changes.
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "asyncloop/cutlery_await.hpp"
#include "asyncloop/loop_task.hpp"
#include "scenarios/cutlery.hpp"

namespace tvl::cutlery {
namespace {

using Clock = std::chrono::steady_clock;

// A bot's queue of tasks: an Asio channel instead of a blocking queue.
using TaskQueue = asio::experimental::concurrent_channel<void(boost::system::error_code, Task)>;

// A bot and its queue of tasks: a coroutine awaits them, where a thread would block.
class Bot {
 public:
  Bot(Cutlery& kitchen, const Params& p, asio::io_context& loop, unsigned seed)
      : tasks(loop, bot_tasks(p)), variant_(p.variant), how_(update_for(p.variant)), kitchen_(kitchen), log_(seed) {}

  std::int64_t done() const { return done_; }

  // As in the book, every bot's queue is filled before any bot starts.
  static std::vector<std::unique_ptr<Bot>> make_bots(const Params& p, Cutlery& kitchen, asio::io_context& loop) {
    std::vector<std::unique_ptr<Bot>> bots;
    for (int b = 0; b < p.bots; ++b) {
      auto bot = std::make_unique<Bot>(kitchen, p, loop, static_cast<unsigned>(b + 1));
      fill_tasks(p, [&bot](Task task) { bot->tasks.try_send(boost::system::error_code{}, task); });
      bots.push_back(std::move(bot));
    }
    return bots;
  }

  TaskQueue tasks;

  // The bot's life: await a task, do it, until told to shut down.
  asio::awaitable<void> manage_table(std::atomic<int>& started) {
    started.fetch_add(1);
    for (;;) {
      const Task task = co_await tasks.async_receive(asio::use_awaitable);
      if (task == Task::shutdown) co_return;
      const bool preparing = task == Task::prepare_table;  // the kitchen gives; clearing, it takes back
      Cutlery& from = preparing ? kitchen_ : cutlery_;
      Cutlery& to = preparing ? cutlery_ : kitchen_;
      if (variant_ == Variant::await_inside)
        co_await give_with_await(from, to, kPerTable, kPerTable, log_);
      else
        give(from, to, kPerTable, kPerTable, how_);
      ++done_;
    }
  }

 private:
  Variant variant_;  // await-inside: a co_await inside change()
  Update how_;
  Cutlery& kitchen_;
  Cutlery cutlery_{0, 0};
  RemoteLog log_;  // called inside change() in the await-inside variant
  std::int64_t done_ = 0;
};

}  // namespace

// The LoopBot: every bot a coroutine on one io_context, run by this one thread.
Trial run_asyncloop(const Params& p) {
  asio::io_context loop(1);
  Cutlery kitchen(kKitchenKnives, kKitchenForks);
  auto bots = Bot::make_bots(p, kitchen, loop);
  std::atomic<int> started{0};

  const auto began = Clock::now();
  for (auto& bot : bots) co_spawn(loop, bot->manage_table(started), rethrow);
  loop.run();
  return finish(kitchen, bots, started.load(), began, 1);
}

// One io_context run by K threads; with the "strand" variant every bot runs on one strand.
Trial run_asyncloop_mt(const Params& p) {
  const int workers = p.os_threads > 0 ? p.os_threads : static_cast<int>(std::thread::hardware_concurrency());
  asio::io_context loop(workers);
  Cutlery kitchen(kKitchenKnives, kKitchenForks);
  auto bots = Bot::make_bots(p, kitchen, loop);
  std::atomic<int> started{0};

  const auto began = Clock::now();
  const asio::any_io_executor executor =
      p.variant == Variant::strand ? asio::any_io_executor(asio::make_strand(loop)) : loop.get_executor();
  for (auto& bot : bots) co_spawn(executor, bot->manage_table(started), rethrow);
  run_on_threads(loop, workers);
  return finish(kitchen, bots, started.load(), began, workers);
}

}  // namespace tvl::cutlery
