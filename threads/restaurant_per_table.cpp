// The restaurant with a thread per table as well: "one thread per connection".
//
// Every bot is an OS thread blocking on its role's queue, as in threads/restaurant.cpp, and every
// table is an OS thread too, which follows its diners through the meal's script top to bottom:
// it asks a bot for each step and blocks until the bot hands the table back, and it sleeps
// through the waits. That reads as plainly as a coroutine, and costs a thread, with its stack,
// per table: past some thousands of tables the thread cannot be created, and the run stops there
// and says which limit it met. Bots run in parallel, so a bot that hands a table back before it
// has finished (the unsafe variant) collides with the next bot at that table.
//
// Compare with asyncloop/restaurant.cpp, its twin: table(), request() and sleep_until() are the
// same code, blocking this table's thread where the LoopBot's coroutines suspend.
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "measure/limits.hpp"
#include "measure/metrics.hpp"
#include "scenarios/restaurant.hpp"
#include "threads/restaurant_common.hpp"

namespace tvl::restaurant {
namespace {

struct Waiter {  // a table thread waiting for its bot
  std::mutex mutex;
  std::condition_variable done;
  bool ready = false;
};

class TableThreads final : public ThreadRestaurant {
 public:
  explicit TableThreads(const Params& p) : ThreadRestaurant(p, false), waiting_(static_cast<std::size_t>(p.tables)) {}

  Result run() {
    start_bots();
    std::vector<std::thread> tables;
    std::optional<limits::LimitReached> stopped;
    try {
      for (int t = 0; t < p_.tables; ++t) tables.emplace_back([this, t] { table(t); });
    } catch (const std::system_error& e) {  // the limit this model runs into
      const auto created = tables.size() + static_cast<std::size_t>(bot_threads());
      stopped.emplace(
          "thread creation failed after " + std::to_string(created) + " threads (" + e.what() + "); " +
              metrics::thread_limits(),
          limits::kThreadLimit,
          nlohmann::json{{"threads", created}, {"cause", e.what()}, {"limits", metrics::thread_limit_values()}});
    }
    for (auto& t : tables) t.join();  // the tables that did start serve all their diners
    send_bots_home();
    if (stopped) throw *stopped;
    return finish(bot_threads() + static_cast<int>(tables.size()));
  }

 private:
  // Wakes the table's thread, which goes on with its script.
  void hand_back(const Job& job) override {
    Waiter& w = waiting_[static_cast<std::size_t>(job.table)];
    {
      std::lock_guard lock(w.mutex);
      w.ready = true;
    }
    w.done.notify_one();
  }

  // The diner's request: queue a job for the role and wait, blocked, for the bot's hand-back.
  void request(const Job& job) {
    Waiter& w = waiting_[static_cast<std::size_t>(job.table)];
    send_to_bots(job);
    std::unique_lock lock(w.mutex);
    w.done.wait(lock, [&w] { return w.ready; });
    w.ready = false;
  }

  // Sleeps, blocked, until the deadline; then records how late it woke.
  void sleep_until(Clock::time_point deadline) {
    std::this_thread::sleep_until(deadline);
    recorder_.woke(Clock::now() - deadline);
  }

  // A table: its diners, one after another, each through the meal's script.
  void table(int t) {
    for (int turn = 0; turn < p_.turns; ++turn) {
      const auto arrived = arrival(p_, t, turn);
      sleep_until(recorder_.at(arrived));
      if (turn == 0) recorder_.table_started();
      for (const Action& a : script()) {
        if (a.kind == Action::request) request({t, turn, a.step});
        if (a.kind == Action::request && a.step == Step::bill) recorder_.meal_paid(arrived);
        if (a.kind == Action::wait) sleep_until(Clock::now() + wait_time(p_, a));
      }
    }
  }

  std::vector<Waiter> waiting_;  // per table: its diner's hand-back
};

}  // namespace

Result run_threads_per_table(const Params& p) {
  return run_measured(p, "threads-per-table", [&p] { return TableThreads(p).run(); });
}

}  // namespace tvl::restaurant
