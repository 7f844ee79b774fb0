// The threads broker's thread bookkeeping (threads/fanout_threads.hpp).
#include "threads/fanout_threads.hpp"

#include <poll.h>

#include <cstdio>

#include "measure/metrics.hpp"

namespace tvl::fanout::threads {

bool readable(int fd, std::chrono::milliseconds limit) {
  pollfd wait_for{fd, POLLIN, 0};
  return ::poll(&wait_for, 1, static_cast<int>(limit.count())) > 0;
}

std::pair<error_code, tcp::socket> accept(tcp::acceptor& acceptor) {
  error_code ec;
  tcp::socket socket = acceptor.accept(ec);
  return {ec, std::move(socket)};
}

std::pair<error_code, std::size_t> read_some(tcp::socket& s, asio::mutable_buffer into) {
  for (;;) {
    error_code ec;
    const std::size_t n = s.read_some(into, ec);
    if (ec != asio::error::interrupted) return {ec, n};
  }
}

std::pair<error_code, std::size_t> write(tcp::socket& s, std::span<const char> bytes) {
  error_code ec;
  const std::size_t n = asio::write(s, asio::buffer(bytes.data(), bytes.size()), ec);
  return {ec, n};
}

bool wait_for_batch(Connection& s, Outbox& batch) {
  std::unique_lock lock(s.mutex);
  s.box.hand_back();  // the last batch is out
  s.ready.wait(lock, [&s] { return !s.box.empty() || s.closing || !s.open; });
  if (!s.open || s.box.empty()) return false;
  s.box.hand_over(batch);
  return true;
}

std::int64_t unflushed(Connection& s, const Outbox& batch) {
  std::lock_guard lock(s.mutex);
  return static_cast<std::int64_t>(batch.queued + s.box.queued);
}

void ConnectionThreads::done(const ConnectionPtr& s) {
  if (s->threads.fetch_sub(1) != 1) return;
  error_code ignored;
  s->socket.shutdown(tcp::socket::shutdown_both, ignored);
  bump(stats_.closed);
  std::lock_guard lock(mutex_);
  ended_.push_back(s.get());
  --live_;
}

void ConnectionThreads::wait_for_stop(int stop_fd) {
  while (!readable(stop_fd, kJoinEvery)) join_ended();
}

void ConnectionThreads::join_ended() {
  std::vector<Threads> ended;
  {
    std::lock_guard lock(mutex_);
    for (Connection* s : std::exchange(ended_, {})) ended.push_back(std::move(threads_.extract(s).mapped()));
  }
  for (Threads& t : ended) join(t);  // the socket closes here, unless a naive publisher still holds it
}

void ConnectionThreads::join() {
  for (auto& [s, t] : threads_) join(t);
  threads_.clear();
}

bool ConnectionThreads::quiet() {
  std::lock_guard lock(mutex_);
  return live_ == 0;
}

void ConnectionThreads::join(Threads& t) {
  if (t.reader.joinable()) t.reader.join();
  if (t.writer.joinable()) t.writer.join();
}

// Out of threads: this client is refused, the others are served.
void ConnectionThreads::refused(const std::system_error& e) {
  if (!std::exchange(warned_, true))
    std::fprintf(stderr, "broker (threads): %s; refusing clients. %s\n", e.what(), metrics::thread_limits().c_str());
}

}  // namespace tvl::fanout::threads
