// The restaurant with a thread per bot: the book's ThreadBots (ch. 1).
//
// Every bot is an OS thread blocking on its role's queue (bots of one role share it); one more
// thread, the clock, ends every wait. The tables have no threads: each is a record that the bot
// finishing a step, or the clock ending a wait, moves on to its next action (TableRecords in
// threads/restaurant_common.hpp). So the thread count stays at the staff's size plus one for
// any number of tables, and the price is the table written as a state machine instead of the
// meal's script read top to bottom. Bots run in parallel, so a bot that hands a table back
// before it has finished (the unsafe variant) collides with the next bot at that table, as the
// book's ThreadBots do.
//
// Compare with restaurant_tbb.cpp (the same tables, with the bots' steps as pool tasks),
// restaurant.cpp (a thread per table instead of a record) and asyncloop/restaurant.cpp (the
// LoopBot: every bot and table a coroutine on one thread).
#include "scenarios/restaurant.hpp"
#include "threads/restaurant_common.hpp"

namespace tvl::restaurant {
namespace {

class BotThreads {
 public:
  explicit BotThreads(const Params& p)
      : service_(p),
        bots_(service_, [this](int table) { records_.advance(table); }),
        records_(p, service_.recorder(), [this](const Job& job) { bots_.send(job); }) {}

  Result run() {
    bots_.start();
    records_.serve();
    return bots_.finish(1);  // the bots, and the clock
  }

 private:
  Service service_;
  ThreadBots bots_;
  TableRecords records_;
};

}  // namespace

Result run_threads(const Params& p) {
  return serve_measured(p, [&p] { return BotThreads(p).run(); });
}

}  // namespace tvl::restaurant
