// The echo server on an event loop per core, the way production event-loop servers use many
// cores: K io_contexts, each run by its own thread. The first loop accepts and hands each new
// connection to the loops in turn; a connection's coroutine then lives on its loop alone
// (asyncloop/echo.cpp's), and the loops share nothing but the counters.
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <optional>
#include <thread>

#include "asyncloop/echo.hpp"
#include "measure/process.hpp"
#include "scenarios/echo_net.hpp"

namespace tvl::echo {

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Loop {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> busy = asio::make_work_guard(io);
  Connections open;
};

asio::awaitable<void> accept_all(tcp::acceptor& acceptor, const Config& c, Counters& n, std::deque<Loop>& loops) {
  for (std::size_t next = 0;; next = (next + 1) % loops.size()) {
    const asio::any_io_executor to = loops[next].io.get_executor();  // named: GCC 12 and temporaries in co_await
    auto s = co_await accept_next(acceptor, to);                     // the socket belongs to loop `next`
    if (!s) co_return;
    n.opened();
    asio::co_spawn(to, connection(std::move(*s), c, n, loops[next].open, nullptr), asio::detached);
  }
}

// On the first loop: once stop_fd is readable, stop accepting and tell every loop to close its
// connections and end when they have.
asio::awaitable<void> stop_when_told(int stop_fd, tcp::acceptor& acceptor, std::deque<Loop>& loops) {
  asio::posix::stream_descriptor stop(acceptor.get_executor(), ::dup(stop_fd));
  co_await stop.async_wait(asio::posix::stream_descriptor::wait_read, use_tuple);
  acceptor.close();
  for (Loop& loop : loops)
    asio::post(loop.io, [&loop] {
      loop.open.shut_all();
      loop.busy.reset();
    });
}

}  // namespace

Stats run_asyncloop_mt_echo(const Config& c, const Control& ctl) {
  const int count = c.threads > 0 ? c.threads : static_cast<int>(process::allowed_cpus().size());
  std::deque<Loop> loops(static_cast<std::size_t>(count));
  tcp::acceptor acceptor = listen_on(loops.front().io, c, ctl);
  Counters n;
  asio::co_spawn(loops.front().io, accept_all(acceptor, c, n, loops), asio::detached);
  asio::co_spawn(loops.front().io, stop_when_told(ctl.stop_fd, acceptor, loops), asio::detached);
  std::vector<std::thread> runners;
  for (std::size_t i = 1; i < loops.size(); ++i) runners.emplace_back([&loop = loops[i]] { loop.io.run(); });
  loops.front().io.run();
  for (auto& r : runners) r.join();
  return snapshot(n);
}

}  // namespace tvl::echo
