// A seam in the LoopBot restaurant for the chatty-guest exercise (exercises/chatty-guest): the
// way the GreetBot lets a chatty guest talk, supplied from outside. Everything else is the
// restaurant of asyncloop/restaurant.cpp, measured as run_asyncloop() measures it.
#pragma once

#include <functional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "scenarios/restaurant.hpp"

namespace tvl::restaurant {

// Called for every chatty guest (p.chatty must not be "none"), on the loop, by the GreetBot in
// the middle of its step. `loop` is the restaurant's event loop; `talk()` is the guest talking:
// it holds the calling thread for p.chatty_ms. The bot resumes when the awaitable completes.
using ChatFn =
    std::function<boost::asio::awaitable<void>(boost::asio::any_io_executor loop, std::function<void()> talk)>;

Result run_asyncloop_with_chat(const Params& p, ChatFn chat);

}  // namespace tvl::restaurant
