// What the three threaded restaurants share: the ThreadBots, and tables without threads.
//
// ThreadRestaurant holds what every threaded model has: the staff, the tables, the counts, and
// a bot's step as an OS thread does it. The bots are threads of their own in
// threads/restaurant.cpp and restaurant_per_table.cpp (start_bots), tasks on a oneTBB pool in
// restaurant_tbb.cpp; asyncloop/restaurant.cpp's bot() is the same step in a coroutine.
//
// TableRecords is how a table moves on without a thread of its own (threads/restaurant.cpp and
// restaurant_tbb.cpp): a record of where its diner is in the meal's script, which whoever ends
// the table's current action moves on to the next one: a bot handing the table back, or the
// clock thread ending a wait. It is asyncloop/restaurant.cpp's table() coroutine, unrolled by
// hand into a state machine, because a blocked thread per table is what these models avoid.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "scenarios/restaurant.hpp"
#include "threads/blocking_queue.hpp"
#include "threads/clock_thread.hpp"

namespace tvl::restaurant {

class ThreadRestaurant {
 public:
  virtual ~ThreadRestaurant() = default;

 protected:
  // one_stat_per_role: the pool's bots are not threads, so their work is counted per role.
  ThreadRestaurant(const Params& p, bool one_stat_per_role);

  // The bot is done with the table (or, unsafe, says so too early): its next action may start.
  virtual void hand_back(const Job& job) = 0;

  // A bot's step at a table, on whichever thread runs the bot.
  void step(const Job& job, BotStat& stat);

  // The ThreadBots: a thread per bot, each blocking on its role's queue for jobs.
  void start_bots();
  void send_to_bots(const Job& job);
  void send_bots_home();  // returns once every bot thread has ended
  int bot_threads() const { return static_cast<int>(bots_.size()); }

  // What the run did, from the counts kept while it ran.
  Result finish(int os_threads);

  const Params& p_;
  Staff staff_;
  Tables tables_;
  Recorder recorder_;
  std::vector<BotStat> stats_;

 private:
  void bot(BotStat& stat);

  std::mutex stats_mutex_;
  std::vector<BlockingQueue<Job>> queues_;  // per role
  std::vector<std::thread> bots_;
};

class TableRecords {
 public:
  using Dispatch = std::function<void(const Job&)>;  // sends a diner's request to the bots

  TableRecords(const Params& p, Recorder& recorder, Dispatch dispatch);

  // Serves every table: the first diners arrive on a clock thread, and the records move on
  // from there. Returns when every table is done or the run's deadline has passed; from then
  // on no table moves on (check_work says what was left undone), and the clock thread is gone.
  void serve();

  // The table's action in progress is over (a bot handed it back, or its wait ended).
  void advance(int t);

 private:
  static constexpr std::size_t kArriving = ~std::size_t{0};  // between diners
  struct Cursor {
    int turn = 0;
    std::size_t action = kArriving;
    std::chrono::nanoseconds arrived{0};
  };

  void table_done();

  const Params& p_;
  Recorder& recorder_;
  Dispatch dispatch_;
  std::vector<Cursor> cursors_;  // per table
  std::mutex done_mutex_;
  std::condition_variable all_done_;
  int tables_done_ = 0;
  std::atomic<bool> stopping_{false};
  std::optional<ClockThread> clock_;
};

}  // namespace tvl::restaurant
