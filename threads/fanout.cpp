// The book's message broker (ch. 4) with OS threads and Asio's blocking sockets.
//
// Every connection has a reader thread that blocks in read_some(), takes up to 64 KiB at a
// time and hands the session (scenarios/fanout_session.hpp) what it read. The calling thread
// blocks in accept(); a thread of its own waits for the stop and joins the threads of the
// connections that ended (threads/fanout_threads.hpp keeps them). Two designs:
//   naive     the book's prototype: a publisher's reader writes the message to each subscriber
//             in turn and waits, so everything moves at the pace of the slowest subscriber;
//   improved  an output buffer and a writer thread per subscriber (Asio's chat_server shape):
//             a publisher's reader appends a run of messages to the buffer under its lock, at
//             most queue_depth messages and queue_bytes bytes, and never waits; the writer
//             writes everything buffered with one blocking write. What does not fit is dropped
//             or disconnects the subscriber (c.slow_policy), and the counters say so.
// Every thread gets the default stack size (glibc: RLIMIT_STACK, usually 8 MiB of address
// space; metrics::default_stack_kib() reports it). A connection costs one thread (naive) or two.
//
// Compare with asyncloop/fanout.cpp: the same session, registry and buffer; there the reader
// and the writer are coroutines on one thread and nothing is locked, here they are threads
// that block, and the registry and each buffer are shared under a lock.
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "threads/fanout_threads.hpp"  // the connection and its threads; scenarios/fanout_session.hpp

namespace tvl::fanout {
namespace {

using namespace threads;

class Broker {
 public:
  Broker(const BrokerConfig& c, const Control& ctl) : c_(c), ctl_(ctl), acceptor_(io_) { listen(acceptor_, c); }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  // Accepts on this thread until stop_fd is readable; a thread of its own waits for that.
  BrokerStats run() {
    std::thread stopper([this] { stop_when_told(); });
    accept_all();
    stopper.join();
    acceptor_.close();
    connections_.join();
    return stats_;
  }

 private:
  void accept_all() {
    while (!stopping_) {
      auto [ec, socket] = accept(acceptor_);  // a blocking socket: its threads wait in read and write
      if (stopping_) break;
      if (ec) {  // out of descriptors, most likely: give some time to be freed rather than spin
        std::this_thread::sleep_for(kAcceptBackoff);
        continue;
      }
      bump(stats_.accepted);
      socket.set_option(tcp::no_delay(true), ec);  // small frames go now, not after a delayed ACK
      start(std::make_shared<Connection>(std::move(socket)));
    }
  }

  // Starts the connection's threads. Out of threads, this client is refused (a writer thread
  // that did start sees `closing`) and the others are served.
  void start(const ConnectionPtr& s) {
    const bool started = connections_.start(
        s, !naive_, [this, s] { reader(s); }, [this, s] { writer(s); });
    if (!started) hang_up(s);  // no thread for it: refused as if its reader thread had run and ended
  }

  // The session: the client's first frame subscribes it, then (channel, data) pairs until an
  // empty channel frame, the end of the stream, a frame over max_frame, or the shutdown.
  void reader(const ConnectionPtr& s) {
    ClientSession session(c_, naive_);
    Pending pending;
    const auto subscribe = [this, &s](const std::string& channel) { this->subscribe(s, channel); };
    const auto deliver = [this, &pending](const Batch& b) { deliver_or_wait(b, pending); };
    for (bool more = true; more && !stopping_;) {
      auto [ec, n] = read_some(s->socket, session.buffer());
      if (ec) break;  // end of stream, reset, or closed by us
      more = session.take(n, subscribe, deliver);
      if (!pending.waiting.empty()) write_in_turn(pending.waiting);
      flush(pending);
      session.next_chunk();
    }
    session.counts().add_to(stats_, bump);
    hang_up(s);
  }

  // The reader ended: the connection ends once the writer thread has written its buffer.
  void hang_up(const ConnectionPtr& s) {
    if (s->channel) unsubscribe(s);
    if (!naive_) {  // naive has no writer, and a publisher blocked on this socket holds the lock
      std::lock_guard lock(s->mutex);
      s->closing = true;
    }
    s->ready.notify_one();
    connections_.done(s);
  }

  // Improved: writes everything buffered with one blocking write, then waits for more.
  void writer(const ConnectionPtr& s) {
    Outbox batch;  // the buffer being written: it trades places with s->box
    while (wait_for_batch(*s, batch)) write_batch(s, batch);
    if (flush_ran_out_) bump(stats_.unflushed, unflushed(*s, batch));  // what the flush timeout left behind
    connections_.done(s);
  }

  // Writes the batch, blocking until it is all out.
  void write_batch(const ConnectionPtr& s, Outbox& batch) {
    auto [ec, n] = threads::write(s->socket, batch.unwritten());
    bump(stats_.bytes_out, static_cast<std::int64_t>(n));
    bump(stats_.deliveries, static_cast<std::int64_t>(batch.written(n)));
    if (ec) close(s);
  }

  void subscribe(const ConnectionPtr& s, const std::string& channel) {
    std::lock_guard lock(registry_mutex_);
    registry_.add(channel, s);
    s->channel = channel;
    bump(stats_.subscribers);
  }

  void unsubscribe(const ConnectionPtr& s) {
    std::lock_guard lock(registry_mutex_);
    registry_.remove(*s->channel, s);
    s->channel.reset();
  }

  // Naive: the chunk's messages wait until it is walked, then go in turn; improved: they go to
  // the buffers now.
  void deliver_or_wait(const Batch& b, Pending& p) { naive_ ? p.waiting.push_back(b) : offer_all(b, p); }

  // Improved: a run of messages to one channel reaches each subscriber with one lock.
  void offer_all(const Batch& b, Pending& p) {
    std::shared_lock lock(registry_mutex_);
    offer_to_subscribers(registry_, b, [this, &p](const ConnectionPtr& s, const Batch& run) { offer(s, run, p); });
  }

  // Improved, once the chunk is handled: each writer thread with new frames wakes, at most once
  // a chunk. A writer thread woken per message would cost a context switch per delivery.
  void flush(Pending& p) {
    p.flush([this](const auto& s) { slow_disconnect(s); }, [](const auto& s) { s->ready.notify_one(); });
  }

  // Improved: buffers what fits, applies the slow policy to the rest; never waits.
  void offer(const ConnectionPtr& s, const Batch& b, Pending& p) {
    std::unique_lock lock(s->mutex);
    if (!s->open || s->closing) return;
    const bool wake = s->box.empty();  // only a writer thread with nothing buffered may be asleep
    const std::size_t take = s->box.offer(c_, b);
    if (take < b.ends.size() && !drop_) cut_off(*s);  // under the lock
    lock.unlock();
    if (wake && take > 0) p.filled.push_back(s);
    if (take == b.ends.size()) return;
    if (drop_) return bump(stats_.dropped, static_cast<std::int64_t>(b.ends.size() - take));
    p.slow.push_back(s);
  }

  // Naive: the publisher's reader writes each message to each subscriber and waits for each
  // write. A blocking write may take several system calls, so two publishers writing to one
  // subscriber at once would interleave their frames: each takes the subscriber's lock first.
  // The messages stay put in the reader's chunk while it waits.
  void write_in_turn(std::vector<Batch>& waiting) {
    for (const Batch& b : waiting) {
      std::vector<ConnectionPtr> targets;  // a copy: the registry is not locked while this thread writes
      std::shared_lock lock(registry_mutex_);
      if (Channels::Channel* ch = registry_.find(b.channel))
        targets = is_queue(b.channel) ? std::vector{ch->take_turn()} : ch->subscribers;
      lock.unlock();
      for (const auto& s : targets) {
        std::unique_lock turn(s->mutex);
        if (!s->open) continue;  // closed while we waited for the lock
        auto [ec, n] = threads::write(s->socket, b.frames);
        turn.unlock();
        if (ec) {
          close(s);  // its reader thread wakes and ends the connection
          continue;
        }
        bump(stats_.deliveries);
        bump(stats_.bytes_out, static_cast<std::int64_t>(n));
      }
    }
    waiting.clear();
  }

  // cut_off() made sure it is on one list only.
  void slow_disconnect(const ConnectionPtr& s) {
    bump(stats_.slow_disconnects);
    close(s);
  }

  // Shutting the socket down wakes any thread blocked on it, even one holding s.mutex; the
  // descriptor closes once nothing holds the connection.
  void close(const ConnectionPtr& s) {
    s->open = false;
    error_code ignored;
    s->socket.shutdown(tcp::socket::shutdown_both, ignored);  // wakes the threads blocked on it
    std::lock_guard lock(s->mutex);  // a writer thread checks `open` under the lock, then sleeps
    s->ready.notify_one();
  }

  // Shutdown: stop accepting and reading; give the buffers flush_timeout_s to be written,
  // then cut every connection off (its writer thread counts what is left).
  void stop_when_told() {
    connections_.wait_for_stop(ctl_.stop_fd);
    stopping_ = true;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // accept_all()'s accept() returns
    error_code ignored;
    connections_.for_each(
        [&ignored](const ConnectionPtr& s) { s->socket.shutdown(tcp::socket::shutdown_receive, ignored); });
    const auto deadline = flush_deadline(c_);
    while (!connections_.quiet() && Clock::now() < deadline) std::this_thread::sleep_for(kFlushPoll);
    // A writer that ends now counts what it still holds as unflushed; one whose subscriber had
    // gone before did not lose it to the timeout.
    flush_ran_out_ = true;
    connections_.for_each([this](const ConnectionPtr& s) { close(s); });  // their writer threads count what is left
  }

  const BrokerConfig& c_;
  const Control& ctl_;
  const bool naive_ = c_.design == Design::naive;
  const bool drop_ = c_.slow_policy == SlowPolicy::drop;
  asio::io_context io_;  // runs nothing: a blocking socket needs it only as its home
  tcp::acceptor acceptor_;
  BrokerStats stats_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> flush_ran_out_{false};  // set once the flush timeout has passed
  std::shared_mutex registry_mutex_;
  Channels registry_;  // guarded by registry_mutex_
  ConnectionThreads connections_{stats_};
};

}  // namespace

BrokerStats run_threads_broker(const BrokerConfig& c, const Control& ctl) {
  check_config(c, ctl, "fanout/threads");
  Broker broker(c, ctl);  // binds now: an address in use throws here, before any thread starts
  if (ctl.listening) ctl.listening(broker.port());
  return broker.run();
}

}  // namespace tvl::fanout
