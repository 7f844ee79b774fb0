// The echo server on an event loop: the book's Example 3-30 (asyncio.start_server). One thread
// runs an io_context; each connection is a coroutine that suspends in read, in the request's
// wait (B) and in write, and the loop runs whichever coroutine is ready.
//
// Compare with threads/echo.cpp: the same line framing, answer and spin (scenarios/echo.hpp);
// only the model changes — a coroutine per connection here, a thread per connection there.
#include "asyncloop/echo.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "scenarios/echo_net.hpp"

namespace tvl::echo {

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr int kDefaultExecutorThreads = 8;  // the executor's threads when Config::threads is 0

// One request: the wait (B) as an awaited timer, the way an async driver waits, and the CPU
// work (W), holding the loop — every connection's thread — while it spins.
asio::awaitable<void> respond(std::string_view line, const Config& c, std::string& out) {
  asio::steady_timer wait(co_await asio::this_coro::executor, c.block);
  if (c.block.count() > 0) co_await wait.async_wait(use_tuple);
  spin(c.work);
  answer(line, out);
}

// The same request sent to the executor, the book's run_in_executor: there the wait is a
// blocking call and the work spins a pool thread, while the loop serves the others.
asio::awaitable<void> respond_on(asio::thread_pool& executor, std::string_view line, const Config& c,
                                 std::string& out) {
  co_await asio::co_spawn(
      executor,
      [&]() -> asio::awaitable<void> {
        std::this_thread::sleep_for(c.block);
        spin(c.work);
        answer(line, out);
        co_return;
      },
      asio::use_awaitable);
}

asio::awaitable<void> serve(tcp::socket& s, const Config& c, Counters& n, asio::thread_pool* executor) {
  Lines lines(c.max_line);
  std::string out;
  for (;;) {
    const std::span<char> room = lines.space();
    const auto [ec, got] = co_await s.async_read_some(asio::buffer(room.data(), room.size()), use_tuple);
    if (ec) co_return;
    n.bytes_in += static_cast<std::int64_t>(got);
    lines.filled(got);
    while (const auto line = lines.next()) {
      if (executor == nullptr) co_await respond(*line, c, out);
      if (executor != nullptr) co_await respond_on(*executor, *line, c, out);
      ++n.requests;
    }
    if (lines.too_long()) {
      ++n.protocol_errors;
      co_return;
    }
    const auto [write_ec, _] = co_await asio::async_write(s, asio::buffer(out), use_tuple);
    if (write_ec) co_return;
    n.bytes_out += static_cast<std::int64_t>(out.size());
    out.clear();
  }
}

asio::awaitable<void> accept_all(tcp::acceptor& acceptor, const Config& c, Counters& n, Connections& open,
                                 asio::thread_pool* executor) {
  const asio::any_io_executor here = acceptor.get_executor();  // named: GCC 12 and temporaries in co_await
  for (;;) {
    auto s = co_await accept_next(acceptor, here);
    if (!s) co_return;
    n.opened();
    asio::co_spawn(acceptor.get_executor(), connection(std::move(*s), c, n, open, executor), asio::detached);
  }
}

asio::awaitable<void> stop_when_told(int stop_fd, tcp::acceptor& acceptor, Connections& open) {
  asio::posix::stream_descriptor stop(acceptor.get_executor(), ::dup(stop_fd));
  co_await stop.async_wait(asio::posix::stream_descriptor::wait_read, use_tuple);
  acceptor.close();
  open.shut_all();
}

}  // namespace

asio::awaitable<void> connection(tcp::socket s, const Config& c, Counters& n, Connections& open,
                                 asio::thread_pool* executor) {
  if (open.add(&s)) {
    co_await serve(s, c, n, executor);
    open.remove(&s);
  }
  s.close();
  n.ended();
}

Stats run_asyncloop_echo(const Config& c, const Control& ctl) {
  asio::io_context io{1};
  tcp::acceptor acceptor = listen_on(io, c, ctl);
  Counters n;
  Connections open;
  std::optional<asio::thread_pool> executor;
  if (c.offload == Offload::executor) executor.emplace(c.threads > 0 ? c.threads : kDefaultExecutorThreads);
  asio::co_spawn(io, accept_all(acceptor, c, n, open, executor ? &*executor : nullptr), asio::detached);
  asio::co_spawn(io, stop_when_told(ctl.stop_fd, acceptor, open), asio::detached);
  io.run();
  return snapshot(n);
}

}  // namespace tvl::echo
