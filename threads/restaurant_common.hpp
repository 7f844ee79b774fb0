// What the threaded restaurants share: the ThreadBots, and tables without threads.
//
// ThreadBots are the bots as OS threads, each blocking on its role's queue for jobs; they serve
// threads/restaurant.cpp (a thread per table as well) and threads/restaurant_bots.cpp. A bot's
// step itself is written once, in scenarios/ (Service); thread_step() is that step as an OS
// thread does it, which restaurant_tbb.cpp's pool tasks do too.
//
// TableWaits and start_tables() are the tables of threads/restaurant.cpp: a thread each,
// blocked on its own condition variable between the steps of its script.
//
// TableRecords is how a table moves on without a thread of its own (threads/restaurant_bots.cpp
// and restaurant_tbb.cpp): a record of where its diner is in the meal's script, which whoever
// ends the table's current action moves on to the next one: a bot handing the table back, or
// the clock thread ending a wait. It is the table() of threads/restaurant.cpp unrolled by hand
// into a state machine, because a blocked thread per table is what these models avoid.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "measure/limits.hpp"
#include "scenarios/restaurant.hpp"
#include "threads/blocking_queue.hpp"
#include "threads/clock_thread.hpp"

namespace tvl::restaurant {

// A bot's step at a table, on whichever thread runs the bot: a chatty guest holds the thread.
void thread_step(Service& service, const Job& job, BotStat& stat, const HandBack& hand_back);

// Stamps what every threaded model reports besides the service's counts.
Result finish_threads(Service& service, std::vector<BotStat> bots, int os_threads);

class ThreadBots {
 public:
  ThreadBots(Service& service, HandBack hand_back);
  ~ThreadBots() { send_home(); }

  void start();
  void send(const Job& job);  // to every bot the job calls
  int threads() const { return static_cast<int>(threads_.size()); }

  // Sends the bots home, then says what the service did, counting the bots' threads and the
  // model's `other_threads`.
  Result finish(int other_threads);

 private:
  void bot(BotStat& stat);
  void send_home();  // returns once every bot thread has ended; again, at once

  Service& service_;
  HandBack hand_back_;
  std::vector<BotStat> stats_;              // one per bot
  std::vector<BlockingQueue<Job>> queues_;  // one per role
  std::vector<std::thread> threads_;
  bool sent_home_ = false;
};

// Thrown out of a table's wait once the run has closed at its deadline: the table's thread
// leaves its script where it is (check_work says which diners never paid).
struct Closed {};

// Where each table's thread blocks between the steps of its script.
class TableWaits {
 public:
  explicit TableWaits(int tables) : tables_(static_cast<std::size_t>(tables)) {}

  void hand_back(int table);                                // wakes the table's thread
  void wait_for_hand_back(int table);                       // throws Closed
  void sleep_until(int table, Clock::time_point deadline);  // throws Closed

  // Waits until `tables` have called table_done(), or until the deadline has passed; then
  // every table still waiting throws Closed.
  void close_after(int tables, std::chrono::duration<double> deadline);
  void table_done();

 private:
  struct Table {
    std::mutex mutex;
    std::condition_variable wake;
    bool handed_back = false;
  };

  std::vector<Table> tables_;
  std::atomic<bool> closed_{false};
  std::mutex done_mutex_;
  std::condition_variable all_done_;
  int tables_done_ = 0;
};

// A thread per table, each running table(t), started until the OS refuses one.
class TableThreads {
 public:
  // `running`: the threads started before these, for the message if the OS refuses one.
  TableThreads(int tables, int running, const std::function<void(int)>& table);
  ~TableThreads() { join_all(); }

  int size() const { return static_cast<int>(threads_.size()); }

  // Returns once every table's thread has ended; then throws limits::LimitReached, saying which
  // limit it met, if the OS refused a table its thread.
  void join();

 private:
  void join_all();

  std::function<void(int)> table_;
  std::vector<std::thread> threads_;
  std::optional<limits::LimitReached> refused_;
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
