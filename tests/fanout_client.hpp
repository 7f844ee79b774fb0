// A small blocking client for the fan-out protocol, for tests: connect to 127.0.0.1:port,
// send frames, read frames with a time limit.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include "scenarios/fanout.hpp"

namespace tvl::testing {

class Client {
 public:
  explicit Client(std::uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + " failed");
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  // A client whose first frame subscribes it to `channel` (a publisher: one nobody sends to).
  Client(std::uint16_t port, const std::string& channel) : Client(port) { subscribe(channel); }
  Client(const Client&) = delete;
  ~Client() { close(); }

  void close() {
    if (fd_ >= 0) ::close(fd_), fd_ = -1;
  }

  // Sends raw bytes (a frame, several, half of one, garbage).
  void send_raw(const std::string& bytes) {
    for (std::size_t off = 0; off < bytes.size();) {
      const ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send failed");
      off += static_cast<std::size_t>(n);
    }
  }
  void subscribe(const std::string& channel) { send_raw(fanout::frame(channel)); }
  void publish(const std::string& channel, const std::string& data) {
    send_raw(fanout::frame(channel) + fanout::frame(data));
  }
  // The empty channel ends the client's sends, and the end of the stream follows: a broker
  // closes the connection then, if not already at the empty channel.
  void end() {
    send_raw(fanout::frame(""));
    ::shutdown(fd_, SHUT_WR);
  }

  // The next frame, or nothing within `limit` (or when the broker closed the connection).
  std::optional<std::string> read_frame(std::chrono::milliseconds limit = std::chrono::milliseconds(2000)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (auto f = parser_.next()) return f;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_by_peer_ = true;
        return std::nullopt;
      }
      parser_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    }
  }

  // True once the broker has closed this connection (read returns end of stream).
  bool closed_by_peer(std::chrono::milliseconds limit = std::chrono::milliseconds(2000)) {
    while (!closed_by_peer_ && read_frame(limit)) {
    }
    return closed_by_peer_;
  }

  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  fanout::FrameParser parser_{UINT32_MAX};
  bool closed_by_peer_ = false;
};

}  // namespace tvl::testing
