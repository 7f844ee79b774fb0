// The restaurant on an event loop: the book's LoopBot (ch. 1).
//
// One io_context, run by one thread, does the work of every bot. Each bot is a coroutine that
// awaits jobs on its role's channel (LoopBots, asyncloop/restaurant_bots.hpp); each table is a
// coroutine that follows its diners through the meal's script, waiting for bots and sleeping on
// the loop's one timer queue. Nothing runs in parallel, so a bot that hands a table back
// *before* it has finished (the unsafe variant) cannot collide with anyone: the next bot starts
// only when this one reaches a co_await. The LoopBot's weakness is the chatty guest: a step
// that blocks holds up every table, unless it is offloaded to a thread pool (the book's
// run_in_executor).
//
// Compare with threads/restaurant.cpp, its twin: table(), request() and sleep_until() are the
// same code, suspending this table's coroutine where a table's thread blocks.
// threads/restaurant_bots.cpp (a thread per bot) and restaurant_tbb.cpp (a pool) make each table
// a record that callbacks move along the script: table() below, unrolled by hand.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <vector>

#include "asyncloop/restaurant_bots.hpp"
#include "asyncloop/sleep_queue.hpp"
#include "scenarios/restaurant.hpp"

namespace tvl::restaurant {
namespace {

class Restaurant {
 public:
  explicit Restaurant(const Params& p, ChatFn chat = {})
      : p_(p),
        service_(p),
        recorder_(service_.recorder()),
        bots_(service_, io_context_, std::move(chat)),
        sleepers_(io_context_.get_executor()) {}

  Result run() {
    bots_.start();
    for (int t = 0; t < p_.tables; ++t) table(t).spawn(io_context_.get_executor());
    io_context_.run_for(std::chrono::milliseconds(static_cast<std::int64_t>(p_.deadline_s * 1000)));
    return bots_.finish();
  }

 private:
  // The diner's request: queue a job for the role and wait, suspended, for the bot's hand-back.
  auto request(const Job& job) {
    return suspend([this, job](Wake handed_back) { bots_.send(job, std::move(handed_back)); });
  }

  // Sleeps, suspended, until the deadline; then records how late it woke.
  auto sleep_until(Clock::time_point deadline) {
    return suspend([this, deadline](Wake woken) { sleepers_.wake_at(deadline, std::move(woken)); },
                   [this, deadline] { recorder_.woke(Clock::now() - deadline); });
  }

  // A table: its diners, one after another, each through the meal's script. A LoopTask, not an
  // asio::awaitable: see asyncloop/loop_task.hpp.
  LoopTask table(int t) {
    for (int turn = 0; turn < p_.turns; ++turn) {
      const auto arrived = arrival(p_, t, turn);
      co_await sleep_until(recorder_.at(arrived));
      if (turn == 0) recorder_.table_started();
      for (const Action& a : script()) {
        if (a.kind == Action::request) co_await request({t, turn, a.step});
        if (a.kind == Action::request && a.step == Step::bill) recorder_.meal_paid(arrived);
        if (a.kind == Action::wait) co_await sleep_until(Clock::now() + wait_time(p_, a));
      }
    }
    bots_.table_done();
  }

  const Params& p_;
  Service service_;
  Recorder& recorder_;
  boost::asio::io_context io_context_{1};  // run by this thread alone
  LoopBots bots_;                          // after io_context_, which must outlive the bots' channels
  SleepQueue sleepers_;
};

}  // namespace

// A coroutine per bot and a coroutine per table, on one io_context run by this thread.
Result run_asyncloop(const Params& p) {
  return serve_measured(p, [&p] { return Restaurant(p).run(); });
}

Result run_asyncloop_with_chat(const Params& p, ChatFn chat) {
  return serve_measured(p, [&p, &chat] { return Restaurant(p, checked_chat(p, std::move(chat))).run(); });
}

}  // namespace tvl::restaurant
