// What only the threads broker (threads/fanout.cpp) needs beside its reader and writer: the
// connection with its lock and condition variable, the counters bumped atomically, and the
// bookkeeping of a connection's threads: starting them, refusing a client when no thread can be
// started, joining the threads that ended and knowing when none is left. Its twin on the event
// loop is asyncloop/fanout_coroutines.hpp.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "scenarios/fanout_session.hpp"

namespace tvl::fanout::threads {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

constexpr auto kFlushPoll = std::chrono::milliseconds(2);       // shutdown: how often the threads are checked
constexpr auto kAcceptBackoff = std::chrono::milliseconds(10);  // out of descriptors: wait for one to be freed
constexpr auto kJoinEvery = std::chrono::milliseconds(100);     // how often the threads that ended are joined
using Clock = std::chrono::steady_clock;

// The counters are BrokerStats' own fields, bumped atomically by every thread and read once
// all of them have been joined.
inline void bump(std::int64_t& counter, std::int64_t n = 1) {
  std::atomic_ref(counter).fetch_add(n, std::memory_order_relaxed);
}

// Blocks until fd is readable or the time is up; says which.
bool readable(int fd, std::chrono::milliseconds limit);

// Asio's blocking calls with the error as a value, the way the event loop's as_tuple gives it.
std::pair<error_code, tcp::socket> accept(tcp::acceptor& acceptor);
std::pair<error_code, std::size_t> read_some(tcp::socket& s, asio::mutable_buffer into);  // again if a signal woke it
std::pair<error_code, std::size_t> write(tcp::socket& s, std::span<const char> bytes);    // all of it, or an error

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

// Improved, the writer thread: hands the last batch back, waits until the buffer has frames,
// then takes them all in exchange for its emptied batch (under s.mutex). False once the
// connection is cut off, or the reader ended and everything is written.
bool wait_for_batch(Connection& s, Outbox& batch);

// Improved, the writer thread at shutdown: the frames it leaves unwritten (under s.mutex).
std::int64_t unflushed(Connection& s, const Outbox& batch);

// Disconnect policy, under s.mutex: the reader that finds the buffer full alone disconnects
// it, and what its buffer holds is not left unflushed but never to be written.
inline void cut_off(Connection& s) {
  s.open = false;
  s.box.forget();
}

// Readers look channels up under a shared lock, so the /queue cursor is atomic.
using Channels = Registry<ConnectionPtr, std::atomic<std::size_t>>;

// Every connection with the threads serving it. The last of a connection's threads ends it
// (done()); the stopper thread joins the threads that ended every kJoinEvery, so that ended
// threads never pile up unjoined.
class ConnectionThreads {
 public:
  explicit ConnectionThreads(BrokerStats& stats) : stats_(stats) {}

  // Starts the connection's reader thread, and its writer thread first if with_writer. False
  // when a thread cannot be started (a limit of the system: warned once): the caller refuses
  // the client as if its reader had run and ended.
  template <typename Reader, typename Writer>
  bool start(const ConnectionPtr& s, bool with_writer, Reader reader, Writer writer) {
    // Those that ended are joined first, so that under a churn of connections the threads (their
    // stacks, and ThreadSanitizer's record of each) do not pile up between two of the stopper's
    // rounds.
    join_ended();
    s->threads = with_writer ? 2 : 1;
    std::unique_lock lock(mutex_);
    Threads& t = threads_[s.get()];
    t.connection = s;
    ++live_;
    try {
      if (with_writer) t.writer = std::thread(std::move(writer));
      t.reader = std::thread(std::move(reader));
      return true;
    } catch (const std::system_error& e) {
      const bool writer_runs = t.writer.joinable();
      lock.unlock();
      refused(e);
      if (with_writer && !writer_runs) done(s);
      return false;
    }
  }

  // One of s's threads ends; the last one shuts the socket down (the client sees the close now).
  void done(const ConnectionPtr& s);
  // Blocks until stop_fd is readable, joining the threads that ended meanwhile.
  void wait_for_stop(int stop_fd);
  void join();   // every thread, once the shutdown is over
  bool quiet();  // no connection has a thread still running

  template <typename F>
  void for_each(F&& f) {
    std::lock_guard lock(mutex_);
    for (auto& [s, t] : threads_) f(t.connection);
  }

 private:
  struct Threads {
    ConnectionPtr connection;
    std::thread reader;
    std::thread writer;
  };
  static void join(Threads& t);
  void join_ended();
  void refused(const std::system_error& e);

  BrokerStats& stats_;
  std::mutex mutex_;                                  // guards the three below
  std::unordered_map<Connection*, Threads> threads_;  // every connection's threads
  std::vector<Connection*> ended_;                    // connections whose threads have all ended, to join
  std::size_t live_ = 0;                              // connections with a thread still running
  bool warned_ = false;                               // the listener's alone
};

}  // namespace tvl::fanout::threads
