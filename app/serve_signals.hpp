// What `tvl broker` and `tvl serve` share: a server in this process that runs until SIGINT or
// SIGTERM, and the warning for an address other machines can reach.
#pragma once

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace tvl::cli {

// True for an address only this machine can reach: 127.0.0.0/8, ::1, or the name localhost.
inline bool is_loopback(const std::string& host) {
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return host == "localhost";
}

// The descriptor a server watches to know when to stop: it becomes readable on the first SIGINT
// or SIGTERM. Call before any other thread exists: the signals are blocked in every thread and
// taken by one that only waits for them.
inline int stop_fd_on_signals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // before any thread exists: all inherit it
  int stop_pipe[2];
  if (pipe(stop_pipe) != 0) throw std::runtime_error("pipe failed");
  std::thread([stop_signals, w = stop_pipe[1]] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    [[maybe_unused]] const auto n = write(w, "x", 1);
  }).detach();
  return stop_pipe[0];
}

// Says `listening on HOST:PORT` (the line the harness and the tests wait for), after a warning
// when the address is not loopback: the protocols have no authentication.
inline void say_listening(std::string_view who, const std::string& host, std::uint16_t port) {
  if (!is_loopback(host))
    fmt::print(stderr,
               "tvl {}: WARNING: listening on {}, not loopback: any host that can reach this address may "
               "connect (the protocol has no authentication)\n",
               who, host);
  fmt::print("listening on {}:{}\n", host, port);
  std::fflush(stdout);
}

}  // namespace tvl::cli
