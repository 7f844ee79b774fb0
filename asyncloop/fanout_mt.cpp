// The message broker on an event loop per core: asyncloop/fanout.cpp, spread over K loops.
//
// `asyncloop-mt` runs K io_contexts, each on a thread of its own, the way production
// event-loop servers use many cores (Asio's http/server2 keeps this as a program of its own,
// beside the one-loop server; so does this file). Only the improved design: an output buffer
// per subscriber, written once the chunk is handled, as in asyncloop/fanout.cpp.
//
// Each loop owns its connections and its registry and they share nothing: a loop delivers a
// chunk to its own subscribers and hands the chunk's messages, in one shared buffer, to each
// other loop with subscribers on their channels (one asio::post per chunk and loop). Which loop
// has subscribers where is itself told by posts, so no lock is taken; within a loop nothing
// runs in parallel, and state changes only between two co_awaits. A loop whose hand-offs the
// others have not yet handled stops reading until they catch up.
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "asyncloop/fanout_mt_loop.hpp"
#include "asyncloop/loop_task.hpp"
#include "scenarios/fanout.hpp"
#include "scenarios/fanout_broker.hpp"

namespace tvl::fanout {
namespace {

using namespace mt;

class Broker {
 public:
  Broker(const BrokerConfig& c, int stop_fd, std::size_t loops) : c_(c) {
    for (std::size_t i = 0; i < loops; ++i) loops_.push_back(std::make_unique<Loop>(c, loops_, i));
    asio::io_context& first = loops_.front()->ctx;
    acceptor_.emplace(first);
    stop_.emplace(first, own_copy(stop_fd));
    const tcp::endpoint at(asio::ip::make_address(c.host), c.port);
    acceptor_->open(at.protocol());
    acceptor_->set_option(tcp::acceptor::reuse_address(true));
    acceptor_->bind(at);
    acceptor_->listen(asio::socket_base::max_listen_connections);
  }

  std::uint16_t port() const { return acceptor_->local_endpoint().port(); }

  // Loop 0 runs on this thread, the others on threads of their own.
  BrokerStats run() {
    asio::io_context& first = loops_.front()->ctx;
    co_spawn(first, listener(), rethrow);
    co_spawn(first, stop_when_told(), rethrow);
    std::vector<std::exception_ptr> errors(loops_.size());
    std::vector<std::thread> threads;
    const auto run_loop = [this, &errors](std::size_t i) {
      try {
        loops_[i]->ctx.run();
      } catch (...) {
        errors[i] = std::current_exception();
        for (const auto& l : loops_) l->ctx.stop();
      }
    };
    for (std::size_t i = 1; i < loops_.size(); ++i) threads.emplace_back(run_loop, i);
    run_loop(0);
    for (auto& t : threads) t.join();
    for (const auto& e : errors)
      if (e) std::rethrow_exception(e);
    BrokerStats sum;
    for (const auto& l : loops_) sum += l->stats;
    return sum;
  }

 private:
  // The broker closes its descriptors when it is done; stop_fd stays the caller's.
  static int own_copy(int fd) {
    const int copy = ::dup(fd);
    if (copy < 0) throw std::system_error(errno, std::generic_category(), "fanout/asyncloop: dup(stop_fd)");
    return copy;
  }

  // Hands the connections to the loops in turn: the socket is registered with its loop's
  // io_context, and its reader runs there.
  asio::awaitable<void> listener() {
    asio::steady_timer backoff(loops_.front()->ctx);
    for (std::size_t next = 0; acceptor_->is_open(); next = (next + 1) % loops_.size()) {
      Loop& to = *loops_[next];
      auto [ec, socket] = co_await acceptor_->async_accept(to.ctx, use_tuple);
      if (ec == asio::error::operation_aborted || !acceptor_->is_open()) break;
      if (ec) {  // out of descriptors, most likely: give some time to be freed rather than spin
        backoff.expires_after(kAcceptBackoff);
        co_await backoff.async_wait(use_tuple);
        continue;
      }
      ++loops_.front()->stats.accepted;
      // Small frames must go out now, not wait for the peer's delayed ACK; and a write that
      // would block must say so (flush() then waits for writability instead).
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      socket.non_blocking(true, ignored);
      co_spawn(to.ctx, to.serve(std::move(socket)), rethrow);
    }
  }

  // Shutdown: stop accepting and reading; give the buffers flush_timeout_s to empty, asking
  // every loop in rounds (two quiet rounds in a row: a batch one loop posted in the first
  // shows in the second); then every loop counts what is left and closes everything.
  asio::awaitable<void> stop_when_told() {
    co_await stop_->async_wait(asio::posix::stream_descriptor::wait_read, use_tuple);
    error_code ignored;
    acceptor_->close(ignored);
    for (const auto& l : loops_) asio::post(l->ctx, [l = l.get()] { l->stop_reading(); });
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(c_.flush_timeout_s));
    asio::steady_timer tick(loops_.front()->ctx);  // polling is plenty for a once-per-run wait
    for (int round = 1, quiet_rounds = 0; quiet_rounds < 2 && Clock::now() < deadline; ++round) {
      for (const auto& l : loops_) asio::post(l->ctx, [l = l.get(), round] { l->report(round); });
      bool all = false;
      while (!all && Clock::now() < deadline) {
        tick.expires_after(kRoundPoll);
        co_await tick.async_wait(use_tuple);
        all = std::ranges::all_of(loops_, [round](const auto& l) { return l->reported.load() >= round; });
      }
      const bool quiet = all && std::ranges::all_of(loops_, [](const auto& l) { return l->quiet.load(); });
      quiet_rounds = quiet ? quiet_rounds + 1 : 0;
    }
    for (const auto& l : loops_) asio::post(l->ctx, [l = l.get()] { l->finish(); });
  }

  const BrokerConfig& c_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::optional<tcp::acceptor> acceptor_;               // on loop 0
  std::optional<asio::posix::stream_descriptor> stop_;  // readable when the broker must shut down
};

}  // namespace

// c.loops io_contexts (0: one per CPU this process may run on), each run by a thread of its
// own; this thread runs the first.
BrokerStats run_asyncloop_mt_broker(const BrokerConfig& c, const Control& ctl) {
  check_config(c, ctl, "fanout/asyncloop-mt");
  if (c.design != Design::improved)
    throw std::invalid_argument("fanout/asyncloop-mt: only the improved design (naive runs on one loop: asyncloop)");
  if (c.loops < 0) throw std::invalid_argument("fanout/asyncloop-mt: loops must not be negative");
  std::size_t loops = static_cast<std::size_t>(c.loops);
  if (loops == 0) {
    cpu_set_t cpus;
    loops = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? static_cast<std::size_t>(CPU_COUNT(&cpus)) : 1;
  }
  Broker broker(c, ctl.stop_fd, std::max<std::size_t>(loops, 1));  // binds now: an address in use throws here
  if (ctl.listening) ctl.listening(broker.port());
  return broker.run();
}

}  // namespace tvl::fanout
