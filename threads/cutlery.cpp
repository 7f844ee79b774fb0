// Robots and cutlery with OS threads (the book's ThreadBot, appendix B).
//
// Every bot is an OS thread that blocks on its own task queue. The kitchen's counts are
// shared by all of them, and change() is a read followed by a write: the OS may switch
// threads between the two, and the other core may run another bot at the same instant, so
// updates are lost. The "mutex" and "atomic" variants close that window; the oneTBB model runs
// the same bots as tasks on a fixed pool of workers instead of a thread each.
//
// Compare with asyncloop/cutlery.cpp: the bots are the same, only the model around them
// changes.
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <oneapi/tbb/concurrent_queue.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include "scenarios/cutlery.hpp"
#include "threads/blocking_queue.hpp"

namespace tvl::cutlery {
namespace {

using Clock = std::chrono::steady_clock;

// A bot and its queue of tasks: BlockingQueue (threads) or oneTBB's concurrent_bounded_queue.
template <typename TaskQueue>
class Bot {
 public:
  Bot(Cutlery& kitchen, const Params& p) : how_(update_for(p.variant)), kitchen_(kitchen) {}

  std::int64_t done() const { return done_; }

  // As in the book, every bot's queue is filled before any bot starts.
  static std::vector<std::unique_ptr<Bot>> make_bots(const Params& p, Cutlery& kitchen) {
    std::vector<std::unique_ptr<Bot>> bots;
    for (int b = 0; b < p.bots; ++b) {
      auto bot = std::make_unique<Bot>(kitchen, p);
      fill_tasks(p, [&bot](Task task) { bot->tasks.push(task); });
      bots.push_back(std::move(bot));
    }
    return bots;
  }

  TaskQueue tasks;

  // The bot's life: take a task, do it, until told to shut down.
  void manage_table(std::atomic<int>& started) {
    started.fetch_add(1);
    for (;;) {
      Task task;
      tasks.pop(task);  // blocks until there is one
      if (task == Task::shutdown) return;
      const bool preparing = task == Task::prepare_table;  // the kitchen gives; clearing, it takes back
      Cutlery& from = preparing ? kitchen_ : cutlery_;
      Cutlery& to = preparing ? cutlery_ : kitchen_;
      give(from, to, kPerTable, kPerTable, how_);
      ++done_;
    }
  }

 private:
  Update how_;
  Cutlery& kitchen_;
  Cutlery cutlery_{0, 0};
  std::int64_t done_ = 0;
};

}  // namespace

// One std::thread per bot, each blocking on its own queue.
Trial run_threads(const Params& p) {
  Cutlery kitchen(kKitchenKnives, kKitchenForks);
  auto bots = Bot<BlockingQueue<Task>>::make_bots(p, kitchen);
  std::atomic<int> started{0};

  const auto began = Clock::now();
  std::vector<std::thread> threads;
  for (auto& bot : bots) threads.emplace_back([&bot, &started] { bot->manage_table(started); });
  for (auto& thread : threads) thread.join();
  return finish(kitchen, bots, started.load(), began, static_cast<int>(threads.size()));
}

// The same bots as tasks on a fixed pool of oneTBB workers (the arena's size counts the
// calling thread). A bot keeps its worker until its queue is empty: queues are pre-filled,
// so pop() never waits and the pool cannot starve.
Trial run_tbb(const Params& p) {
  const int workers = p.os_threads > 0 ? p.os_threads : static_cast<int>(std::thread::hardware_concurrency());
  Cutlery kitchen(kKitchenKnives, kKitchenForks);
  auto bots = Bot<tbb::concurrent_bounded_queue<Task>>::make_bots(p, kitchen);
  std::atomic<int> started{0};

  const auto began = Clock::now();
  tbb::task_arena tbb_arena(workers);
  tbb_arena.execute([&] {
    tbb::task_group task_group;
    for (auto& bot : bots) task_group.run([&bot, &started] { bot->manage_table(started); });
    task_group.wait();
  });
  return finish(kitchen, bots, started.load(), began, workers);
}

}  // namespace tvl::cutlery
