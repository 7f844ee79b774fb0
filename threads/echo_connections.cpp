// The thread models' bookkeeping (threads/echo.hpp): which sockets are being served and how many
// threads still run, under one lock, and the acceptor's wait that shutdown can interrupt.
#include <poll.h>

#include <cerrno>
#include <thread>

#include "scenarios/echo_net.hpp"
#include "threads/echo.hpp"

namespace tvl::echo {

bool Connections::add(tcp::socket* s) {
  std::lock_guard hold(lock_);
  if (closing_) return false;
  sockets_.insert(s);
  return true;
}

void Connections::remove(tcp::socket* s) {
  std::lock_guard hold(lock_);
  sockets_.erase(s);
}

void Connections::thread_started() {
  std::lock_guard hold(lock_);
  ++threads_;
}

void Connections::thread_ended() {
  std::lock_guard hold(lock_);
  if (--threads_ == 0) no_threads_.notify_all();
}

void Connections::shut_all() {
  std::lock_guard hold(lock_);
  closing_ = true;
  for (tcp::socket* s : sockets_) {
    boost::system::error_code ignored;
    s->shutdown(tcp::socket::shutdown_both, ignored);  // the blocked read returns
  }
}

void Connections::wait_for_threads() {
  std::unique_lock hold(lock_);
  no_threads_.wait(hold, [&] { return threads_ == 0; });
}

std::optional<tcp::socket> accept_next(tcp::acceptor& acceptor, int stop_fd) {
  for (;;) {
    pollfd fds[2] = {{acceptor.native_handle(), POLLIN, 0}, {stop_fd, POLLIN, 0}};
    while (::poll(fds, 2, -1) < 0)
      if (errno != EINTR) throw std::system_error(errno, std::generic_category(), "echo: poll");
    if ((fds[1].revents & POLLIN) != 0) return std::nullopt;
    boost::system::error_code ec;
    tcp::socket s = acceptor.accept(ec);
    if (!ec) return s;
    std::this_thread::sleep_for(kAcceptBackoff);
  }
}

}  // namespace tvl::echo
