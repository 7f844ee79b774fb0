// The book's message broker (ch. 4, mq_server) on one event loop with C++20 coroutines.
//
// Every connection has a reader coroutine that waits in async_read_some(), takes up to 64 KiB
// at a time and hands the session (scenarios/fanout_session.hpp) what it read. One io_context,
// run by the calling thread, serves them all: the listener and the wait for the stop are
// coroutines on it too (asyncloop/fanout_coroutines.hpp keeps the connections). Two designs:
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
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "asyncloop/fanout_coroutines.hpp"  // the connection and its coroutines; scenarios/fanout_session.hpp

namespace tvl::fanout {
namespace {

using namespace coroutines;

class Broker {
 public:
  // The copy of stop_fd is made now, so that the broker's descriptors are all open once it listens.
  Broker(const BrokerConfig& c, const Control& ctl) : c_(c), acceptor_(io_), stop_(io_, own_copy(ctl.stop_fd)) {
    listen(acceptor_, c);
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  // Accepts on this thread's loop until stop_fd is readable; a coroutine waits for that.
  BrokerStats run() {
    co_spawn(io_, stop_when_told(), rethrow);
    co_spawn(io_, accept_all(), rethrow);
    io_.run();
    return stats_;
  }

 private:
  asio::awaitable<void> accept_all() {
    asio::steady_timer backoff(io_);
    while (!stopping_) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
      if (stopping_) break;
      if (ec) {  // out of descriptors, most likely: give some time to be freed rather than spin
        co_await sleep_for(backoff, kAcceptBackoff);
        continue;
      }
      bump(stats_.accepted);
      socket.set_option(tcp::no_delay(true), ec);  // small frames go now, not after a delayed ACK
      socket.non_blocking(true, ec);               // the eager flush's write_some() must not wait
      start(std::make_shared<Connection>(std::move(socket)));
    }
  }

  void start(const ConnectionPtr& s) {
    connections_.start(s);
    if (!naive_) co_spawn(io_, writer(s), rethrow);
    co_spawn(io_, reader(s), rethrow);
  }

  // The session: the client's first frame subscribes it, then (channel, data) pairs until an
  // empty channel frame, the end of the stream, a frame over max_frame, or the shutdown.
  asio::awaitable<void> reader(ConnectionPtr s) {
    ClientSession session(c_, naive_);
    Pending pending;
    const auto subscribe = [this, &s](const std::string& channel) { this->subscribe(s, channel); };
    const auto deliver = [this, &pending](const Batch& b) { deliver_or_wait(b, pending); };
    for (bool more = true; more && !stopping_;) {
      auto [ec, n] = co_await s->socket.async_read_some(session.buffer(), use_tuple);
      if (ec) break;  // end of stream, reset, or closed by us
      more = session.take(n, subscribe, deliver);
      if (!pending.waiting.empty()) co_await write_in_turn(pending.waiting);
      flush(pending);
      session.next_chunk();
    }
    connections_.reader_done();
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
    for (;;) {
      // A named local: GCC 12 crashed on the co_await in the loop's condition.
      const bool room = co_await room_to_write(*s);
      if (!room) break;
      write_some_now(s);
      if (s->closing && !s->wait_for_room) close(s);
    }
  }

  // Writes what the socket takes without waiting; a full socket is left to the writer coroutine.
  void write_some_now(const ConnectionPtr& s) {
    while (s->open && !s->wait_for_room && !s->box.empty()) {
      auto [ec, n] = write_some(s->socket, s->box.unwritten());
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

  // Naive: the chunk's messages wait until it is walked, then go in turn; improved: they go to
  // the buffers now.
  void deliver_or_wait(const Batch& b, Pending& p) { naive_ ? p.waiting.push_back(b) : offer_all(b, p); }

  // Improved: a run of messages to one channel reaches each subscriber's buffer with one append.
  void offer_all(const Batch& b, Pending& p) {
    offer_to_subscribers(registry_, b, [this, &p](const ConnectionPtr& s, const Batch& run) { offer(s, run, p); });
  }

  // Improved, once the chunk is handled: the eager flush (the optimisation). The reader itself
  // writes each buffer the chunk filled; only a socket that is full wakes its writer coroutine.
  void flush(Pending& p) {
    p.flush([this](const auto& s) { slow_disconnect(s); }, [this](const auto& s) { write_some_now(s); });
  }

  // Improved: buffers what fits, applies the slow policy to the rest; never waits.
  void offer(const ConnectionPtr& s, const Batch& b, Pending& p) {
    if (!s->open || s->closing) return;
    const bool wake = s->box.empty();  // else it is on the list already, or the writer coroutine has it
    const std::size_t take = s->box.offer(c_, b);
    if (wake && take > 0) p.filled.push_back(s);
    if (take == b.ends.size()) return;
    if (drop_) return bump(stats_.dropped, static_cast<std::int64_t>(b.ends.size() - take));
    p.slow.push_back(s);
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
        if (ec) {
          close(s);  // its reader coroutine wakes and ends the connection; the turn is closed
          continue;
        }
        bump(stats_.deliveries);
        bump(stats_.bytes_out, static_cast<std::int64_t>(n));
        s->turn.try_receive([](error_code) {});  // gives the turn back
      }
    }
    waiting.clear();
  }

  // Closed once the chunk is handled, for closing edits the registry; it may be on the list twice.
  void slow_disconnect(const ConnectionPtr& s) {
    if (!s->open) return;
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
    connections_.done(s);
  }

  // Shutdown: stop accepting and reading; give the buffers flush_timeout_s to be written,
  // then count what is left and close every connection; the loop then runs out of work.
  asio::awaitable<void> stop_when_told() {
    co_await wait_for_stop(stop_);
    stopping_ = true;
    error_code ignored;
    acceptor_.close(ignored);  // accept_all()'s async_accept() returns
    connections_.for_each(
        [&ignored](const ConnectionPtr& s) { s->socket.shutdown(tcp::socket::shutdown_receive, ignored); });
    const auto deadline = flush_deadline(c_);
    asio::steady_timer tick(io_);  // polling is plenty for a once-per-run wait
    while (!connections_.quiet() && Clock::now() < deadline) co_await sleep_for(tick, kFlushPoll);
    bump(stats_.unflushed, connections_.unflushed());
    connections_.for_each([this](const ConnectionPtr& s) { close(s); });
  }

  const BrokerConfig& c_;
  const bool naive_ = c_.design == Design::naive;
  const bool drop_ = c_.slow_policy == SlowPolicy::drop;
  asio::io_context io_{1};  // one thread runs it: Asio need not lock
  tcp::acceptor acceptor_;
  asio::posix::stream_descriptor stop_;  // the broker's copy of stop_fd
  BrokerStats stats_;
  bool stopping_ = false;
  Channels registry_;
  ConnectionCoroutines connections_{stats_};
};

}  // namespace

BrokerStats run_asyncloop_broker(const BrokerConfig& c, const Control& ctl) {
  check_config(c, ctl, "fanout/asyncloop");
  Broker broker(c, ctl);  // binds now: an address in use throws here, before any coroutine starts
  if (ctl.listening) ctl.listening(broker.port());
  return broker.run();
}

}  // namespace tvl::fanout
