// Exercise slow-consumer (book ch. 4, docs/fanout.md): YOUR COPY. Edit this file, then run
//   make exercise NAME=slow-consumer
//
// The book's first message broker (mq_server.py) as coroutines on one Boost.Asio io_context run
// by one thread. Each connection has a reader coroutine, serve(): the client's first frame
// subscribes it to a channel, every later (channel, data) pair is a message to publish, and an
// empty channel ends its sends. The protocol's codec is the project's (scenarios/fanout.hpp).
//
// It is the NAIVE design: publish() writes the message to each subscriber in turn and waits
// (co_await) until each write is done. A subscriber that never reads fills its socket buffers,
// its write never completes, the publisher's reader waits for it forever, stops reading the
// publisher, and every other subscriber gets nothing more either.
//
// Your task: make it survive a subscriber that never reads. Give each subscriber a BOUNDED queue
// of its own and a writer coroutine of its own, so that publish() only puts the message on
// queues and never waits for a socket. When a subscriber's queue is full (c.queue_depth
// messages or c.queue_bytes bytes), drop the message for that subscriber and count it in
// stats_.dropped. On shutdown, give the queues c.flush_timeout_s to empty, count what is left
// in stats_.unflushed, then close. Keep run_broker()'s signature: the grader calls it.
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
#include <chrono>
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
  explicit Client(tcp::socket s) : socket(std::move(s)), turn(socket.get_executor(), 1) {}
  tcp::socket socket;
  std::string channel;
  bool subscribed = false, open = true;
  // One writer at a time: an async_write may take several system calls, and two publishers'
  // frames must not interleave. A channel with one slot: sending takes the turn, receiving
  // gives it back.
  asio::experimental::channel<void(error_code)> turn;
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
        co_await publish(m.channel, m.data);  // m points into `in`, which stays put meanwhile
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

  // NAIVE: writes the frame (length prefix and data, as received) to each subscriber in turn
  // and waits for each write. This is where a subscriber that never reads holds everyone up.
  asio::awaitable<void> publish(std::string_view name, std::span<const char> frame) {
    const auto found = channels_.find(std::string(name));
    if (found == channels_.end()) co_return;
    Channel& ch = found->second;
    // A copy: subscribers come and go while this reader waits.
    const std::vector<ClientPtr> to =
        fanout::is_queue(name) ? std::vector{ch.subscribers[ch.next++ % ch.subscribers.size()]} : ch.subscribers;
    for (const ClientPtr& s : to) {
      if (!s->open) continue;
      auto [gone] = co_await s->turn.async_send(error_code{}, use_tuple);  // wait for our turn
      if (gone) continue;                                                  // closed meanwhile
      auto [ec, n] = co_await asio::async_write(s->socket, asio::buffer(frame.data(), frame.size()), use_tuple);
      s->turn.try_receive([](error_code) {});
      if (ec) {
        close(s);
        continue;
      }
      ++stats_.deliveries;
      stats_.bytes_out += static_cast<std::int64_t>(n);
    }
  }

  void subscribe(const ClientPtr& client, std::string name) {
    client->channel = std::move(name);
    client->subscribed = true;
    channels_[client->channel].subscribers.push_back(client);
    ++stats_.subscribers;
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
    client->socket.close(ignored);  // its pending read and writes complete with operation_aborted
    client->turn.close();
    clients_.erase(client);
    ++stats_.closed;
  }

  // Shutdown: stop accepting and reading; give the writes under way flush_timeout_s to finish
  // (every reader done); then close everyone.
  asio::awaitable<void> stop_when_told() {
    co_await stop_.async_wait(asio::posix::stream_descriptor::wait_read, use_tuple);
    stopping_ = true;
    error_code ignored;
    acceptor_.close(ignored);
    for (const ClientPtr& client : clients_) client->socket.shutdown(tcp::socket::shutdown_receive, ignored);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(c_.flush_timeout_s);
    asio::steady_timer tick(ctx_);
    while (readers_ > 0 && std::chrono::steady_clock::now() < deadline) {
      tick.expires_after(std::chrono::milliseconds(5));
      co_await tick.async_wait(use_tuple);
    }
    for (const ClientPtr& client : std::vector(clients_.begin(), clients_.end())) close(client);
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
