// The echo server with a thread per connection: the book's Example 3-30 the way it is written
// without an event loop. Each connection has a thread of its own that blocks in read, in the
// request's wait (B) and in write; the kernel switches between the threads.
//
// Compare with asyncloop/echo.cpp: the same line framing, answer and spin (scenarios/echo.hpp);
// only the model changes — a thread per connection here, a coroutine per connection there.
#include "threads/echo.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "scenarios/echo_net.hpp"

namespace tvl::echo {

namespace {

// One request: the wait (B) as a blocking call, the way a blocking driver waits, and the CPU
// work (W), each holding this connection's thread only.
void respond(std::string_view line, const Config& c, std::string& out) {
  std::this_thread::sleep_for(c.block);
  spin(c.work);
  answer(line, out);
}

void serve(tcp::socket& s, const Config& c, Counters& n) {
  Lines lines(c.max_line);
  std::string out;
  boost::system::error_code ec;
  for (;;) {
    const std::span<char> room = lines.space();
    const std::size_t got = s.read_some(asio::buffer(room.data(), room.size()), ec);
    if (ec) return;
    n.bytes_in += static_cast<std::int64_t>(got);
    lines.filled(got);
    while (const auto line = lines.next()) {
      respond(*line, c, out);
      ++n.requests;
    }
    if (lines.too_long()) {
      ++n.protocol_errors;
      return;
    }
    asio::write(s, asio::buffer(out), ec);
    if (ec) return;
    n.bytes_out += static_cast<std::int64_t>(out.size());
    out.clear();
  }
}

void accept_all(tcp::acceptor& acceptor, int stop_fd, const Config& c, Counters& n, Connections& open) {
  for (;;) {
    auto s = accept_next(acceptor, stop_fd);
    if (!s) return;
    n.opened();
    auto served = [s = std::move(*s), &c, &n, &open]() mutable { connection(std::move(s), c, n, open); };
    if (!open.start_thread(c.stack_kib, std::move(served))) n.refused_one();  // no thread for it: closed unserved
  }
}

}  // namespace

void connection(tcp::socket s, const Config& c, Counters& n, Connections& open) {
  if (open.add(&s)) {
    serve(s, c, n);
    open.remove(&s);
  }
  s.close();
  n.ended();
}

Stats run_threads_echo(const Config& c, const Control& ctl) {
  asio::io_context io;  // owns the sockets; nothing runs on it
  tcp::acceptor acceptor = listen_on(io, c, ctl);
  Counters n;
  Connections open;
  accept_all(acceptor, ctl.stop_fd, c, n, open);
  open.shut_all();
  open.wait_for_threads();
  return snapshot(n);
}

}  // namespace tvl::echo
