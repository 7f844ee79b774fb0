// The restaurant with a thread per table as well: "one thread per connection".
//
// Every bot is an OS thread blocking on its role's queue (ThreadBots, threads/restaurant_
// common.hpp); every table is an OS thread too, which follows its diners through the meal's
// script top to bottom: it asks a bot for each step and blocks until the bot hands the table
// back, and it sleeps through the waits. That reads as plainly as a coroutine, and costs a
// thread, with its stack, per table: past some thousands of tables the thread cannot be
// created, and the run stops there and says which limit it met. Bots run in parallel, so a bot
// that hands a table back before it has finished (the unsafe variant) collides with the next
// bot at that table.
//
// Compare with asyncloop/restaurant.cpp, its twin: table(), request() and sleep_until() are the
// same code, blocking this table's thread where the LoopBot's coroutines suspend.
#include <chrono>
#include <vector>

#include "scenarios/restaurant.hpp"
#include "threads/restaurant_common.hpp"

namespace tvl::restaurant {
namespace {

class Restaurant {
 public:
  explicit Restaurant(const Params& p)
      : p_(p),
        service_(p),
        recorder_(service_.recorder()),
        waits_(p.tables),
        bots_(service_, std::bind_front(&TableWaits::hand_back, &waits_)) {}

  Result run() {
    bots_.start();
    TableThreads threads(p_.tables, bots_.threads(), [this](int t) { table(t); });
    waits_.close_after(threads.size(), std::chrono::duration<double>(p_.deadline_s));
    threads.join();
    return bots_.finish(threads.size());  // the bots' threads and the tables'
  }

 private:
  // The diner's request: queue a job for the role and wait, blocked, for the bot's hand-back.
  void request(const Job& job) {
    bots_.send(job);
    waits_.wait_for_hand_back(job.table);
  }

  // Sleeps, blocked, until the deadline; then records how late it woke.
  void sleep_until(int table, Clock::time_point deadline) {
    waits_.sleep_until(table, deadline);
    recorder_.woke(Clock::now() - deadline);
  }

  // A table: its diners, one after another, each through the meal's script.
  void table(int t) {
    for (int turn = 0; turn < p_.turns; ++turn) {
      const auto arrived = arrival(p_, t, turn);
      sleep_until(t, recorder_.at(arrived));
      if (turn == 0) recorder_.table_started();
      for (const Action& a : script()) {
        if (a.kind == Action::request) request({t, turn, a.step});
        if (a.kind == Action::request && a.step == Step::bill) recorder_.meal_paid(arrived);
        if (a.kind == Action::wait) sleep_until(t, Clock::now() + wait_time(p_, a));
      }
    }
    waits_.table_done();
  }

  const Params& p_;
  Service service_;
  Recorder& recorder_;
  TableWaits waits_;  // per table: where its thread blocks
  ThreadBots bots_;   // after waits_, which the bots wake until they have gone home
};

}  // namespace

// A thread per bot and a thread per table; the tables' threads block in request() and sleep_until().
Result run_threads_per_table(const Params& p) {
  return serve_measured(p, [&p] { return Restaurant(p).run(); });
}

}  // namespace tvl::restaurant
