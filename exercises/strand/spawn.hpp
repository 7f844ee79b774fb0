// Exercise strand (book ch. 3, docs/cutlery.md): YOUR COPY. Edit this file, then run
//   make exercise NAME=strand
//
// The grader builds ten LoopBots (coroutines that share the book's plain-int kitchen) and calls
// start_bots() below to start them, then runs the io_context with TWO threads. Each bot hands
// the loop back after every step; with two threads running the loop, two bots' steps can run at
// the same instant, one on each thread, and the kitchen's read-add-write races again.
//
// Your task: start the bots so that no two of their steps ever run at once, while the loop
// keeps its two threads (Asio has the primitive for this). Keep the function's signature.
#pragma once

#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "loop_bots.hpp"

inline void start_bots(boost::asio::io_context& loop, std::vector<tvl::exercise::BotFn>& bots) {
  for (auto& bot : bots) boost::asio::co_spawn(loop, bot(), boost::asio::detached);
}
