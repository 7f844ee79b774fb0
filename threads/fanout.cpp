// The book's message broker (ch. 4) with OS threads and blocking sockets.
//
// Every connection has a reader thread that blocks in recv(), takes up to 64 KiB at a time and
// handles every complete frame in it. The calling thread accepts connections and joins the
// threads of those that ended. Two designs:
//   naive     the book's prototype: a publisher's reader sends the message to each subscriber
//             in turn and waits, so everything moves at the pace of the slowest subscriber;
//   improved  a bounded send queue and a writer thread per subscriber: a publisher only queues
//             the message (encoded once, shared by every queue) and never waits; the writer
//             sends everything queued with one gathered write. A full queue drops the message
//             or disconnects the subscriber (c.slow_policy), and the counters say so.
// Every thread gets the default stack size (glibc: RLIMIT_STACK, usually 8 MiB of address
// space; metrics::default_stack_kib() reports it). A connection costs one thread (naive) or two.
//
// Compare with asyncloop/fanout.cpp: the same registry, reader, writer and deliver, as
// coroutines on one thread instead of threads that block.
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bench/metrics.hpp"
#include "scenarios/fanout.hpp"

namespace tvl::fanout {
namespace {

using Message = std::shared_ptr<const std::string>;  // one encoded frame, shared by its subscribers

constexpr std::size_t kReadChunk = 64 * 1024;  // one recv() takes up to this much
constexpr std::size_t kMaxIov = IOV_MAX;       // messages per gathered write (1024 on Linux)

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
  std::mutex mutex;               // naive: one send at a time; improved: guards the fields below
  std::condition_variable ready;  // improved: wakes the writer
  std::vector<Message> queue;     // improved: waiting to be written
  std::size_t in_flight = 0;      // improved: being written; with the queue, at most queue_depth
  bool closing = false;           // the reader ended: the writer flushes the queue and stops
  bool dead = false;              // the socket failed or was cut off: nothing more is written
  std::atomic<int> threads{0};    // its threads still running; the last one ends the connection
};

struct Channel {
  std::vector<std::shared_ptr<Subscriber>> subscribers;
  std::atomic<std::size_t> next{0};  // /queue channels: the round-robin cursor
};

// Writes messages with gathered writes, kMaxIov at a time; returns how many went out whole.
// Stops at the first failure: the peer is gone or the socket was shut down.
std::size_t send_all(int fd, std::span<const Message> batch, std::int64_t& bytes_out) {
  std::array<iovec, kMaxIov> iov;
  std::size_t done = 0, offset = 0;  // messages sent whole; bytes of the next one already sent
  while (done < batch.size()) {
    std::size_t n = 0;
    for (; n < iov.size() && done + n < batch.size(); ++n) {
      const std::string& m = *batch[done + n];
      const std::size_t skip = n == 0 ? offset : 0;
      iov[n] = {const_cast<char*>(m.data()) + skip, m.size() - skip};
    }
    msghdr msg{};
    msg.msg_iov = iov.data(), msg.msg_iovlen = n;
    const ssize_t sent = ::sendmsg(fd, &msg, MSG_NOSIGNAL);  // writev() that cannot raise SIGPIPE
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) break;
    count(bytes_out, sent);
    for (auto left = static_cast<std::size_t>(sent); left > 0;) {
      const std::size_t take = std::min(left, batch[done]->size() - offset);
      left -= take, offset += take;
      if (offset == batch[done]->size()) offset = 0, ++done;
    }
  }
  return done;
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
    if (c.design != "naive" && c.design != "improved")
      throw std::invalid_argument("fanout/threads: no design '" + c.design + "' (naive or improved)");
    if (c.slow_policy != "drop" && c.slow_policy != "disconnect")
      throw std::invalid_argument("fanout/threads: no slow policy '" + c.slow_policy + "' (drop or disconnect)");
    if (c.queue_depth == 0) throw std::invalid_argument("fanout/threads: queue_depth must be at least 1");
    if (ctl.stop_fd < 0) throw std::invalid_argument("fanout/threads: no stop_fd");
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
  void reader(const std::shared_ptr<Subscriber>& s) {
    FrameParser parser(c_.max_frame);
    const auto chunk = std::make_unique_for_overwrite<char[]>(kReadChunk);  // untouched pages cost no RSS
    std::optional<std::string> channel, to;  // the subscription; a publish waiting for its data
    std::vector<std::string> channels;       // the chunk's messages and where they go
    std::vector<Message> messages;
    for (bool more = true; more && !stopping_;) {
      const ssize_t n = ::recv(s->fd, chunk.get(), kReadChunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      count(stats_.bytes_in, n);
      parser.feed(std::span<const char>(chunk.get(), static_cast<std::size_t>(n)));
      while (std::optional<std::string> f = more ? parser.next() : std::nullopt) {
        if (!channel) {
          subscribe(s, *(channel = std::move(f)));
        } else if (!to) {
          more = !f->empty();
          to = std::move(f);
        } else {
          count(stats_.messages_in);
          channels.push_back(std::move(*to)), to.reset();
          messages.push_back(std::make_shared<const std::string>(frame(*f)));  // encoded once
        }
      }
      deliver(channels, messages);
      channels.clear(), messages.clear();
      if (parser.failed()) {  // that connection only: every other client goes on
        count(stats_.protocol_errors);
        break;
      }
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

  // Improved: sends everything queued with one gathered write, then waits for more.
  void writer(Subscriber& s) {
    std::vector<Message> batch;
    std::size_t unsent = 0;
    for (;;) {
      {
        std::unique_lock lock(s.mutex);
        s.in_flight = 0;  // the last batch is out
        s.ready.wait(lock, [&s] { return !s.queue.empty() || s.closing || s.dead; });
        if (s.dead || s.queue.empty()) break;
        batch.swap(s.queue);  // the two vectors trade buffers: no allocation once warmed up
        s.in_flight = batch.size();
      }
      const std::size_t sent = send_all(s.fd, batch, stats_.bytes_out);
      count(stats_.deliveries, static_cast<std::int64_t>(sent));
      if (sent < batch.size()) {
        unsent = batch.size() - sent;
        cut_off(s);
        break;
      }
      batch.clear();
    }
    if (stopping_) {  // what the flush timeout left behind
      std::lock_guard lock(s.mutex);
      count(stats_.unflushed, static_cast<std::int64_t>(unsent + s.queue.size()));
    }
    thread_done(s);
  }

  void subscribe(const std::shared_ptr<Subscriber>& s, const std::string& channel) {
    std::lock_guard lock(registry_mutex_);
    registry_[channel].subscribers.push_back(s);
    count(stats_.subscribers);
  }

  void unsubscribe(const std::shared_ptr<Subscriber>& s, const std::string& channel) {
    std::lock_guard lock(registry_mutex_);
    const auto it = registry_.find(channel);
    std::erase(it->second.subscribers, s);
    if (it->second.subscribers.empty()) registry_.erase(it);
  }

  // A chunk's messages. Improved: a run of messages to one channel reaches each subscriber with
  // one lock and at most one wake-up. The event loop gets that coalescing for free (its writers
  // run only once the reader has handled the whole chunk); a writer thread woken per message
  // would cost a context switch per delivery. Naive: one message at a time, as in the book.
  void deliver(const std::vector<std::string>& channels, const std::vector<Message>& messages) {
    for (std::size_t i = 0, j = 0; i < messages.size(); i = j) {
      for (j = i + 1; improved_ && j < messages.size() && channels[j] == channels[i];) ++j;
      deliver(channels[i], std::span(messages).subspan(i, j - i));
    }
  }

  void deliver(const std::string& channel, std::span<const Message> ms) {
    std::vector<std::shared_ptr<Subscriber>> targets;  // naive: written to once the registry is unlocked
    {
      std::shared_lock lock(registry_mutex_);
      const auto it = registry_.find(channel);
      if (it == registry_.end()) return;
      const auto& subs = it->second.subscribers;
      const bool one = is_queue(channel);  // one subscriber per message, in turn
      for (std::size_t k = 0; k < (one ? ms.size() : subs.size()); ++k) {
        const auto& s = one ? subs[it->second.next.fetch_add(1) % subs.size()] : subs[k];
        if (improved_) offer(*s, one ? ms.subspan(k, 1) : ms);
        if (!improved_) targets.push_back(s);
      }
    }
    for (const auto& s : targets) send_now(*s, ms.front());  // naive: ms is one message
  }

  // Naive: the publisher's own thread writes, and waits for as long as the subscriber makes it.
  void send_now(Subscriber& s, const Message& m) {
    std::unique_lock lock(s.mutex);
    if (s.dead) return;
    if (send_all(s.fd, std::span(&m, 1), stats_.bytes_out) == 1) return count(stats_.deliveries);
    s.dead = true;
    lock.unlock();
    ::shutdown(s.fd, SHUT_RDWR);  // its reader wakes and ends the connection
  }

  // Improved: queue them, or apply the slow policy to what does not fit; never wait.
  void offer(Subscriber& s, std::span<const Message> ms) {
    std::size_t refused = 0;
    bool wake = false;
    {
      std::lock_guard lock(s.mutex);
      if (s.dead || s.closing) return;
      const std::size_t held = std::min(c_.queue_depth, s.queue.size() + s.in_flight);
      refused = ms.size() - std::min(ms.size(), c_.queue_depth - held);
      wake = s.queue.empty();  // only a writer with nothing queued may be asleep
      if (refused > 0 && !drop_) s.dead = true, s.queue.clear();
      if (refused == 0 || drop_)
        s.queue.insert(s.queue.end(), ms.begin(), ms.end() - static_cast<std::ptrdiff_t>(refused));
    }
    if (wake && refused < ms.size()) s.ready.notify_one();
    if (refused > 0 && drop_) count(stats_.dropped, static_cast<std::int64_t>(refused));
    if (refused > 0 && !drop_) count(stats_.slow_disconnects), cut_off(s);
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
  std::unordered_map<std::string, Channel> registry_;
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
