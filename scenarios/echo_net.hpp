// The listening socket of an echo server, the same for every model: bound before anything runs,
// so that an address in use is an error the caller sees at once.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>

#include "scenarios/echo.hpp"

namespace tvl::echo {

inline constexpr int kBacklog = 4096;  // connections the kernel may hold before they are accepted
// After an accept failed (out of descriptors, say), the acceptor waits this long before the next.
inline constexpr std::chrono::milliseconds kAcceptBackoff{10};

inline boost::asio::ip::tcp::acceptor listen_on(boost::asio::io_context& io, const Config& c, const Control& ctl) {
  using boost::asio::ip::tcp;
  check(c);
  const tcp::endpoint where(boost::asio::ip::make_address(c.host), c.port);
  tcp::acceptor acceptor(io, where.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(where);
  acceptor.listen(kBacklog);
  if (ctl.listening) ctl.listening(acceptor.local_endpoint().port());
  return acceptor;
}

}  // namespace tvl::echo
