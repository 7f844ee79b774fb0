// The book's message broker (ch. 4) with OS threads and blocking sockets.
//
// Every connection has a reader thread that blocks in recv(), takes up to 64 KiB at a time and
// handles every complete frame in it. The calling thread accepts connections and joins the
// threads of those that ended. Two designs:
//   naive     the book's prototype: a publisher's reader sends the message to each subscriber
//             in turn and waits, so everything moves at the pace of the slowest subscriber;
//   improved  an output buffer and a writer thread per subscriber: a publisher's reader only
//             appends the message's frame (the bytes it received, copied from the chunk) to the
//             buffer, at most queue_depth messages and queue_bytes bytes, and never waits; the
//             writer sends everything buffered with one write. What does not fit is dropped or
//             disconnects the subscriber (c.slow_policy), and the counters say so.
// Every thread gets the default stack size (glibc: RLIMIT_STACK, usually 8 MiB of address
// space; metrics::default_stack_kib() reports it). A connection costs one thread (naive) or two.
//
// Compare with asyncloop/fanout.cpp: the same session parse, registry and buffer rule
// (scenarios/fanout_broker.hpp); there the reader and writer are coroutines on one thread,
// here threads that block, and the registry is shared under a lock.
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
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

namespace tvl::fanout {
namespace {

// The counters are BrokerStats' own fields, bumped atomically by every thread and read once
// all of them have been joined.
void count(std::int64_t& counter, std::int64_t n = 1) {
  std::atomic_ref(counter).fetch_add(n, std::memory_order_relaxed);
}

// One connection (any client may subscribe). The socket closes when the last holder lets go:
// a naive publisher may still be sending to it after its own threads have ended.
struct Subscriber {
  Subscriber(int socket, std::uint64_t number) : fd(socket), id(number) {}
  ~Subscriber() { ::close(fd); }
  const int fd;
  const std::uint64_t id;
  std::mutex mutex;                                // naive: one send at a time; improved: guards the fields below
  std::condition_variable ready;                   // improved: wakes the writer
  std::vector<char> out;                           // improved: whole frames waiting to be written
  std::size_t queued = 0;                          // ... how many
  std::size_t in_flight = 0, in_flight_bytes = 0;  // being written; with the above, within the bounds
  bool closing = false;                            // the reader ended: the writer flushes the queue and stops
  bool dead = false;                               // the socket failed or was cut off: nothing more is written
  std::atomic<int> threads{0};                     // its threads still running; the last one ends the connection
};

// Readers look channels up under a shared lock, so the /queue cursor is atomic.
using Channels = Registry<std::shared_ptr<Subscriber>, std::atomic<std::size_t>>;

// Sends all of `bytes`, `frames` whole frames; returns how many went out whole. Stops at the
// first failure: the peer is gone or the socket was shut down.
std::size_t send_all(int fd, std::span<const char> bytes, std::size_t frames, std::int64_t& bytes_out) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);  // no SIGPIPE
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    count(bytes_out, n);
    sent += static_cast<std::size_t>(n);
  }
  if (sent == bytes.size()) return frames;
  std::size_t whole = 0;  // it failed: count what went (the walk costs a read per frame)
  for (std::size_t at = 0; at + 4 <= sent;) {
    const FrameView f = peek_frame(bytes.subspan(at, sent - at), UINT32_MAX);
    if (f.status != FrameView::complete) break;
    at += f.size, ++whole;
  }
  return whole;
}

// A listening socket on host:port (port 0: any free one), non-blocking so that the acceptor
// can take every pending connection and return to poll(). Returns it and the port it got.
int listen_on(const std::string& host, std::uint16_t port, std::uint16_t& bound) {
  addrinfo hints{}, *found = nullptr;
  hints.ai_family = AF_UNSPEC, hints.ai_socktype = SOCK_STREAM, hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  if (const int e = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); e != 0)
    throw std::runtime_error("broker: cannot resolve '" + host + "': " + gai_strerror(e));
  const std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owned(found, freeaddrinfo);
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int e = errno;
    if (fd >= 0) ::close(fd);
    throw std::system_error(e, std::generic_category(),
                            "broker: cannot listen on " + host + ":" + std::to_string(port));
  }
  bound = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return fd;
}

class Broker {
 public:
  Broker(const BrokerConfig& c, const Control& ctl)
      : c_(c), ctl_(ctl), improved_(c.design == "improved"), drop_(c.slow_policy == "drop") {
    check_config(c, ctl, "fanout/threads");
  }

  // Accepts until stop_fd is readable, waking at least every 100 ms to join ended connections.
  BrokerStats run() {
    std::uint16_t port = 0;
    const int listener = listen_on(c_.host, c_.port, port);
    if (ctl_.listening) ctl_.listening(port);
    for (;;) {
      pollfd fds[2] = {{listener, POLLIN, 0}, {ctl_.stop_fd, POLLIN, 0}};
      const int ready = ::poll(fds, 2, 100);
      reap();
      if (ready > 0 && fds[1].revents != 0) break;
      if (ready > 0 && (fds[0].revents & POLLIN)) accept_all(listener);
    }
    ::close(listener);
    stop();
    return stats_;
  }

 private:
  struct Connection {
    std::shared_ptr<Subscriber> sub;
    std::thread reader, writer;
  };

  void accept_all(int listener) {
    for (;;) {
      const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);  // a blocking socket
      if (fd < 0 && (errno == EINTR || errno == ECONNABORTED)) continue;
      if (fd < 0 && (errno == EMFILE || errno == ENFILE))  // the client waits for a free descriptor
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (fd < 0) return;
      count(stats_.accepted);
      const int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      start(std::make_shared<Subscriber>(fd, next_id_++));
    }
  }

  void start(const std::shared_ptr<Subscriber>& s) {
    Connection& conn = connections_[s->id];
    conn.sub = s;
    s->threads = improved_ ? 2 : 1;
    {
      std::lock_guard lock(done_mutex_);
      ++live_;
    }
    try {
      if (improved_) conn.writer = std::thread([this, p = s.get()] { writer(*p); });
      conn.reader = std::thread([this, s] { reader(s); });
    } catch (const std::system_error& e) {  // out of threads: refuse this client, serve the others
      if (!std::exchange(warned_, true))
        std::fprintf(stderr, "broker (threads): %s; refusing clients. %s\n", e.what(),
                     metrics::thread_limits().c_str());
      if (improved_ && !conn.writer.joinable()) thread_done(*s);
      hang_up(*s);  // as if the reader had run and ended: a started writer sees `closing`
    }
  }

  // The last of a connection's threads ends it: the client sees the close now; the acceptor
  // joins the threads at its next wake-up, so ended threads never pile up unjoined.
  void thread_done(Subscriber& s) {
    if (s.threads.fetch_sub(1) != 1) return;
    ::shutdown(s.fd, SHUT_RDWR);
    count(stats_.closed);
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
      const auto it = connections_.find(id);
      join(it->second);
      connections_.erase(it);  // the socket closes here, unless a naive publisher still holds it
    }
  }

  static void join(Connection& conn) {
    if (conn.reader.joinable()) conn.reader.join();
    if (conn.writer.joinable()) conn.writer.join();
  }

  // The client's first frame subscribes it; then (channel, data) pairs until an empty channel,
  // the end of the stream, a frame over max_frame, or the broker's shutdown.
  // Frames are handled in place, in the chunk; a pair that is not all there yet moves to the
  // front and waits for the next recv().
  void reader(const std::shared_ptr<Subscriber>& s) {
    ReadBuffer chunk;
    std::optional<std::string> channel;  // the subscription
    Run run;                             // the chunk's messages, a run of one channel's frames at a time
    for (bool more = true; more && !stopping_;) {
      const std::span<char> space = chunk.space();
      const ssize_t n = ::recv(s->fd, space.data(), space.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      count(stats_.bytes_in, n);
      chunk.filled(static_cast<std::size_t>(n));
      const auto bytes = chunk.bytes();
      Parsed p;
      if (!channel)
        if (const auto name = p.subscription(bytes, c_.max_frame)) subscribe(s, *(channel = std::string(*name)));
      if (channel)
        while (const auto m = p.next(bytes, c_.max_frame)) {
          count(stats_.messages_in);
          if (m->channel != run.channel || !improved_) deliver(run), run.channel = m->channel;
          run.add(m->data);
        }
      deliver(run);
      run.channel = {};  // it points into the chunk
      if (p.bad) {       // that connection only: every other client goes on
        count(stats_.protocol_errors);
        break;
      }
      more = !p.end;
      chunk.consume(p.used);
    }
    if (channel) unsubscribe(s, *channel);
    hang_up(*s);
  }

  void hang_up(Subscriber& s) {
    if (improved_) {  // naive has no writer, and a sender blocked on this socket holds the mutex
      std::lock_guard lock(s.mutex);
      s.closing = true;
    }
    s.ready.notify_one();
    thread_done(s);
  }

  // Improved: sends everything buffered with one write, then waits for more.
  void writer(Subscriber& s) {
    std::vector<char> batch;
    std::size_t unsent = 0;
    for (;;) {
      std::size_t frames = 0;
      {
        std::unique_lock lock(s.mutex);
        s.in_flight = s.in_flight_bytes = 0;  // the last batch is out
        s.ready.wait(lock, [&s] { return !s.out.empty() || s.closing || s.dead; });
        if (s.dead || s.out.empty()) break;
        batch.swap(s.out);  // the two buffers trade places: no allocation once warmed up
        frames = std::exchange(s.queued, 0);
        s.in_flight = frames, s.in_flight_bytes = batch.size();
      }
      const std::size_t sent = send_all(s.fd, batch, frames, stats_.bytes_out);
      count(stats_.deliveries, static_cast<std::int64_t>(sent));
      if (sent < frames) {
        unsent = frames - sent;
        cut_off(s);
        break;
      }
      if (batch.capacity() > kKeepBuffer)
        std::vector<char>().swap(batch);  // a burst's buffer is not kept for good
      else
        batch.clear();
    }
    if (stopping_) {  // what the flush timeout left behind
      std::lock_guard lock(s.mutex);
      count(stats_.unflushed, static_cast<std::int64_t>(unsent + s.queued));
    }
    thread_done(s);
  }

  void subscribe(const std::shared_ptr<Subscriber>& s, const std::string& channel) {
    std::lock_guard lock(registry_mutex_);
    registry_.add(channel, s);
    count(stats_.subscribers);
  }

  void unsubscribe(const std::shared_ptr<Subscriber>& s, const std::string& channel) {
    std::lock_guard lock(registry_mutex_);
    registry_.remove(channel, s);
  }

  // A run of messages to one channel (improved; naive: one message) reaches each subscriber
  // with one lock and at most one wake-up. The event loop gets that coalescing for free (its
  // buffers are written once the reader has handled the whole chunk); a writer thread woken
  // per message would cost a context switch per delivery.
  void deliver(Run& run) {
    if (run.empty()) return;
    std::vector<std::shared_ptr<Subscriber>> targets;  // naive: written to once the registry is unlocked
    {
      std::shared_lock lock(registry_mutex_);
      if (Channels::Channel* ch = registry_.find(run.channel)) {
        if (!improved_)
          targets = is_queue(run.channel) ? std::vector{ch->take_turn()} : ch->subscribers;
        else if (!is_queue(run.channel))
          for (const auto& s : ch->subscribers) offer(*s, run.frames, run.ends);
        else  // one subscriber per message, in turn
          for (std::size_t k = 0, start = 0; k < run.ends.size(); start = run.ends[k++]) {
            const std::size_t size = run.ends[k] - start;
            offer(*ch->take_turn(), std::span(run.frames).subspan(start, size), std::span(&size, 1));
          }
      }
    }
    for (const auto& s : targets) send_now(*s, run.frames);  // naive: one message
    run.clear();
  }

  // Naive: the publisher's own thread writes, and waits for as long as the subscriber makes it.
  void send_now(Subscriber& s, std::span<const char> frame) {
    std::unique_lock lock(s.mutex);
    if (s.dead) return;
    if (send_all(s.fd, frame, 1, stats_.bytes_out) == 1) return count(stats_.deliveries);
    s.dead = true;
    lock.unlock();
    ::shutdown(s.fd, SHUT_RDWR);  // its reader wakes and ends the connection
  }

  // Improved: buffer what fits of a run (frames[.. ends[k]) is its first k + 1 frames), apply
  // the slow policy to the rest; never wait. What is in flight counts against the bounds.
  void offer(Subscriber& s, std::span<const char> frames, std::span<const std::size_t> ends) {
    std::size_t take = 0;
    bool wake = false;
    {
      std::lock_guard lock(s.mutex);
      if (s.dead || s.closing) return;
      take = fits(c_, ends, s.queued + s.in_flight, s.out.size() + s.in_flight_bytes);
      wake = s.out.empty();  // only a writer with nothing buffered may be asleep
      if (take < ends.size() && !drop_) {
        s.dead = true, s.out.clear(), s.queued = 0;
      } else if (take > 0) {
        s.out.insert(s.out.end(), frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(ends[take - 1]));
        s.queued += take;
      }
    }
    if (wake && take == ends.size()) s.ready.notify_one();
    if (take < ends.size() && drop_) count(stats_.dropped, static_cast<std::int64_t>(ends.size() - take));
    if (take < ends.size() && !drop_) count(stats_.slow_disconnects), cut_off(s);
  }

  // Shuts the socket first: that wakes any thread blocked on it, even one holding s.mutex.
  static void cut_off(Subscriber& s) {
    ::shutdown(s.fd, SHUT_RDWR);
    {
      std::lock_guard lock(s.mutex);
      s.dead = true;
    }
    s.ready.notify_one();
  }

  // Readers stop (shutting the read side ends a blocked recv), writers flush what is queued
  // for at most flush_timeout_s, then every socket is cut off and every thread joined.
  void stop() {
    stopping_ = true;
    for (auto& [id, conn] : connections_) ::shutdown(conn.sub->fd, SHUT_RD);
    {
      std::unique_lock lock(done_mutex_);
      done_cv_.wait_for(lock, std::chrono::duration<double>(c_.flush_timeout_s), [this] { return live_ == 0; });
    }
    for (auto& [id, conn] : connections_) cut_off(*conn.sub);
    for (auto& [id, conn] : connections_) join(conn);
    connections_.clear();
  }

  const BrokerConfig& c_;
  const Control& ctl_;
  const bool improved_, drop_;
  BrokerStats stats_;
  std::atomic<bool> stopping_{false};
  std::shared_mutex registry_mutex_;
  Channels registry_;                                          // guarded by registry_mutex_
  std::unordered_map<std::uint64_t, Connection> connections_;  // the acceptor's alone
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
