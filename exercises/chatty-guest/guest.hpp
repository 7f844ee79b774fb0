// Exercise chatty-guest (book ch. 3, executors; docs/restaurant.md): YOUR COPY. Edit this file,
// then run
//   make exercise NAME=chatty-guest
//
// The LoopBot restaurant: one event loop, one thread, every bot and every table a coroutine.
// Every tenth diner is a chatty guest who talks to the GreetBot for 20 ms at the bill;
// guest.talk() is that conversation, and it holds whichever thread calls it. The GreetBot calls
// let_guest_talk() below, on the loop. The starter lets the guest talk right there, so the
// loop's one thread is stuck for 20 ms: no other table's timer fires, no other bot moves.
//
// Your task: let the guest talk without holding up the loop — move the talk off the loop, onto
// `helpers` (a thread pool the grader gives you: the book's run_in_executor), and resume the
// bot on the loop when the talk is over. Keep the signature; the guest must still talk.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "chatty_guest.hpp"

inline boost::asio::awaitable<void> let_guest_talk(boost::asio::any_io_executor /*loop*/, tvl::exercise::Guest guest,
                                                   boost::asio::thread_pool& /*helpers*/) {
  guest.talk();  // 20 ms on the loop's one thread: every other table waits too
  co_return;
}
