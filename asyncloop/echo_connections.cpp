// The event-loop models' accept (asyncloop/echo.hpp): the twin of the thread models' in
// threads/echo_connections.cpp.
#include "asyncloop/echo.hpp"
#include "scenarios/echo_net.hpp"

namespace tvl::echo {

namespace {
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
}  // namespace

asio::awaitable<std::optional<tcp::socket>> accept_next(tcp::acceptor& acceptor, asio::any_io_executor to) {
  asio::steady_timer backoff(acceptor.get_executor());
  for (;;) {
    auto [ec, s] = co_await acceptor.async_accept(to, use_tuple);
    if (!ec) co_return std::move(s);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return std::nullopt;
    backoff.expires_after(kAcceptBackoff);
    co_await backoff.async_wait(use_tuple);
  }
}

}  // namespace tvl::echo
