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
#include <stdexcept>
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

Update update_for(const Params& p) {
  if (p.variant == "racy") return Update::racy;
  if (p.variant == "mutex") return Update::locked;
  if (p.variant == "atomic" || p.variant == "safe") return Update::atomic;
  throw std::invalid_argument("cutlery/" + p.model + ": no variant '" + p.variant + "'");
}

// A bot and its queue of tasks. Queue is BlockingQueue (threads) or a oneTBB queue (tbb).
template <typename Queue>
class ThreadBot {
 public:
  explicit ThreadBot(Cutlery& kitchen) : kitchen_(kitchen) {}

  Queue tasks;

  // The bot's life: take a task, do it, until told to shut down.
  void manage_table(Update how, std::atomic<int>& started) {
    started.fetch_add(1);
    for (;;) {
      Task task;
      tasks.pop(task);
      if (task == Task::prepare_table) give(kitchen_, cutlery_, kPerTable, kPerTable, how);
      if (task == Task::clear_table) give(cutlery_, kitchen_, kPerTable, kPerTable, how);
      if (task == Task::shutdown) return;
      ++done_;
    }
  }

  std::int64_t done() const { return done_; }

 private:
  Cutlery& kitchen_;
  Cutlery cutlery_{0, 0};
  std::int64_t done_ = 0;
};

// std::mutex + condition_variable queue with the same pop(T&) shape as oneTBB's.
struct StdQueue {
  BlockingQueue<Task> queue;
  void push(Task t) { queue.push(t); }
  void pop(Task& t) { t = queue.pop(); }
};

// As in the book, every bot's queue is filled before any bot starts.
template <typename Queue>
std::vector<std::unique_ptr<ThreadBot<Queue>>> make_bots(const Params& p, Cutlery& kitchen) {
  std::vector<std::unique_ptr<ThreadBot<Queue>>> bots;
  for (int b = 0; b < p.bots; ++b) {
    auto bot = std::make_unique<ThreadBot<Queue>>(kitchen);
    for (int i = 0; i < p.tables; ++i) {
      bot->tasks.push(Task::prepare_table);
      bot->tasks.push(Task::clear_table);
    }
    bot->tasks.push(Task::shutdown);
    bots.push_back(std::move(bot));
  }
  return bots;
}

template <typename Bots>
Trial finish(const Cutlery& kitchen, const Bots& bots, int started, Clock::time_point t0, int os_threads) {
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

// One std::thread per bot, each blocking on its own queue.
Trial run_threads(const Params& p) {
  const Update how = update_for(p);
  Cutlery kitchen(kKitchenKnives, kKitchenForks);
  auto bots = make_bots<StdQueue>(p, kitchen);
  std::atomic<int> started{0};

  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (auto& bot : bots) threads.emplace_back([&bot, how, &started] { bot->manage_table(how, started); });
  for (auto& thread : threads) thread.join();
  return finish(kitchen, bots, started.load(), t0, p.bots);
}

// The same bots as tasks on a fixed pool of oneTBB workers (the arena's size counts the
// calling thread). A bot keeps its worker until its queue is empty: queues are pre-filled,
// so pop() never waits and the pool cannot starve.
Trial run_tbb(const Params& p) {
  const Update how = update_for(p);
  const int workers = p.os_threads > 0 ? p.os_threads : static_cast<int>(std::thread::hardware_concurrency());
  Cutlery kitchen(kKitchenKnives, kKitchenForks);
  auto bots = make_bots<tbb::concurrent_bounded_queue<Task>>(p, kitchen);
  std::atomic<int> started{0};

  const auto t0 = Clock::now();
  tbb::task_arena arena(workers);
  arena.execute([&] {
    tbb::task_group group;
    for (auto& bot : bots) group.run([&bot, how, &started] { bot->manage_table(how, started); });
    group.wait();
  });
  return finish(kitchen, bots, started.load(), t0, workers);
}

}  // namespace tvl::cutlery
