// The book's message broker (ch. 4) with OS threads and Asio's blocking sockets.
//
// Every connection has a reader thread that blocks in read_some(), takes up to 64 KiB at a
// time and hands the session (scenarios/fanout_session.hpp) what it read. The calling thread
// accepts connections and joins the threads of those that ended. Two designs:
//   naive     the book's prototype: a publisher's reader writes the message to each subscriber
//             in turn and waits, so everything moves at the pace of the slowest subscriber;
//   improved  an output buffer and a writer thread per subscriber (Asio's chat_server shape):
//             a publisher's reader appends a run of messages to the buffer under its lock, at
//             most queue_depth messages and queue_bytes bytes, and never waits; the writer
//             sends everything buffered with one write. What does not fit is dropped or
//             disconnects the subscriber (c.slow_policy), and the counters say so.
// Every thread gets the default stack size (glibc: RLIMIT_STACK, usually 8 MiB of address
// space; metrics::default_stack_kib() reports it). A connection costs one thread (naive) or two.
//
// Compare with asyncloop/fanout.cpp: the same session, registry and buffer rule; there the
// reader and writer are coroutines on one thread and nothing is locked, here they are threads
// that block, and the registry and each buffer are shared under a lock.
#include <poll.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "measure/metrics.hpp"
#include "scenarios/fanout.hpp"
#include "scenarios/fanout_broker.hpp"
#include "scenarios/fanout_session.hpp"

namespace tvl::fanout {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

constexpr auto kReapEvery = std::chrono::milliseconds(100);     // the acceptor joins ended threads this often
constexpr auto kAcceptBackoff = std::chrono::milliseconds(10);  // out of descriptors: wait for one to be freed

// The counters are BrokerStats' own fields, bumped atomically by every thread and read once
// all of them have been joined.
void bump(std::int64_t& counter, std::int64_t n = 1) {
  std::atomic_ref(counter).fetch_add(n, std::memory_order_relaxed);
}

// One client (any client may subscribe). The socket closes when the last holder lets go: a
// naive publisher may still be writing to it after its own threads have ended.
struct Connection {
  Connection(tcp::socket s, std::uint64_t number) : socket(std::move(s)), id(number) {}
  tcp::socket socket;
  const std::uint64_t id;
  std::mutex mutex;               // naive: one write at a time; improved: guards the fields below
  std::condition_variable ready;  // improved: wakes the writer
  std::vector<char> out;          // improved: whole frames waiting to be written
  std::size_t queued = 0;         // ... how many
  std::size_t in_flight = 0;      // frames the writer is writing; with the above, within the bounds
  std::size_t in_flight_bytes = 0;
  bool closing = false;         // the reader ended: the writer flushes the buffer and stops
  bool dead = false;            // the socket failed or was cut off: nothing more is written
  std::atomic<int> threads{0};  // its threads still running; the last one ends the connection
};
using ConnectionPtr = std::shared_ptr<Connection>;

// Readers look channels up under a shared lock, so the /queue cursor is atomic.
using Channels = Registry<ConnectionPtr, std::atomic<std::size_t>>;

class Broker {
 public:
  Broker(const BrokerConfig& c, const Control& ctl)
      : c_(c), ctl_(ctl), improved_(c.design == "improved"), drop_(c.slow_policy == "drop"), acceptor_(io_) {
    check_config(c, ctl, "fanout/threads");
    const tcp::endpoint at(asio::ip::make_address(c.host), c.port);
    acceptor_.open(at.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(at);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    acceptor_.non_blocking(true);  // accept_all() takes every pending client, then polls again
  }

  // Accepts until stop_fd is readable, waking at least every kReapEvery to join ended threads.
  BrokerStats run() {
    if (ctl_.listening) ctl_.listening(acceptor_.local_endpoint().port());
    for (;;) {
      pollfd fds[2] = {{acceptor_.native_handle(), POLLIN, 0}, {ctl_.stop_fd, POLLIN, 0}};
      const int ready = ::poll(fds, 2, static_cast<int>(kReapEvery.count()));
      reap();
      if (ready > 0 && fds[1].revents != 0) break;
      if (ready > 0 && (fds[0].revents & POLLIN)) accept_all();
    }
    acceptor_.close();
    stop();
    return stats_;
  }

 private:
  struct Threads {
    ConnectionPtr connection;
    std::thread reader;
    std::thread writer;
  };

  void accept_all() {
    for (;;) {
      tcp::socket socket(io_);
      error_code ec;
      acceptor_.accept(socket, ec);  // a blocking socket: its threads wait in read and write
      if (ec == asio::error::would_block || ec == asio::error::try_again) return;
      if (ec) {  // out of descriptors, most likely: the client waits for one to be freed
        std::this_thread::sleep_for(kAcceptBackoff);
        return;
      }
      bump(stats_.accepted);
      socket.set_option(tcp::no_delay(true), ec);  // small frames go now, not after a delayed ACK
      start(std::make_shared<Connection>(std::move(socket), next_id_++));
    }
  }

  void start(const ConnectionPtr& s) {
    Threads& t = threads_[s->id];
    t.connection = s;
    s->threads = improved_ ? 2 : 1;
    {
      std::lock_guard lock(done_mutex_);
      ++live_;
    }
    try {
      if (improved_) t.writer = std::thread([this, s = s.get()] { writer(*s); });
      t.reader = std::thread([this, s] { reader(s); });
    } catch (const std::system_error& e) {  // out of threads: refuse this client, serve the others
      if (!std::exchange(warned_, true))
        std::fprintf(stderr, "broker (threads): %s; refusing clients. %s\n", e.what(),
                     metrics::thread_limits().c_str());
      if (improved_ && !t.writer.joinable()) thread_done(*s);
      hang_up(*s);  // as if the reader had run and ended: a started writer sees `closing`
    }
  }

  // The last of a connection's threads ends it: the client sees the close now; the acceptor
  // joins the threads at its next wake-up, so ended threads never pile up unjoined.
  void thread_done(Connection& s) {
    if (s.threads.fetch_sub(1) != 1) return;
    shut(s);
    bump(stats_.closed);
    {
      std::lock_guard lock(done_mutex_);
      finished_.push_back(s.id);
      --live_;
    }
    done_cv_.notify_all();
  }

  void reap() {
    std::vector<std::uint64_t> ids;
    {
      std::lock_guard lock(done_mutex_);
      ids.swap(finished_);
    }
    for (const std::uint64_t id : ids) {
      const auto it = threads_.find(id);
      join(it->second);
      threads_.erase(it);  // the socket closes here, unless a naive publisher still holds it
    }
  }

  static void join(Threads& t) {
    if (t.reader.joinable()) t.reader.join();
    if (t.writer.joinable()) t.writer.join();
  }

  // The session: the client's first frame subscribes it, then (channel, data) pairs until an
  // empty channel frame, the end of the stream, a frame over max_frame, or the shutdown.
  void reader(const ConnectionPtr& s) {
    ClientSession session(c_, !improved_);
    const auto subscribe = [this, &s](const std::string& channel) { this->subscribe(s, channel); };
    const auto deliver = [this](const Batch& b) { improved_ ? offer_all(b) : write_in_turn(b); };
    while (!stopping_) {
      error_code ec;
      const std::span<char> space = session.space();
      const std::size_t n = s->socket.read_some(asio::buffer(space.data(), space.size()), ec);
      if (ec == asio::error::interrupted) continue;
      if (ec || !session.take(n, subscribe, deliver)) break;
      session.next_chunk();
    }
    add_counts(session.counts());
    if (session.channel()) unsubscribe(s, *session.channel());
    hang_up(*s);
  }

  void hang_up(Connection& s) {
    if (improved_) {  // naive has no writer, and a publisher blocked on this socket holds the lock
      std::lock_guard lock(s.mutex);
      s.closing = true;
    }
    s.ready.notify_one();
    thread_done(s);
  }

  // Improved: sends everything buffered with one blocking write, then waits for more.
  void writer(Connection& s) {
    std::vector<char> batch;
    std::size_t unsent = 0;
    for (;;) {
      std::size_t frames = 0;
      {
        std::unique_lock lock(s.mutex);
        s.in_flight = 0;  // the last batch is out
        s.in_flight_bytes = 0;
        s.ready.wait(lock, [&s] { return !s.out.empty() || s.closing || s.dead; });
        if (s.dead || s.out.empty()) break;
        batch.swap(s.out);  // the two buffers trade places: no allocation once warmed up
        frames = std::exchange(s.queued, 0);
        s.in_flight = frames;
        s.in_flight_bytes = batch.size();
      }
      const std::size_t sent = write_frames(s, batch, frames);
      if (sent < frames) {
        unsent = frames - sent;
        cut_off(s);
        break;
      }
      recycle(batch);
    }
    if (stopping_) {  // what the flush timeout left behind
      std::lock_guard lock(s.mutex);
      bump(stats_.unflushed, static_cast<std::int64_t>(unsent + s.queued));
    }
    thread_done(s);
  }

  // Writes `frames` whole frames, blocking until they are out; returns how many went whole.
  std::size_t write_frames(Connection& s, std::span<const char> bytes, std::size_t frames) {
    error_code ec;
    const std::size_t n = asio::write(s.socket, asio::buffer(bytes.data(), bytes.size()), ec);
    const std::size_t sent = ec ? whole_frames(bytes, n) : frames;
    bump(stats_.bytes_out, static_cast<std::int64_t>(n));
    bump(stats_.deliveries, static_cast<std::int64_t>(sent));
    return sent;
  }

  void subscribe(const ConnectionPtr& s, const std::string& channel) {
    std::lock_guard lock(registry_mutex_);
    registry_.add(channel, s);
    bump(stats_.subscribers);
  }

  void unsubscribe(const ConnectionPtr& s, const std::string& channel) {
    std::lock_guard lock(registry_mutex_);
    registry_.remove(channel, s);
  }

  // Improved: a run of messages to one channel reaches each subscriber with one lock and at
  // most one wake-up. A writer thread woken per message would cost a context switch per
  // delivery; the event loop gets that coalescing for free.
  void offer_all(const Batch& b) {
    std::shared_lock lock(registry_mutex_);
    if (Channels::Channel* ch = registry_.find(b.channel))
      for_each_target(*ch, b, [this](const ConnectionPtr& s, auto frames, auto ends) {
        offer(*s, {{}, frames, ends});
      });
  }

  // Naive: the publisher's own thread writes to each subscriber, and waits for as long as each
  // one makes it. The subscribers are copied out first: the registry is not locked meanwhile.
  void write_in_turn(const Batch& b) {
    std::vector<ConnectionPtr> targets;
    {
      std::shared_lock lock(registry_mutex_);
      if (Channels::Channel* ch = registry_.find(b.channel))
        targets = is_queue(b.channel) ? std::vector{ch->take_turn()} : ch->subscribers;
    }
    for (const auto& s : targets) {
      std::unique_lock lock(s->mutex);
      if (s->dead || write_frames(*s, b.frames, 1) == 1) continue;
      s->dead = true;
      lock.unlock();
      shut(*s);  // its reader wakes and ends the connection
    }
  }

  // Improved: buffers what fits, applies the slow policy to the rest; never waits. What the
  // writer has in flight counts against the bounds.
  void offer(Connection& s, const Batch& b) {
    std::size_t take = 0;
    bool wake = false;
    {
      std::lock_guard lock(s.mutex);
      if (s.dead || s.closing) return;
      wake = s.out.empty();  // only a writer with nothing buffered may be asleep
      take = append_fitting(c_, s.out, b, s.queued + s.in_flight, s.out.size() + s.in_flight_bytes);
      s.queued += take;
      if (take < b.ends.size() && !drop_) forget(s);  // disconnect: nothing more is written to it
    }
    if (wake && take > 0) s.ready.notify_one();
    if (take == b.ends.size()) return;
    if (drop_) return bump(stats_.dropped, static_cast<std::int64_t>(b.ends.size() - take));
    bump(stats_.slow_disconnects);
    cut_off(s);
  }

  static void forget(Connection& s) {
    s.dead = true;
    s.out.clear();
    s.queued = 0;
  }

  // Shutting the socket wakes any thread blocked on it, even one holding s.mutex.
  static void shut(Connection& s) {
    error_code ignored;
    s.socket.shutdown(tcp::socket::shutdown_both, ignored);
  }

  static void cut_off(Connection& s) {
    shut(s);
    {
      std::lock_guard lock(s.mutex);
      s.dead = true;
    }
    s.ready.notify_one();
  }

  void add_counts(const SessionCounts& n) {
    bump(stats_.bytes_in, n.bytes_in);
    bump(stats_.messages_in, n.messages_in);
    bump(stats_.protocol_errors, n.protocol_errors);
  }

  // Readers stop (shutting the read side ends a blocked read), writers flush what is buffered
  // for at most flush_timeout_s, then every socket is cut off and every thread joined.
  void stop() {
    stopping_ = true;
    error_code ignored;
    for (auto& [id, t] : threads_) t.connection->socket.shutdown(tcp::socket::shutdown_receive, ignored);
    {
      std::unique_lock lock(done_mutex_);
      done_cv_.wait_for(lock, std::chrono::duration<double>(c_.flush_timeout_s), [this] { return live_ == 0; });
    }
    for (auto& [id, t] : threads_) cut_off(*t.connection);
    for (auto& [id, t] : threads_) join(t);
    threads_.clear();
  }

  const BrokerConfig& c_;
  const Control& ctl_;
  const bool improved_;
  const bool drop_;
  asio::io_context io_;  // runs nothing: blocking calls need only a socket's home
  tcp::acceptor acceptor_;
  BrokerStats stats_;
  std::atomic<bool> stopping_{false};
  std::shared_mutex registry_mutex_;
  Channels registry_;                                   // guarded by registry_mutex_
  std::unordered_map<std::uint64_t, Threads> threads_;  // the acceptor's alone
  std::uint64_t next_id_ = 0;
  bool warned_ = false;
  std::mutex done_mutex_;  // guards the two below
  std::condition_variable done_cv_;
  std::vector<std::uint64_t> finished_;  // connections whose threads have all ended, to join
  std::size_t live_ = 0;                 // connections with a thread still running
};

}  // namespace

BrokerStats run_threads_broker(const BrokerConfig& c, const Control& ctl) { return Broker(c, ctl).run(); }

}  // namespace tvl::fanout
