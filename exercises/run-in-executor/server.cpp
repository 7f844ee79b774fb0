// Exercise run-in-executor (book ch. 3, Example 3-23, loop.run_in_executor; docs/crossover.md):
// YOUR COPY. Edit this file, then run
//   make exercise NAME=run-in-executor
//
// The book's echo server (Example 3-30) on one Boost.Asio event loop: one thread runs an
// io_context, and each connection is a coroutine on it. Every request costs CPU work first,
// work(): a millisecond of computing (parsing, hashing, compressing; here a calibrated spin).
// The starter does that work in respond(), on the loop's one thread. While it spins, no other
// connection is read or answered, and the server can never use more than one core, however
// many the machine has.
//
// Your task: in respond(), move the work (and the answer) off the loop, onto `executor`, the
// thread pool run_server() already made (the book's loop.run_in_executor), and come back to the
// loop to write the answer. Change only respond(); keep one thread on the loop.
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <span>
#include <string>
#include <string_view>

#include "executor_server.hpp"
#include "scenarios/echo_net.hpp"

namespace tvl::exercise {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// One request: its CPU work, then its answer (the line upper-cased) appended to `out`.
asio::awaitable<void> respond(std::string_view line, std::string& out, const CpuWork& work,
                              asio::thread_pool& /*executor*/) {
  work();  // a millisecond on the loop's one thread: every other connection waits for it
  echo::answer(line, out);
  co_return;
}

// One connection: read what came, answer every complete line, write the answers; until the
// client leaves.
asio::awaitable<void> serve(tcp::socket s, const CpuWork& work, asio::thread_pool& executor, echo::Counters& n) {
  echo::Lines lines(echo::kDefaultMaxLine);
  std::string out;
  for (;;) {
    const std::span<char> room = lines.space();
    const auto [ec, got] = co_await s.async_read_some(asio::buffer(room.data(), room.size()), use_tuple);
    if (ec) break;
    lines.filled(got);
    while (const auto line = lines.next()) {
      co_await respond(*line, out, work, executor);
      ++n.requests;
    }
    if (lines.too_long()) {
      ++n.protocol_errors;
      break;
    }
    const auto [write_ec, _] = co_await asio::async_write(s, asio::buffer(out), use_tuple);
    if (write_ec) break;
    out.clear();
  }
  n.ended();
}

asio::awaitable<void> accept_all(tcp::acceptor& acceptor, const CpuWork& work, asio::thread_pool& executor,
                                 echo::Counters& n) {
  for (;;) {
    auto [ec, s] = co_await acceptor.async_accept(use_tuple);
    if (ec) co_return;  // the acceptor was closed: the server is stopping
    n.opened();
    asio::co_spawn(acceptor.get_executor(), serve(std::move(s), work, executor, n), asio::detached);
  }
}

}  // namespace

echo::Stats run_server(const echo::Config& c, const CpuWork& work, const echo::Control& ctl) {
  asio::io_context loop{1};  // the event loop, run by one thread: this one
  tcp::acceptor acceptor = echo::listen_on(loop, c, ctl);
  echo::Counters n;
  asio::thread_pool executor(static_cast<std::size_t>(c.threads));  // the executor: idle until given work
  asio::co_spawn(loop, accept_all(acceptor, work, executor, n), asio::detached);
  asio::posix::stream_descriptor stop(loop, ::dup(ctl.stop_fd));
  stop.async_wait(asio::posix::stream_descriptor::wait_read, [&](boost::system::error_code) { loop.stop(); });
  loop.run();
  executor.join();  // nothing is left running on the pool when the loop is destroyed
  return echo::snapshot(n);
}

}  // namespace tvl::exercise
