// What only the event-loop broker (asyncloop/fanout.cpp) needs beside its reader and writer
// coroutines: the connection with its timer and write turn, the counters touched by the loop's
// thread alone, the broker's own copy of the stop descriptor, and the set of open connections
// the shutdown walks. Its twin for threads is threads/fanout_threads.hpp.
#pragma once

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
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include "asyncloop/loop_task.hpp"
#include "scenarios/fanout_session.hpp"

namespace tvl::fanout::coroutines {

namespace asio = boost::asio;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);  // errors come back as values
using asio::ip::tcp;
using boost::system::error_code;

constexpr auto kFlushPoll = std::chrono::milliseconds(2);       // shutdown: how often the loop checks the buffers
constexpr auto kAcceptBackoff = std::chrono::milliseconds(10);  // out of descriptors: wait for one to be freed
using Clock = std::chrono::steady_clock;

// The counters are BrokerStats' own fields; only the loop's thread touches them.
inline void bump(std::int64_t& counter, std::int64_t n = 1) { counter += n; }

// The broker closes its descriptors when it is done; stop_fd stays the caller's.
inline int own_copy(int fd) {
  const int copy = ::dup(fd);
  if (copy < 0) throw std::system_error(errno, std::generic_category(), "fanout/asyncloop: dup(stop_fd)");
  return copy;
}

// Waits until the broker's copy of stop_fd is readable, then closes it: nothing is left on the
// loop that would keep it running once the connections are closed.
inline asio::awaitable<void> wait_for_stop(asio::posix::stream_descriptor& stop) {
  co_await stop.async_wait(asio::posix::stream_descriptor::wait_read, use_tuple);
  error_code ignored;
  stop.close(ignored);
}

// A pause of this coroutine alone: the loop serves the others meanwhile.
inline asio::awaitable<void> sleep_for(asio::steady_timer& timer, Clock::duration d) {
  timer.expires_after(d);
  co_await timer.async_wait(use_tuple);
}

// The eager flush's non-blocking write, with the error as a value (would_block: the socket is full).
inline std::pair<error_code, std::size_t> write_some(tcp::socket& s, std::span<const char> bytes) {
  error_code ec;
  const std::size_t n = s.write_some(asio::buffer(bytes.data(), bytes.size()), ec);
  return {ec, n};
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

// Improved, the writer coroutine: sleeps until the eager flush finds the socket full (it
// cancels s.ready), then waits for room in it. False once the connection is closed.
inline asio::awaitable<bool> room_to_write(Connection& s) {
  while (s.open && !s.wait_for_room) co_await s.ready.async_wait(use_tuple);
  if (!s.open) co_return false;
  auto [ec] = co_await s.socket.async_wait(tcp::socket::wait_write, use_tuple);
  if (ec) co_return false;  // closed
  s.wait_for_room = false;
  co_return true;
}

// One loop, so no lock and a plain /queue cursor.
using Channels = Registry<ConnectionPtr>;

// Every open connection, subscribed or not, for the shutdown to walk; and the reader
// coroutines still running, which the shutdown waits for.
class ConnectionCoroutines {
 public:
  explicit ConnectionCoroutines(BrokerStats& stats) : stats_(stats) {}

  void start(const ConnectionPtr& s) {
    open_.insert(s);
    ++readers_;
  }
  void reader_done() { --readers_; }

  // s is closed: its coroutines waiting on the timer or for the turn wake and end.
  void done(const ConnectionPtr& s) {
    s->ready.cancel();
    s->turn.close();
    open_.erase(s);
    bump(stats_.closed);
  }

  // No reader runs and every buffer is written.
  bool quiet() const {
    return readers_ == 0 && std::ranges::all_of(open_, [](const auto& s) { return s->box.queued == 0; });
  }

  // The frames still buffered, once the flush time is up.
  std::int64_t unflushed() const {
    std::size_t frames = 0;
    for (const auto& s : open_) frames += s->box.queued;
    return static_cast<std::int64_t>(frames);
  }

  // f may close the connection: it walks a copy.
  template <typename F>
  void for_each(F&& f) {
    for (const auto& s : std::vector<ConnectionPtr>(open_.begin(), open_.end())) f(s);
  }

 private:
  BrokerStats& stats_;
  std::unordered_set<ConnectionPtr> open_;
  int readers_ = 0;
};

}  // namespace tvl::fanout::coroutines
