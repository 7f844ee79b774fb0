// The LoopBot's bots: every bot a coroutine on the restaurant's one io_context, awaiting jobs on
// its role's channel. They serve asyncloop/restaurant.cpp as ThreadBots (threads/restaurant_
// common.hpp) serve its twin threads/restaurant.cpp: the same start, send and send_home, the
// same step (Service, in scenarios/), with a co_await where a thread would block.
#pragma once

#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "asyncloop/restaurant_chat.hpp"
#include "asyncloop/sleep_queue.hpp"
#include "scenarios/restaurant.hpp"

namespace tvl::restaurant {

class LoopBots {
 public:
  // `chat`, when not empty, is how the GreetBot lets a chatty guest talk (the exercise's seam);
  // otherwise p.chatty says.
  LoopBots(Service& service, boost::asio::io_context& loop, ChatFn chat);

  void start();

  // Sends the job to every bot it calls; the bot that does the step hands the table back by
  // calling `handed_back`, later, on the loop (never inside its step).
  void send(const Job& job, Wake handed_back);
  void table_done();  // the last table done sends the bots home

  // What the service did, with the loop thread's CPU time since start() and its time asleep
  // inside a step; call it on the loop's thread.
  Result finish();

 private:
  using JobQueue = boost::asio::experimental::channel<void(boost::system::error_code, Job)>;

  boost::asio::awaitable<void> bot(BotStat& stat);
  boost::asio::awaitable<void> chat();
  void hand_back(int table);

  Service& service_;
  boost::asio::io_context& loop_;
  ChatFn chat_;                                    // empty: p.chatty says how the guest talks
  std::vector<Wake> waiting_;                      // per table: its diner's hand-back
  std::vector<BotStat> stats_;                     // one per bot
  std::vector<std::unique_ptr<JobQueue>> queues_;  // one per role
  std::optional<boost::asio::thread_pool> pool_;   // only for the offloaded chatty guest
  Clock::duration blocked_{0};                     // the loop thread asleep inside a step (the chatty guest)
  double cpu_at_start_ = 0;
  int tables_done_ = 0;
};

// Returns `chat`, or throws std::invalid_argument unless it can stand in for the chatty guest's
// talk (it is a function, and p has chatty guests).
ChatFn checked_chat(const Params& p, ChatFn chat);

}  // namespace tvl::restaurant
