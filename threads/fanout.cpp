// The book's message broker (ch. 4) with OS threads and Asio's blocking sockets.
//
// Every connection has a reader thread that blocks in read_some(), takes up to 64 KiB at a
// time and hands the session (scenarios/fanout_session.hpp) what it read. The calling thread
// blocks in accept(); a thread of its own waits for the stop and joins the threads of the
// connections that ended. Two designs:
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
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "measure/metrics.hpp"
#include "scenarios/fanout_session.hpp"  // and the domain: scenarios/fanout.hpp, fanout_broker.hpp

namespace tvl::fanout {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using asio::ip::tcp;
using boost::system::error_code;

constexpr auto kFlushPoll = std::chrono::milliseconds(2);       // shutdown: how often the threads are checked
constexpr auto kAcceptBackoff = std::chrono::milliseconds(10);  // out of descriptors: wait for one to be freed
constexpr auto kJoinEvery = std::chrono::milliseconds(100);     // how often the threads that ended are joined

// The counters are BrokerStats' own fields, bumped atomically by every thread and read once
// all of them have been joined.
void bump(std::int64_t& counter, std::int64_t n = 1) {
  std::atomic_ref(counter).fetch_add(n, std::memory_order_relaxed);
}

// Blocks until fd is readable or the time is up; says which.
bool readable(int fd, std::chrono::milliseconds limit) {
  pollfd wait_for{fd, POLLIN, 0};
  return ::poll(&wait_for, 1, static_cast<int>(limit.count())) > 0;
}

// One client (any client may subscribe). The socket closes when the last holder lets go: a
// naive publisher may still be writing to it after its own threads have ended.
struct Connection {
  explicit Connection(tcp::socket s) : socket(std::move(s)) {}
  tcp::socket socket;
  std::optional<std::string> channel;  // its subscription, while it is in the registry
  std::atomic<bool> open{true};        // false once the socket failed or was cut off
  bool closing = false;                // the reader ended: the writer writes the buffer, then closes
  Outbox box;                          // improved: what the writer thread is to write
  std::mutex mutex;                    // naive: one publisher at a time; improved: guards the above
  std::condition_variable ready;       // improved: wakes the writer thread
  std::atomic<int> threads{0};         // its threads still running; the last one ends the connection
};
using ConnectionPtr = std::shared_ptr<Connection>;

using Pending = ChunkWork<ConnectionPtr>;

// Readers look channels up under a shared lock, so the /queue cursor is atomic.
using Channels = Registry<ConnectionPtr, std::atomic<std::size_t>>;

class Broker {
 public:
  Broker(const BrokerConfig& c, const Control& ctl) : c_(c), ctl_(ctl), acceptor_(io_) { listen(acceptor_, c); }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  // Accepts on this thread until stop_fd is readable; a thread of its own waits for that.
  BrokerStats run() {
    std::thread stopper([this] { stop_when_told(); });
    listener();
    stopper.join();
    acceptor_.close();
    for (auto& [s, t] : threads_) join(t);
    threads_.clear();
    return stats_;
  }

 private:
  struct Threads {
    ConnectionPtr connection;
    std::thread reader;
    std::thread writer;
  };

  void listener() {
    while (!stopping_) {
      tcp::socket socket(io_);
      error_code ec;
      acceptor_.accept(socket, ec);  // a blocking socket: its threads wait in read and write
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

  void start(const ConnectionPtr& s) {
    s->threads = naive_ ? 1 : 2;
    std::unique_lock lock(threads_mutex_);
    Threads& t = threads_[s.get()];
    t.connection = s;
    ++live_;
    try {
      if (!naive_) t.writer = std::thread([this, s] { writer(s); });
      t.reader = std::thread([this, s] { reader(s); });
    } catch (const std::system_error& e) {  // out of threads: refuse this client, serve the others
      const bool writer_runs = t.writer.joinable();
      lock.unlock();
      if (!std::exchange(warned_, true))
        std::fprintf(stderr, "broker (threads): %s; refusing clients. %s\n", e.what(),
                     metrics::thread_limits().c_str());
      if (!naive_ && !writer_runs) thread_done(*s);
      hang_up(s);  // as if the reader had run and ended: a writer thread sees `closing`
    }
  }

  // The session: the client's first frame subscribes it, then (channel, data) pairs until an
  // empty channel frame, the end of the stream, a frame over max_frame, or the shutdown.
  void reader(const ConnectionPtr& s) {
    ClientSession session(c_, naive_);
    const auto subscribe = [this, &s](const std::string& channel) { this->subscribe(s, channel); };
    Pending pending;
    const auto deliver = [this, &pending](const Batch& b) { naive_ ? write_in_turn(b) : offer_all(b, pending); };
    for (bool more = true; more && !stopping_;) {
      const std::span<char> space = session.space();
      error_code ec;
      const std::size_t n = s->socket.read_some(asio::buffer(space.data(), space.size()), ec);
      if (ec == asio::error::interrupted) continue;
      if (ec) break;  // end of stream, reset, or closed by us
      more = session.take(n, subscribe, deliver);
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
    thread_done(*s);
  }

  // Improved: writes everything buffered with one blocking write, then waits for more.
  void writer(const ConnectionPtr& s) {
    Outbox batch;  // the buffer being written: it trades places with s->box
    for (;;) {
      {
        std::unique_lock lock(s->mutex);
        s->box.hand_back();  // the last batch is out
        s->ready.wait(lock, [&s] { return !s->box.empty() || s->closing || !s->open; });
        if (!s->open || s->box.empty()) break;
        s->box.hand_over(batch);
      }
      if (!write_batch(s, batch)) break;
    }
    if (stopping_) {  // what the flush timeout left behind
      std::lock_guard lock(s->mutex);
      bump(stats_.unflushed, static_cast<std::int64_t>(batch.queued + s->box.queued));
    }
    thread_done(*s);
  }

  // Writes the batch, blocking until it is all out; false if the socket failed.
  bool write_batch(const ConnectionPtr& s, Outbox& batch) {
    error_code ec;
    const std::span<const char> bytes = batch.unwritten();
    const std::size_t n = asio::write(s->socket, asio::buffer(bytes.data(), bytes.size()), ec);
    bump(stats_.bytes_out, static_cast<std::int64_t>(n));
    bump(stats_.deliveries, static_cast<std::int64_t>(batch.written(n)));
    if (ec) close(s);
    return !ec;
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

  // Improved, once the chunk is handled: each writer thread with new frames wakes, at most once
  // a chunk. A writer thread woken per message would cost a context switch per delivery.
  void flush(Pending& p) {
    for (const auto& s : p.filled) s->ready.notify_one();
    p.filled.clear();
    for (const auto& s : p.slow) slow_disconnect(s);
    p.slow.clear();
  }

  // Improved: a run of messages to one channel reaches each subscriber with one lock.
  void offer_all(const Batch& b, Pending& p) {
    std::shared_lock lock(registry_mutex_);
    if (Channels::Channel* ch = registry_.find(b.channel))
      for_each_target(*ch, b, [this, &p](const ConnectionPtr& s, auto frames, auto ends) {
        offer(s, {{}, frames, ends}, p);
      });
  }

  // Naive: the publisher's reader writes each message to each subscriber and waits for each
  // write. A blocking write may take several system calls, so two publishers writing to one
  // subscriber at once would interleave their frames: each takes the subscriber's lock first.
  void write_in_turn(const Batch& b) {
    std::vector<ConnectionPtr> targets;  // a copy: the registry is not locked while this thread writes
    {
      std::shared_lock lock(registry_mutex_);
      if (Channels::Channel* ch = registry_.find(b.channel))
        targets = is_queue(b.channel) ? std::vector{ch->take_turn()} : ch->subscribers;
    }
    for (const auto& s : targets) {
      std::unique_lock lock(s->mutex);
      if (!s->open) continue;
      error_code ec;
      const std::size_t n = asio::write(s->socket, asio::buffer(b.frames.data(), b.frames.size()), ec);
      lock.unlock();
      if (ec) {
        close(s);  // its reader wakes and ends the connection
        continue;
      }
      bump(stats_.bytes_out, static_cast<std::int64_t>(n));
      bump(stats_.deliveries);
    }
  }

  // Improved: buffers what fits, applies the slow policy to the rest; never waits.
  void offer(const ConnectionPtr& s, const Batch& b, Pending& p) {
    std::size_t take = 0;
    bool wake = false;
    {
      std::lock_guard lock(s->mutex);
      if (!s->open || s->closing) return;
      wake = s->box.empty();  // only a writer thread with nothing buffered may be asleep
      take = s->box.offer(c_, b);
      if (take < b.ends.size() && !drop_) cut_off(*s);
    }
    if (wake && take > 0) p.filled.push_back(s);
    if (take == b.ends.size()) return;
    if (drop_) return bump(stats_.dropped, static_cast<std::int64_t>(b.ends.size() - take));
    p.slow.push_back(s);
  }

  // Disconnect policy, under s.mutex: this reader alone disconnects it, and what its buffer
  // holds is not left unflushed but never to be written.
  static void cut_off(Connection& s) {
    s.open = false;
    s.box.forget();
  }

  void slow_disconnect(const ConnectionPtr& s) {
    bump(stats_.slow_disconnects);  // cut_off() made sure it is on one list only
    close(s);
  }

  // Shutting the socket down wakes any thread blocked on it, even one holding s.mutex; the
  // descriptor closes once nothing holds the connection.
  static void close(const ConnectionPtr& s) {
    error_code ignored;
    s->socket.shutdown(tcp::socket::shutdown_both, ignored);
    s->open = false;
    std::lock_guard lock(s->mutex);  // a writer thread checks `open` under the lock, then sleeps
    s->ready.notify_one();
  }

  // The last of a connection's threads ends it: the client sees the close now, and the thread
  // is joined within kJoinEvery, so that ended threads never pile up unjoined.
  void thread_done(Connection& s) {
    if (s.threads.fetch_sub(1) != 1) return;
    error_code ignored;
    s.socket.shutdown(tcp::socket::shutdown_both, ignored);
    bump(stats_.closed);
    std::lock_guard lock(threads_mutex_);
    ended_.push_back(&s);
    --live_;
  }

  void join_ended() {
    std::vector<Threads> ended;
    {
      std::lock_guard lock(threads_mutex_);
      for (Connection* s : std::exchange(ended_, {})) ended.push_back(std::move(threads_.extract(s).mapped()));
    }
    for (Threads& t : ended) join(t);  // the socket closes here, unless a naive publisher still holds it
  }

  static void join(Threads& t) {
    if (t.reader.joinable()) t.reader.join();
    if (t.writer.joinable()) t.writer.join();
  }

  // Shutdown: stop accepting and reading; give the buffers flush_timeout_s to be written,
  // then cut every connection off (its writer thread counts what is left).
  void stop_when_told() {
    while (!readable(ctl_.stop_fd, kJoinEvery)) join_ended();
    stopping_ = true;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // the listener's accept() returns
    error_code ignored;
    for_each_connection(
        [&ignored](const ConnectionPtr& s) { s->socket.shutdown(tcp::socket::shutdown_receive, ignored); });
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(c_.flush_timeout_s));
    while (!quiet() && Clock::now() < deadline) std::this_thread::sleep_for(kFlushPoll);
    for_each_connection([](const ConnectionPtr& s) { close(s); });
  }

  template <typename F>
  void for_each_connection(F&& f) {
    std::lock_guard lock(threads_mutex_);
    for (auto& [s, t] : threads_) f(t.connection);
  }

  bool quiet() {
    std::lock_guard lock(threads_mutex_);
    return live_ == 0;
  }

  const BrokerConfig& c_;
  const Control& ctl_;
  const bool naive_ = c_.design == Design::naive;
  const bool drop_ = c_.slow_policy == SlowPolicy::drop;
  asio::io_context io_;  // runs nothing: a blocking socket needs it only as its home
  tcp::acceptor acceptor_;
  BrokerStats stats_;
  std::atomic<bool> stopping_{false};
  std::shared_mutex registry_mutex_;
  Channels registry_;                                 // guarded by registry_mutex_
  std::mutex threads_mutex_;                          // guards the three below
  std::unordered_map<Connection*, Threads> threads_;  // every connection's threads
  std::vector<Connection*> ended_;                    // connections whose threads have all ended, to join
  std::size_t live_ = 0;                              // connections with a thread still running
  bool warned_ = false;                               // the listener's alone
};

}  // namespace

BrokerStats run_threads_broker(const BrokerConfig& c, const Control& ctl) {
  check_config(c, ctl, "fanout/threads");
  Broker broker(c, ctl);  // binds now: an address in use throws here, before any thread starts
  if (ctl.listening) ctl.listening(broker.port());
  return broker.run();
}

}  // namespace tvl::fanout
