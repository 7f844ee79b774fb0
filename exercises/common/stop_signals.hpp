// What the graders' server children share: SIGINT and SIGTERM turned into a descriptor that
// becomes readable, the stop_fd a server's Control waits on (as app/serve_signals.hpp does for
// `tvl broker` and `tvl serve`).
#pragma once

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

namespace tvl::exercise {

// Call before any other thread exists: every thread inherits the blocked signals, so only the
// waiter here receives them. Returns the descriptor to wait on.
inline int stop_fd_on_signals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  int stop_pipe[2];
  if (::pipe(stop_pipe) != 0) throw std::runtime_error("pipe failed");
  std::thread([stop_signals, w = stop_pipe[1]] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    [[maybe_unused]] const auto n = ::write(w, "x", 1);
  }).detach();
  return stop_pipe[0];
}

}  // namespace tvl::exercise
