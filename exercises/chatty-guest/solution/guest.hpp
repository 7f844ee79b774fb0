// Exercise chatty-guest: the reference solution (see ../README.md).
//
// co_spawn starts a small coroutine on the helpers' pool and the GreetBot awaits it: the talk
// holds a pool thread, not the loop's, and the loop serves every other table meanwhile. When the
// talk is over the bot resumes on its own executor, the loop, as every awaitable does. This is
// the book's loop.run_in_executor(None, talk) in Asio.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "chatty_guest.hpp"

inline boost::asio::awaitable<void> let_guest_talk(boost::asio::any_io_executor /*loop*/, tvl::exercise::Guest guest,
                                                   boost::asio::thread_pool& helpers) {
  co_await boost::asio::co_spawn(
      helpers,
      [guest]() -> boost::asio::awaitable<void> {
        guest.talk();  // on a pool thread
        co_return;
      },
      boost::asio::use_awaitable);
}
