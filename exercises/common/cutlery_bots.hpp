// The book's ThreadBots (appendix B) around any kitchen type: the race-mutex and race-atomic
// graders run the student's Cutlery here, and so does its ThreadSanitizer twin.
//
// A kitchen type needs Kitchen(int knives, int forks), change(int knives, int forks), knives()
// and forks(). Each bot is an OS thread that takes tasks from its own queue, filled before any
// bot starts, exactly as threads/cutlery.cpp does: "prepare a table" moves 4 knives and 4 forks
// from the kitchen to the bot, "clear a table" moves them back.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "scenarios/cutlery.hpp"
#include "threads/blocking_queue.hpp"

namespace tvl::exercise {

struct KitchenTrial {
  int knives = 0, forks = 0;   // what the kitchen held at the end
  std::int64_t table_ops = 0;  // tasks done over all bots
  int bots_started = 0;
  bool intact() const { return knives == cutlery::kKitchenKnives && forks == cutlery::kKitchenForks; }
};

template <typename Kitchen>
KitchenTrial run_thread_bots(int bots, int tables) {
  using cutlery::Task;
  constexpr int n = cutlery::kPerTable;
  struct Bot {
    BlockingQueue<Task> tasks;
    std::int64_t done = 0;
  };
  Kitchen kitchen(cutlery::kKitchenKnives, cutlery::kKitchenForks);
  std::vector<std::unique_ptr<Bot>> all;
  for (int b = 0; b < bots; ++b) {
    auto bot = std::make_unique<Bot>();
    for (int i = 0; i < tables; ++i) {
      bot->tasks.push(Task::prepare_table);
      bot->tasks.push(Task::clear_table);
    }
    bot->tasks.push(Task::shutdown);
    all.push_back(std::move(bot));
  }
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (auto& bot : all)
    threads.emplace_back([&kitchen, &started, &bot = *bot] {
      started.fetch_add(1);
      Kitchen mine(0, 0);  // the cutlery this bot carries
      for (;;) {
        const Task task = bot.tasks.pop();
        if (task == Task::shutdown) return;
        if (task == Task::prepare_table) {  // the book's give(): two separate changes
          kitchen.change(-n, -n);
          mine.change(n, n);
        } else {
          mine.change(-n, -n);
          kitchen.change(n, n);
        }
        ++bot.done;
      }
    });
  for (auto& t : threads) t.join();
  KitchenTrial t;
  t.knives = kitchen.knives();
  t.forks = kitchen.forks();
  t.bots_started = started.load();
  for (const auto& bot : all) t.table_ops += bot->done;
  return t;
}

}  // namespace tvl::exercise
