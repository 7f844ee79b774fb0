// Exercise strand: the reference solution (see ../README.md).
//
// A strand is an executor that runs the handlers given to it one at a time, in order, on
// whichever of the io_context's threads is free. A coroutine spawned on the strand keeps it as
// its executor, so every step of every bot — each resumption after a co_await — goes through
// the same strand: no two steps run at once, and each one happens-before the next (which is
// what ThreadSanitizer checks). The loop still has two threads for everything else.
#pragma once

#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include "loop_bots.hpp"

inline void start_bots(boost::asio::io_context& loop, std::vector<tvl::exercise::BotFn>& bots) {
  auto strand = boost::asio::make_strand(loop);
  for (auto& bot : bots) boost::asio::co_spawn(strand, bot(), boost::asio::detached);
}
