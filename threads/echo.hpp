// What the two thread models of the echo server share: a connection's life on a thread
// (threads/echo.cpp), and the connections being served with the threads serving them
// (threads/echo_connections.cpp). threads/echo.cpp starts a thread per connection,
// threads/echo_pool.cpp a fixed pool.
#pragma once

#include <pthread.h>

#include <boost/asio/ip/tcp.hpp>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_set>

#include "scenarios/echo.hpp"

namespace tvl::echo {

namespace asio = boost::asio;
using asio::ip::tcp;

class Connections;

// Serves one connection on the calling thread until the client leaves, a line is too long, or
// shutdown wakes the blocked read; then closes it and counts it ended (threads/echo.cpp).
void connection(tcp::socket s, const Config& c, Counters& n, Connections& open);

// The next connection, once one is waiting; nullopt once stop_fd is readable. A failed accept
// (out of descriptors, say) is tried again after kAcceptBackoff.
std::optional<tcp::socket> accept_next(tcp::acceptor& acceptor, int stop_fd);

// The sockets being served, so that shutdown can wake the threads blocked reading them, and the
// threads started, so that shutdown can wait for the last of them.
class Connections {
 public:
  bool add(tcp::socket* s);  // false once shutdown has begun: close it unserved
  void remove(tcp::socket* s);
  void shut_all();          // wakes every blocked read; connections that start now are closed unserved
  void wait_for_threads();  // until every thread started has ended

  // Runs fn() on a new detached thread whose stack is stack_kib KiB (0: the system's default),
  // counted until fn and everything it holds are gone. False when the thread cannot be created
  // (EAGAIN: a limit of the system); fn is then dropped unrun.
  template <typename Fn>
  bool start_thread(std::size_t stack_kib, Fn fn);

 private:
  void thread_started();
  void thread_ended();

  std::mutex lock_;
  std::condition_variable no_threads_;
  std::unordered_set<tcp::socket*> sockets_;
  std::size_t threads_ = 0;
  bool closing_ = false;
};

template <typename Fn>
bool Connections::start_thread(std::size_t stack_kib, Fn fn) {
  struct Job {
    Fn fn;
    Connections* crew;
    static void* run(void* arg) {
      auto job = std::unique_ptr<Job>(static_cast<Job*>(arg));
      Connections* const crew = job->crew;
      job->fn();
      job.reset();  // the socket it holds goes while the crew still waits for this thread
      crew->thread_ended();
      return nullptr;
    }
  };
  auto job = std::make_unique<Job>(Job{std::move(fn), this});
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (stack_kib > 0) pthread_attr_setstacksize(&attr, stack_kib * 1024);
  thread_started();
  pthread_t id;
  const int rc = pthread_create(&id, &attr, &Job::run, job.get());
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    thread_ended();
    return false;
  }
  job.release();  // the thread owns it now
  return true;
}

}  // namespace tvl::echo
