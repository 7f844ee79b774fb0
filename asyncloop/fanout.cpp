// The book's message broker (ch. 4, mq_server) on one event loop with C++20 coroutines.
//
// Every connection has a reader coroutine that waits in async_read_some(), takes up to 64 KiB
// at a time and hands the session (scenarios/fanout_session.hpp) what it read. One io_context,
// run by the calling thread, serves them all: the listener and the wait for the stop are
// coroutines on it too. Two designs:
//   naive     the book's prototype: a publisher's reader writes the message to each subscriber
//             in turn and waits, so everything moves at the pace of the slowest subscriber;
//   improved  an output buffer and a writer coroutine per subscriber (Asio's chat_server
//             shape): a publisher's reader appends a run of messages to the buffer, at most
//             queue_depth messages and queue_bytes bytes, and never waits; the writer waits
//             for room in the socket. What does not fit is dropped or disconnects the
//             subscriber (c.slow_policy), and the counters say so.
// Why a writer coroutine: it is the threads broker's writer thread, so the diff shows a
// coroutine where there was a thread. One optimisation is labelled as such: the eager flush.
// Once a chunk is handled the reader itself writes each buffer it filled with a non-blocking
// write_some(), and only a socket that is full wakes the writer. A writer woken per chunk
// would cost a resumption per subscriber and run; this way the usual delivery costs none, as
// in Redis, and one loop carries millions of deliveries a second.
//
// Compare with threads/fanout.cpp: the same session, registry and buffer; there the reader
// and the writer are threads that block and share the registry under a lock, here they are
// coroutines on one thread, where state changes only between two co_awaits and nothing is
// locked. asyncloop/fanout_mt.cpp runs an event loop per core.
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include "asyncloop/loop_task.hpp"
#include "scenarios/fanout_session.hpp"  // and the domain: scenarios/fanout.hpp, fanout_broker.hpp

namespace tvl::fanout {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);  // errors come back as values

constexpr auto kFlushPoll = std::chrono::milliseconds(2);       // shutdown: how often the loop checks the buffers
constexpr auto kAcceptBackoff = std::chrono::milliseconds(10);  // out of descriptors: wait for one to be freed

// The counters are BrokerStats' own fields; only the loop's thread touches them.
void bump(std::int64_t& counter, std::int64_t n = 1) { counter += n; }

// The broker closes its descriptors when it is done; stop_fd stays the caller's.
int own_copy(int fd) {
  const int copy = ::dup(fd);
  if (copy < 0) throw std::system_error(errno, std::generic_category(), "fanout/asyncloop: dup(stop_fd)");
  return copy;
}

// Naive: an async mutex, a channel with one slot: sending takes the turn to write to a
// subscriber, receiving gives it back.
using WriteTurn = asio::experimental::channel<void(error_code)>;

// One client (any client may subscribe). It stays while a coroutine holds it.
struct Connection {
  explicit Connection(tcp::socket s)
      : socket(std::move(s)), ready(socket.get_executor()), turn(socket.get_executor(), 1) {
    ready.expires_at(asio::steady_timer::time_point::max());
  }
  tcp::socket socket;
  std::optional<std::string> channel;  // its subscription, while it is in the registry
  bool open = true;                    // false once it is closed
  bool closing = false;                // the reader ended: the writer writes the buffer, then closes
  Outbox box;                          // improved: what the eager flush and the writer coroutine write
  bool wait_for_room = false;          // improved: the socket took less than it was offered
  asio::steady_timer ready;            // improved: wakes the writer coroutine (cancelled)
  WriteTurn turn;                      // naive: one publisher at a time writes to this socket
};
using ConnectionPtr = std::shared_ptr<Connection>;

using Pending = ChunkWork<ConnectionPtr>;

// One loop, so no lock and a plain /queue cursor.
using Channels = Registry<ConnectionPtr>;

class Broker {
 public:
  Broker(const BrokerConfig& c, const Control& ctl) : c_(c), acceptor_(io_), stop_(io_, own_copy(ctl.stop_fd)) {
    listen(acceptor_, c);
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  // Accepts on this thread's loop until stop_fd is readable; a coroutine waits for that.
  BrokerStats run() {
    co_spawn(io_, stop_when_told(), rethrow);
    co_spawn(io_, listener(), rethrow);
    io_.run();
    return stats_;
  }

 private:
  asio::awaitable<void> listener() {
    asio::steady_timer backoff(io_);
    while (!stopping_) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
      if (stopping_) break;
      if (ec) {  // out of descriptors, most likely: give some time to be freed rather than spin
        backoff.expires_after(kAcceptBackoff);
        co_await backoff.async_wait(use_tuple);
        continue;
      }
      bump(stats_.accepted);
      socket.set_option(tcp::no_delay(true), ec);  // small frames go now, not after a delayed ACK
      socket.non_blocking(true, ec);               // the eager flush's write_some() must not wait
      start(std::make_shared<Connection>(std::move(socket)));
    }
  }

  void start(const ConnectionPtr& s) {
    connections_.insert(s);
    if (!naive_) co_spawn(io_, writer(s), rethrow);
    co_spawn(io_, reader(s), rethrow);
  }

  // The session: the client's first frame subscribes it, then (channel, data) pairs until an
  // empty channel frame, the end of the stream, a frame over max_frame, or the shutdown.
  asio::awaitable<void> reader(ConnectionPtr s) {
    ClientSession session(c_, naive_);
    std::vector<Batch> waiting;  // naive: the chunk's messages, written in turn once it is walked
    const auto subscribe = [this, &s](const std::string& channel) { this->subscribe(s, channel); };
    Pending pending;
    const auto deliver = [this, &waiting, &pending](const Batch& b) {
      naive_ ? waiting.push_back(b) : offer_all(b, pending);
    };
    ++readers_;
    for (bool more = true; more && !stopping_;) {
      const std::span<char> space = session.space();
      auto [ec, n] = co_await s->socket.async_read_some(asio::buffer(space.data(), space.size()), use_tuple);
      if (ec) break;  // end of stream, reset, or closed by us
      more = session.take(n, subscribe, deliver);
      if (!waiting.empty()) co_await write_in_turn(waiting);
      flush(pending);
      session.next_chunk();
    }
    --readers_;
    session.counts().add_to(stats_, bump);
    hang_up(s);
  }

  // The reader ended: the connection closes once the writer coroutine has written its buffer
  // (on shutdown, once the flush time is up).
  void hang_up(const ConnectionPtr& s) {
    if (stopping_ || !s->open) return;
    if (s->channel) unsubscribe(s);
    s->closing = true;
    if (!s->wait_for_room) close(s);
  }

  // Improved: waits for room in a full socket, then writes what it takes, until the buffer is
  // empty; then sleeps until the eager flush finds the socket full again.
  asio::awaitable<void> writer(ConnectionPtr s) {
    while (s->open) {
      if (!s->wait_for_room) {
        co_await s->ready.async_wait(use_tuple);
        continue;
      }
      auto [ec] = co_await s->socket.async_wait(tcp::socket::wait_write, use_tuple);
      if (ec) break;  // closed
      s->wait_for_room = false;
      write_now(s);
      if (s->closing && !s->wait_for_room) close(s);
    }
  }

  // Writes what the socket takes without waiting; a full socket is left to the writer coroutine.
  void write_now(const ConnectionPtr& s) {
    while (s->open && !s->wait_for_room && !s->box.empty()) {
      error_code ec;
      const std::span<const char> bytes = s->box.unwritten();
      const std::size_t n = s->socket.write_some(asio::buffer(bytes.data(), bytes.size()), ec);
      bump(stats_.bytes_out, static_cast<std::int64_t>(n));
      bump(stats_.deliveries, static_cast<std::int64_t>(s->box.written(n)));
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        s->wait_for_room = true;
        s->ready.cancel();  // wakes the writer coroutine
      } else if (ec) {
        close(s);
      }
    }
  }

  void subscribe(const ConnectionPtr& s, const std::string& channel) {
    registry_.add(channel, s);
    s->channel = channel;
    bump(stats_.subscribers);
  }

  void unsubscribe(const ConnectionPtr& s) {
    registry_.remove(*s->channel, s);
    s->channel.reset();
  }

  // Improved: a run of messages to one channel reaches each subscriber's buffer with one append.
  void offer_all(const Batch& b, Pending& p) {
    if (Channels::Channel* ch = registry_.find(b.channel))
      for_each_target(*ch, b, [this, &p](const ConnectionPtr& s, auto frames, auto ends) {
        offer(s, {{}, frames, ends}, p);
      });
  }

  // Improved, once the chunk is handled: the eager flush (the optimisation). The reader itself
  // writes each buffer the chunk filled; only a socket that is full wakes its writer coroutine.
  void flush(Pending& p) {
    for (const auto& s : p.slow) slow_disconnect(s);
    p.slow.clear();
    for (const auto& s : p.filled) write_now(s);
    p.filled.clear();
  }

  // Naive: the publisher's reader writes each message to each subscriber and waits for each
  // write. An async_write may take several system calls, so two publishers writing to one
  // subscriber at once would interleave their frames: each takes the subscriber's turn first.
  // The messages stay put in the reader's chunk while it waits.
  asio::awaitable<void> write_in_turn(std::vector<Batch>& waiting) {
    const error_code none;  // a named local: GCC 12 destroys a temporary inside co_await twice
    for (const Batch& b : waiting) {
      std::vector<ConnectionPtr> targets;  // a copy: subscribers come and go while this coroutine waits
      if (Channels::Channel* ch = registry_.find(b.channel))
        targets = is_queue(b.channel) ? std::vector{ch->take_turn()} : ch->subscribers;
      for (const auto& s : targets) {
        auto [gone] = co_await s->turn.async_send(none, use_tuple);
        if (gone || !s->open) continue;  // closed while we waited for our turn
        auto [ec, n] = co_await asio::async_write(s->socket, asio::buffer(b.frames.data(), b.frames.size()), use_tuple);
        s->turn.try_receive([](error_code) {});
        if (ec) {
          close(s);
          continue;
        }
        bump(stats_.deliveries);
        bump(stats_.bytes_out, static_cast<std::int64_t>(n));
      }
    }
    waiting.clear();
  }

  // Improved: buffers what fits, applies the slow policy to the rest; never waits.
  void offer(const ConnectionPtr& s, const Batch& b, Pending& p) {
    if (!s->open || s->closing) return;
    const bool wake = s->box.empty();  // else it is on the list already, or the writer coroutine has it
    const std::size_t take = s->box.offer(c_, b);
    if (wake && take > 0) p.filled.push_back(s);
    if (take == b.ends.size()) return;
    if (drop_) return bump(stats_.dropped, static_cast<std::int64_t>(b.ends.size() - take));
    p.slow.push_back(s);  // closed once the chunk is handled: closing edits the registry
  }

  void slow_disconnect(const ConnectionPtr& s) {
    if (!s->open) return;  // on the list twice
    bump(stats_.slow_disconnects);
    close(s);
  }

  // Once, whoever notices first: the reader, a failed write, a slow buffer, or the shutdown.
  void close(const ConnectionPtr& s) {
    if (!s->open) return;
    s->open = false;
    if (s->channel) unsubscribe(s);
    error_code ignored;
    s->socket.close(ignored);  // its reads and waits complete with operation_aborted
    s->ready.cancel();
    s->turn.close();
    connections_.erase(s);
    bump(stats_.closed);
  }

  // Shutdown: stop accepting and reading; give the buffers flush_timeout_s to be written,
  // then count what is left and close every connection; the loop then runs out of work.
  asio::awaitable<void> stop_when_told() {
    co_await stop_.async_wait(asio::posix::stream_descriptor::wait_read, use_tuple);
    stopping_ = true;
    error_code ignored;
    acceptor_.close(ignored);  // the listener's async_accept() returns
    for (const auto& s : connections_) s->socket.shutdown(tcp::socket::shutdown_receive, ignored);
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(c_.flush_timeout_s));
    asio::steady_timer tick(io_);  // polling is plenty for a once-per-run wait
    while (!quiet() && Clock::now() < deadline) {
      tick.expires_after(kFlushPoll);
      co_await tick.async_wait(use_tuple);
    }
    for (const auto& s : std::vector<ConnectionPtr>(connections_.begin(), connections_.end())) {
      bump(stats_.unflushed, static_cast<std::int64_t>(s->box.queued));
      close(s);
    }
    stop_.close(ignored);
  }

  bool quiet() const {
    return readers_ == 0 && std::ranges::all_of(connections_, [](const auto& s) { return s->box.queued == 0; });
  }

  const BrokerConfig& c_;
  const bool naive_ = c_.design == Design::naive;
  const bool drop_ = c_.slow_policy == SlowPolicy::drop;
  asio::io_context io_{1};  // one thread runs it: Asio need not lock
  tcp::acceptor acceptor_;
  asio::posix::stream_descriptor stop_;  // readable when the broker must shut down
  BrokerStats stats_;
  bool stopping_ = false;
  Channels registry_;
  std::unordered_set<ConnectionPtr> connections_;  // every open connection, subscribed or not
  int readers_ = 0;                                // reader coroutines still running (shutdown waits for them)
};

}  // namespace

BrokerStats run_asyncloop_broker(const BrokerConfig& c, const Control& ctl) {
  check_config(c, ctl, "fanout/asyncloop");
  Broker broker(c, ctl);  // binds now: an address in use throws here, before any coroutine starts
  if (ctl.listening) ctl.listening(broker.port());
  return broker.run();
}

}  // namespace tvl::fanout
