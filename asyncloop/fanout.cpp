// The message broker on an event loop: the book's mq_server (ch. 4, "Streams").
//
// One io_context, run by one thread, serves every connection. Each connection has a reader
// coroutine that takes large chunks and parses every complete frame in them; with the
// improved design it also has a writer coroutine that drains its send queue. Two designs:
//   naive     the book's prototype: a publisher's reader writes the message to each
//             subscriber in turn and waits for each write, so every publisher moves at the
//             pace of the slowest subscriber;
//   improved  a bounded send queue per subscriber and a writer that flushes all of it with
//             one gathered write; a message is encoded once and shared by every queue; a full
//             queue drops the message or disconnects the subscriber, and the loop never waits.
// Nothing runs in parallel, so the registry of channels and the counters need no lock: they
// change only between two co_awaits. What the loop must never do is block.
//
// Compare with threads/fanout.cpp: the same reader, writer and registry; only the model changes.
#include <unistd.h>

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
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "scenarios/fanout.hpp"

namespace tvl::fanout {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);  // errors come back as values

constexpr std::size_t kReadChunk = 64 * 1024;

// One message, encoded once (length prefix and payload) and shared by every subscriber's queue.
using Message = std::shared_ptr<const std::string>;

// An async mutex: a channel with one slot. Sending takes it (waiting while it is full), and
// receiving gives it back.
using Lock = asio::experimental::channel<void(error_code)>;

// Every client: each one subscribes with its first frame, and any of them may publish after.
struct Subscriber {
  explicit Subscriber(tcp::socket s)
      : socket(std::move(s)), wake(socket.get_executor()), turn(socket.get_executor(), 1) {
    wake.expires_at(asio::steady_timer::time_point::max());
  }
  tcp::socket socket;
  std::string channel;
  bool subscribed = false, open = true;
  std::deque<Message> queue;  // improved: waiting to be written, the ones being written included
  asio::steady_timer wake;    // improved: the writer sleeps here while the queue is empty
  Lock turn;                  // naive: one publisher at a time writes to this socket
};
using SubscriberPtr = std::shared_ptr<Subscriber>;

// The subscribers of one channel, and whose turn it is for a /queue channel.
struct Channel {
  std::vector<SubscriberPtr> subscribers;
  std::size_t next = 0;
  const SubscriberPtr& next_in_turn() { return subscribers[next++ % subscribers.size()]; }
};

// Channel name -> subscribers. Only the loop's thread touches it, so it needs no mutex.
class Registry {
 public:
  void subscribe(const SubscriberPtr& s) { channels_[s->channel].subscribers.push_back(s); }
  void unsubscribe(const SubscriberPtr& s) {
    const auto it = channels_.find(s->channel);
    if (it == channels_.end()) return;
    std::erase(it->second.subscribers, s);
    if (it->second.subscribers.empty()) channels_.erase(it);  // random channel names must not pile up
  }
  Channel* find(const std::string& name) {
    const auto it = channels_.find(name);
    return it == channels_.end() ? nullptr : &it->second;
  }

 private:
  std::unordered_map<std::string, Channel> channels_;
};

class Broker {
 public:
  Broker(const BrokerConfig& c, int stop_fd, asio::io_context& loop)
      : c_(c), naive_(c.design == "naive"), loop_(loop), acceptor_(loop), stop_(loop, own_copy(stop_fd)) {
    const tcp::endpoint at(asio::ip::make_address(c.host), c.port);
    acceptor_.open(at.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(at);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  void start() {
    co_spawn(loop_, listener(), rethrow);
    co_spawn(loop_, stop_when_told(), rethrow);
  }

  const BrokerStats& stats() const { return stats_; }

 private:
  static void rethrow(std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  }
  // The broker closes its descriptors when it is done; stop_fd stays the caller's.
  static int own_copy(int fd) {
    const int copy = ::dup(fd);
    if (copy < 0) throw std::system_error(errno, std::generic_category(), "fanout/asyncloop: dup(stop_fd)");
    return copy;
  }

  asio::awaitable<void> listener() {
    asio::steady_timer backoff(loop_);
    while (acceptor_.is_open()) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) break;
      if (ec) {  // out of descriptors, most likely: give some time to be freed rather than spin
        backoff.expires_after(std::chrono::milliseconds(10));
        co_await backoff.async_wait(use_tuple);
        continue;
      }
      ++stats_.accepted;
      // Small frames must go out now, not wait for the peer's delayed ACK. (asyncio, which ran
      // the book's broker, sets this on every TCP socket too.)
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto s = std::make_shared<Subscriber>(std::move(socket));
      connections_.insert(s);
      co_spawn(loop_, reader(s), rethrow);
      if (!naive_) co_spawn(loop_, writer(s), rethrow);
    }
  }

  // Reads large chunks and handles every complete frame in them: first the channel to
  // subscribe to, then (channel, data) pairs, until an empty channel ends the client's sends.
  asio::awaitable<void> reader(SubscriberPtr s) {
    ++readers_;
    FrameParser parser(c_.max_frame);
    // Uninitialised: a connection that sends little never touches most of its pages.
    const auto chunk = std::make_unique_for_overwrite<char[]>(kReadChunk);
    std::optional<std::string> destination;  // the channel of the data frame that comes next
    bool sending = true;
    while (!stopping_ && s->open) {
      auto [ec, n] = co_await s->socket.async_read_some(asio::buffer(chunk.get(), kReadChunk), use_tuple);
      if (ec) break;  // end of stream, reset, or closed by us
      stats_.bytes_in += static_cast<std::int64_t>(n);
      if (!sending) continue;  // its sends are over: read on only to see it leave
      parser.feed(std::span<const char>(chunk.get(), n));
      while (s->open) {
        auto f = parser.next();
        if (!f) break;
        if (!s->subscribed) {
          s->channel = std::move(*f), s->subscribed = true;
          registry_.subscribe(s);
          ++stats_.subscribers;
        } else if (!destination) {
          if (f->empty()) {
            sending = false;
            break;
          }
          destination = std::move(*f);
        } else {
          ++stats_.messages_in;
          const auto message = std::make_shared<const std::string>(frame(*f));
          if (naive_)
            co_await deliver_in_turn(*destination, message);
          else
            deliver(*destination, message);
          destination.reset();
        }
      }
      if (parser.failed()) {  // a frame over max_frame: this connection goes, nobody else notices
        ++stats_.protocol_errors;
        close(s);
      }
    }
    --readers_;
    // On shutdown the reader stops but the writer may still be flushing: the shutdown closes.
    if (!stopping_) close(s);
  }

  // naive: write the message to each subscriber and wait for each write. An async_write may
  // take several system calls, so two publishers writing to one subscriber at once would
  // interleave their frames: each takes the subscriber's lock first.
  asio::awaitable<void> deliver_in_turn(const std::string& name, const Message& message) {
    Channel* ch = registry_.find(name);
    if (!ch) co_return;
    // A copy: subscribers come and go while this reader waits.
    const std::vector<SubscriberPtr> targets =
        is_queue(name) ? std::vector<SubscriberPtr>{ch->next_in_turn()} : ch->subscribers;
    for (const auto& s : targets) {
      if (!s->open) continue;
      auto [gone] = co_await s->turn.async_send(error_code{}, use_tuple);
      if (gone) continue;  // closed while we waited for our turn
      auto [ec, n] = co_await asio::async_write(s->socket, asio::buffer(*message), use_tuple);
      s->turn.try_receive([](error_code) {});
      if (ec) {
        close(s);
        continue;
      }
      ++stats_.deliveries;
      stats_.bytes_out += static_cast<std::int64_t>(n);
    }
  }

  // improved: put the message on each subscriber's queue and return at once. The writers do
  // the writing; the reader goes straight back to reading.
  void deliver(const std::string& name, const Message& message) {
    Channel* ch = registry_.find(name);
    if (!ch) return;
    std::vector<SubscriberPtr> slow;  // closed after the loop: closing edits ch->subscribers
    auto offer = [&](const SubscriberPtr& s) {
      if (s->queue.size() < c_.queue_depth) {
        s->queue.push_back(message);
        if (s->queue.size() == 1) s->wake.cancel();  // the writer was asleep
      } else if (c_.slow_policy == "drop") {
        ++stats_.dropped;
      } else {
        slow.push_back(s);
      }
    };
    if (is_queue(name))
      offer(ch->next_in_turn());
    else
      for (const auto& s : ch->subscribers) offer(s);
    for (const auto& s : slow) {
      ++stats_.slow_disconnects;
      close(s);
    }
  }

  // improved: one gathered write of everything queued, then go again. Messages stay on the
  // queue until written, so queue_depth bounds what a subscriber holds, in flight included.
  asio::awaitable<void> writer(SubscriberPtr s) {
    std::vector<asio::const_buffer> batch;
    while (s->open) {
      if (s->queue.empty()) {
        co_await s->wake.async_wait(use_tuple);  // cancelled by deliver() or close()
        continue;
      }
      batch.clear();
      for (const auto& m : s->queue) batch.push_back(asio::buffer(*m));
      auto [ec, n] = co_await asio::async_write(s->socket, batch, use_tuple);
      if (ec) break;
      s->queue.erase(s->queue.begin(), s->queue.begin() + static_cast<std::ptrdiff_t>(batch.size()));
      stats_.deliveries += static_cast<std::int64_t>(batch.size());
      stats_.bytes_out += static_cast<std::int64_t>(n);
    }
    close(s);
  }

  // Once, whoever notices first: the reader, the writer, a slow queue, or the shutdown.
  void close(SubscriberPtr s) {
    if (!s->open) return;
    s->open = false;
    if (s->subscribed) registry_.unsubscribe(s);
    error_code ignored;
    s->socket.close(ignored);  // its reads and writes complete with operation_aborted
    s->wake.cancel();
    s->turn.close();
    connections_.erase(s);
    ++stats_.closed;
  }

  // Shutdown: stop accepting and reading, give the writers flush_timeout_s to empty their
  // queues, count what is left, close everything. With every socket closed the loop runs out
  // of work and run() returns.
  asio::awaitable<void> stop_when_told() {
    co_await stop_.async_wait(asio::posix::stream_descriptor::wait_read, use_tuple);
    stopping_ = true;
    error_code ignored;
    acceptor_.close(ignored);
    // A pending read returns end of stream; writes go on.
    for (const auto& s : connections_) s->socket.shutdown(tcp::socket::shutdown_receive, ignored);
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(c_.flush_timeout_s));
    asio::steady_timer tick(loop_);  // polling is plenty for a once-per-run wait
    while ((readers_ > 0 || queued() > 0) && Clock::now() < deadline) {
      tick.expires_after(std::chrono::milliseconds(5));
      co_await tick.async_wait(use_tuple);
    }
    stats_.unflushed = queued();
    for (const auto& s : std::vector<SubscriberPtr>(connections_.begin(), connections_.end())) close(s);
  }

  std::int64_t queued() const {
    std::int64_t n = 0;
    for (const auto& s : connections_) n += static_cast<std::int64_t>(s->queue.size());
    return n;
  }

  const BrokerConfig& c_;
  const bool naive_;
  asio::io_context& loop_;
  tcp::acceptor acceptor_;
  asio::posix::stream_descriptor stop_;  // readable when the broker must shut down
  Registry registry_;
  std::unordered_set<SubscriberPtr> connections_;  // every open connection, subscribed or not
  int readers_ = 0;                                // readers still running (shutdown waits for them)
  bool stopping_ = false;
  BrokerStats stats_;
};

}  // namespace

// The broker: every connection a coroutine (two with the improved design) on one io_context,
// run by this thread until stop_fd is readable.
BrokerStats run_asyncloop_broker(const BrokerConfig& c, const Control& ctl) {
  if (c.design != "naive" && c.design != "improved")
    throw std::invalid_argument("fanout/asyncloop: no design '" + c.design + "'");
  if (c.slow_policy != "drop" && c.slow_policy != "disconnect")
    throw std::invalid_argument("fanout/asyncloop: no slow policy '" + c.slow_policy + "'");
  if (c.queue_depth == 0) throw std::invalid_argument("fanout/asyncloop: queue_depth must be at least 1");
  if (ctl.stop_fd < 0) throw std::invalid_argument("fanout/asyncloop: no stop_fd");
  asio::io_context loop(1);
  Broker broker(c, ctl.stop_fd, loop);  // binds now: an address in use throws here, before anything runs
  if (ctl.listening) ctl.listening(broker.port());
  broker.start();
  loop.run();
  return broker.stats();
}

}  // namespace tvl::fanout
