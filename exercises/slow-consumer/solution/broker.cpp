// Exercise slow-consumer (book ch. 4, docs/fanout.md): THE REFERENCE SOLUTION. Grade it with
//   make exercise NAME=slow-consumer SOLUTION=1
//
// The book's message broker as coroutines on one Boost.Asio io_context run by one thread, in
// the improved design (the book's mq_server_plus, with its queues bounded). Diff it against the
// starter, ../broker.cpp: only publish(), the Client and shutdown change, and a writer appears.
//
// Each subscriber has a BOUNDED queue of frames and a writer coroutine of its own. publish()
// only appends the message to queues and never waits for a socket, so the publisher's reader
// keeps reading whatever any subscriber does. A subscriber that never reads fills its socket
// buffers, then its queue (c.queue_depth messages or c.queue_bytes bytes); what does not fit is
// dropped for that subscriber alone and counted. Memory stays bounded: the queue is the most it
// may hold, where the book's unbounded queue would grow until something else gives.
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "slow_consumer_broker.hpp"

namespace tvl::exercise {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using fanout::BrokerConfig;
using fanout::BrokerStats;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);  // errors come back as values

// Any connection: a subscriber once its first frame is in, and it may publish after that.
struct Client {
  explicit Client(tcp::socket s) : socket(std::move(s)), wake(socket.get_executor()) {}
  tcp::socket socket;
  std::string channel;
  bool subscribed = false, open = true;
  // The frames still to be written to this subscriber, the one being written included; its
  // writer is the only one that writes to the socket, so frames never interleave.
  std::deque<std::string> queue;
  std::size_t queued_bytes = 0;
  asio::steady_timer wake;  // the writer sleeps on it while the queue is empty; cancel() wakes it
};
using ClientPtr = std::shared_ptr<Client>;

struct Channel {
  std::vector<ClientPtr> subscribers;
  std::size_t next = 0;  // /queue: whose turn it is
};

class Broker {
 public:
  Broker(const BrokerConfig& c, int stop_fd) : c_(c), acceptor_(ctx_), stop_(ctx_, ::dup(stop_fd)) {
    const tcp::endpoint at(asio::ip::make_address(c.host), c.port);
    acceptor_.open(at.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(at);
    acceptor_.listen();
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  BrokerStats run() {
    co_spawn(ctx_, accept_clients(), rethrow);
    co_spawn(ctx_, stop_when_told(), rethrow);
    ctx_.run();  // until every connection is closed
    return stats_;
  }

 private:
  static void rethrow(const std::exception_ptr& e) {
    if (e) std::rethrow_exception(e);
  }

  asio::awaitable<void> accept_clients() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
      if (!acceptor_.is_open()) break;
      if (ec) continue;
      ++stats_.accepted;
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);  // small frames go out now
      const auto client = std::make_shared<Client>(std::move(socket));
      clients_.insert(client);
      co_spawn(ctx_, serve(client), rethrow);
    }
  }

  // The reader: reads what the client sends and handles every complete frame in it.
  asio::awaitable<void> serve(ClientPtr client) {
    ++readers_;
    std::vector<char> in;  // bytes read and not handled yet: the start of a frame still coming
    std::vector<char> chunk(64 * 1024);
    bool sending = true;
    while (client->open) {
      auto [ec, n] = co_await client->socket.async_read_some(asio::buffer(chunk), use_tuple);
      if (ec) break;  // end of stream, reset, or closed by us
      stats_.bytes_in += static_cast<std::int64_t>(n);
      if (!sending) continue;  // its sends are over: read on only to see it leave
      in.insert(in.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
      std::size_t used = 0;
      bool bad = false;
      while (sending && !bad) {
        const std::span<const char> rest = std::span<const char>(in).subspan(used);
        if (!client->subscribed) {  // its first frame: the channel it subscribes to
          const fanout::FrameView f = fanout::peek_frame(rest, c_.max_frame);
          bad = f.status == fanout::FrameView::too_long;
          if (f.status != fanout::FrameView::complete) break;
          subscribe(client, std::string(f.payload));
          used += f.size;
          continue;
        }
        const fanout::PairView m = fanout::peek_pair(rest, c_.max_frame);
        bad = m.status == fanout::FrameView::too_long;
        if (m.status != fanout::FrameView::complete) break;
        used += m.whole.size();
        if (m.end) {  // the empty channel: this client sends nothing more
          sending = false;
          break;
        }
        ++stats_.messages_in;
        publish(m.channel, m.data);
      }
      if (bad) {  // a frame over max_frame: this client goes, nobody else notices
        ++stats_.protocol_errors;
        close(client);
        break;
      }
      in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(sending ? used : in.size()));
    }
    --readers_;
    if (!stopping_) close(client);  // on shutdown, stop_when_told() closes everyone
  }

  // Puts the frame (length prefix and data, as received) on each subscriber's queue; waits for
  // nobody.
  void publish(std::string_view name, std::span<const char> frame) {
    const auto found = channels_.find(std::string(name));
    if (found == channels_.end()) return;
    Channel& ch = found->second;
    if (fanout::is_queue(name)) return offer(ch.subscribers[ch.next++ % ch.subscribers.size()], frame);
    for (const ClientPtr& s : ch.subscribers) offer(s, frame);
  }

  // The bounded queue's rule: a full queue drops the frame, counted. An empty queue takes one
  // frame of any size, so that no frame is too big ever to be delivered.
  void offer(const ClientPtr& s, std::span<const char> frame) {
    const bool full =
        s->queue.size() >= c_.queue_depth || (!s->queue.empty() && s->queued_bytes + frame.size() > c_.queue_bytes);
    if (full) {
      ++stats_.dropped;
      return;
    }
    s->queue.emplace_back(frame.begin(), frame.end());
    s->queued_bytes += frame.size();
    s->wake.cancel();  // if the writer sleeps, it wakes; if it is writing, it finds this next
  }

  // The subscriber's writer: sends everything queued with one gathered write, then sleeps until
  // there is more. Only this coroutine waits for this subscriber's socket.
  asio::awaitable<void> write_to(ClientPtr s) {
    while (s->open) {
      if (s->queue.empty()) {
        s->wake.expires_at(asio::steady_timer::time_point::max());
        co_await s->wake.async_wait(use_tuple);
        continue;
      }
      // A deque keeps its elements in place while the reader appends more at the back.
      std::vector<asio::const_buffer> frames;
      for (const std::string& f : s->queue) frames.push_back(asio::buffer(f));
      auto [ec, n] = co_await asio::async_write(s->socket, frames, use_tuple);
      if (ec) {
        close(s);
        break;
      }
      for (std::size_t k = 0; k < frames.size(); ++k) s->queued_bytes -= s->queue.front().size(), s->queue.pop_front();
      stats_.deliveries += static_cast<std::int64_t>(frames.size());
      stats_.bytes_out += static_cast<std::int64_t>(n);
    }
  }

  void subscribe(const ClientPtr& client, std::string name) {
    client->channel = std::move(name);
    client->subscribed = true;
    channels_[client->channel].subscribers.push_back(client);
    ++stats_.subscribers;
    co_spawn(ctx_, write_to(client), rethrow);
  }

  // Once, whoever notices first: its reader, a failed write, or the shutdown.
  void close(const ClientPtr& client) {
    if (!client->open) return;
    client->open = false;
    if (client->subscribed) {
      const auto found = channels_.find(client->channel);
      std::erase(found->second.subscribers, client);
      if (found->second.subscribers.empty()) channels_.erase(found);
    }
    error_code ignored;
    client->socket.close(ignored);  // its pending read and write complete with operation_aborted
    client->wake.cancel();
    clients_.erase(client);
    ++stats_.closed;
  }

  // Shutdown: stop accepting and reading; give the queues flush_timeout_s to empty (every
  // reader done, every queue written); count what is left, and close everyone.
  asio::awaitable<void> stop_when_told() {
    co_await stop_.async_wait(asio::posix::stream_descriptor::wait_read, use_tuple);
    stopping_ = true;
    error_code ignored;
    acceptor_.close(ignored);
    for (const ClientPtr& client : clients_) client->socket.shutdown(tcp::socket::shutdown_receive, ignored);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(c_.flush_timeout_s);
    asio::steady_timer tick(ctx_);
    const auto quiet = [this] {
      return readers_ == 0 && std::ranges::all_of(clients_, [](const ClientPtr& c) { return c->queue.empty(); });
    };
    while (!quiet() && std::chrono::steady_clock::now() < deadline) {
      tick.expires_after(std::chrono::milliseconds(5));
      co_await tick.async_wait(use_tuple);
    }
    for (const ClientPtr& client : std::vector(clients_.begin(), clients_.end())) {
      stats_.unflushed += static_cast<std::int64_t>(client->queue.size());
      close(client);
    }
    stop_.close(ignored);
  }

  const BrokerConfig& c_;
  asio::io_context ctx_{1};
  tcp::acceptor acceptor_;
  asio::posix::stream_descriptor stop_;  // readable when the broker must shut down (our own copy)
  std::set<ClientPtr> clients_;          // every open connection
  std::unordered_map<std::string, Channel> channels_;
  int readers_ = 0;
  bool stopping_ = false;
  BrokerStats stats_;
};

}  // namespace

BrokerStats run_broker(const BrokerConfig& c, const fanout::Control& ctl) {
  Broker broker(c, ctl.stop_fd);
  if (ctl.listening) ctl.listening(broker.port());
  return broker.run();
}

}  // namespace tvl::exercise
