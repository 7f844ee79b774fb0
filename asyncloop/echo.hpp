// What the event-loop models of the echo server share: a connection's life as a coroutine
// (asyncloop/echo.cpp) and the connections one loop is serving. asyncloop/echo.cpp runs one
// loop, asyncloop/echo_mt.cpp a loop per core.
#pragma once

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <unordered_set>

#include "scenarios/echo.hpp"

namespace tvl::echo {

namespace asio = boost::asio;
using asio::ip::tcp;

class Connections;

// Serves one connection until the client leaves, a line is too long, or shutdown wakes the
// pending read; then closes it and counts it ended. `executor`: where W and B run with
// Offload::executor (null: on the loop itself).
asio::awaitable<void> connection(tcp::socket s, const Config& c, Counters& n, Connections& open,
                                 asio::thread_pool* executor);

// The next connection, its socket on the loop of `to`; nullopt once the acceptor is closed
// (shutdown). A failed accept (out of descriptors, say) is tried again after kAcceptBackoff.
asio::awaitable<std::optional<tcp::socket>> accept_next(tcp::acceptor& acceptor, asio::any_io_executor to);

// The sockets one loop is serving, so that shutdown can wake their coroutines. Only that loop
// touches it: no lock.
class Connections {
 public:
  bool add(tcp::socket* s) {  // false once shutdown has begun: close it unserved
    if (closing_) return false;
    sockets_.insert(s);
    return true;
  }
  void remove(tcp::socket* s) { sockets_.erase(s); }
  void shut_all() {
    closing_ = true;
    for (tcp::socket* s : sockets_) {
      boost::system::error_code ignored;
      s->shutdown(tcp::socket::shutdown_both, ignored);  // the pending read completes
    }
  }

 private:
  std::unordered_set<tcp::socket*> sockets_;
  bool closing_ = false;
};

}  // namespace tvl::echo
