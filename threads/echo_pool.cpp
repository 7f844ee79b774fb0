// The echo server on a fixed pool of threads: the shape of most thread-pool servers. The
// acceptor puts each new connection in a queue; each of N workers takes one, serves it until
// the client leaves (threads/echo.cpp's connection, blocking calls), then takes the next. With
// more connections than workers the others wait in the queue, served by no one until a worker
// is free. At shutdown the connections still waiting are closed unanswered.
#include <fmt/format.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include "scenarios/echo_net.hpp"
#include "threads/blocking_queue.hpp"
#include "threads/echo.hpp"

namespace tvl::echo {

namespace {

using Queue = BlockingQueue<std::optional<tcp::socket>>;  // nullopt: the worker's signal to end

void worker(Queue& waiting, const Config& c, Counters& n, Connections& open) {
  for (auto s = waiting.pop(); s.has_value(); s = waiting.pop()) connection(std::move(*s), c, n, open);
}

}  // namespace

Stats run_pool_echo(const Config& c, const Control& ctl) {
  asio::io_context io;  // owns the sockets; nothing runs on it
  tcp::acceptor acceptor = listen_on(io, c, ctl);
  Counters n;
  Connections open;
  Queue waiting;
  const int workers = pool_workers(c.threads);
  for (int started = 0; started < workers; ++started) {
    if (open.start_thread(c.stack_kib, [&] { worker(waiting, c, n, open); })) continue;
    for (int i = 0; i < started; ++i) waiting.push(std::nullopt);  // the pool cannot be had: stop it
    open.shut_all();
    open.wait_for_threads();
    throw std::runtime_error(fmt::format("echo: could start only {} of {} pool threads", started, workers));
  }
  while (auto s = accept_next(acceptor, ctl.stop_fd)) {
    n.opened();
    waiting.push(std::move(s));
  }
  for (int i = 0; i < workers; ++i) waiting.push(std::nullopt);  // after the connections still waiting
  open.shut_all();
  open.wait_for_threads();
  return snapshot(n);
}

}  // namespace tvl::echo
