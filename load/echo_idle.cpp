// Idle connections against `tvl serve echo`: what each costs the server, and where the
// load's open-files limit stops the climb.
#include "load/echo_idle.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "load/loadgen.hpp"
#include "measure/metrics.hpp"
#include "measure/process.hpp"
#include "scenarios/ceiling.hpp"

namespace tvl::echo_idle {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

constexpr double kStartTimeoutS = 10;  // the server says where it listens within this
constexpr double kStopTimeoutS = 20;   // and stops within this of SIGINT (a thread per connection)
constexpr std::string_view kHello = "idle\n";
constexpr std::string_view kAnswer = "IDLE";

process::Child start(const Params& p, std::uint16_t& port) {
  std::vector<std::string> argv{p.tvl_exe.empty() ? process::self_exe() : p.tvl_exe,
                                "serve",
                                "echo",
                                "--model",
                                p.model,
                                "--port",
                                "0",
                                "--stack-kib",
                                std::to_string(p.stack_kib)};
  process::Child child = process::spawn(argv);
  const std::string line = process::read_line(child, "listening on ", kStartTimeoutS);
  if (line.empty()) {
    process::stop(child, SIGKILL, 1);
    throw std::runtime_error(fmt::format("the {} echo server did not say where it listens", p.model));
  }
  port = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
  return child;
}

// One more connection that the server has answered once; what went wrong if not.
boost::system::error_code open_one(asio::io_context& io, std::uint16_t port,
                                   std::vector<std::unique_ptr<tcp::socket>>& open) {
  auto s = std::make_unique<tcp::socket>(io);
  boost::system::error_code ec;
  s->connect({asio::ip::address_v4::loopback(), port}, ec);
  if (!ec) asio::write(*s, asio::buffer(kHello), ec);
  asio::streambuf in;
  if (!ec) asio::read_until(*s, in, '\n', ec);
  if (ec) return ec;
  std::string line(asio::buffers_begin(in.data()), asio::buffers_end(in.data()));
  if (!line.starts_with(kAnswer)) return make_error_code(boost::system::errc::protocol_error);
  open.push_back(std::move(s));
  return {};
}

// Why connection `opened + 1` failed. The load's own descriptors are one limit; a server that
// closed the connection unserved could not start a thread for it, which is read against the
// machine's thread limits as they stand now.
void name_failure(const boost::system::error_code& ec, std::int64_t fds, Row& row, int opened) {
  const bool ours = ec == boost::system::errc::too_many_files_open;
  const bool refused = ec == asio::error::eof || ec == asio::error::connection_reset;
  if (ours) {
    row.limit_name = "RLIMIT_NOFILE (load)";
    row.limit_value = fds;
  } else if (refused) {
    const ceiling::Limit l = ceiling::name_limit(EAGAIN, false, opened, ceiling::read_system());
    row.limit_name = l.name;
    row.limit_value = l.value;
  } else {
    row.limit_name = ec.message();
  }
  row.limit = fmt::format("stopped at {}: connection {} failed: {}{}", row.connections, opened + 1, ec.message(),
                          refused ? fmt::format(" (the server closed it unserved; {})", row.limit_name) : "");
}

// How many connections a thread-per-connection server may hold without taking the machine's
// last pids: those open now and the headroom.
std::int64_t thread_room(const Params& p, std::size_t open_now) {
  const ceiling::Headroom h = ceiling::thread_headroom(ceiling::read_system(), p.spare_pids);
  return h.threads < 0 ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(open_now) + h.threads;
}

std::int64_t rss_of(pid_t pid) {
  const auto m = metrics::memory(pid);
  return m ? m->rss_kib : 0;
}

}  // namespace

double Row::kib_per_connection() const {
  return opened > 0 ? static_cast<double>(rss_kib - rss_before_kib) / opened : 0.0;
}

std::vector<Row> climb(const Params& p) {
  const std::int64_t fds = load::raise_fd_limit(0);  // the server inherits it
  std::uint16_t port = 0;
  process::Child server = start(p, port);
  asio::io_context io;
  std::vector<std::unique_ptr<tcp::socket>> open;
  const std::int64_t before = rss_of(server.pid);
  std::vector<Row> rows;
  for (const int n : p.connections) {
    Row row;
    row.connections = n;
    row.rss_before_kib = before;
    if (n + p.spare_fds > fds) {
      row.limit_name = "RLIMIT_NOFILE (load)";
      row.limit_value = fds;
      row.limit = fmt::format(
          "stopped at {}: {} connections and the load's {} spare descriptors pass its open-files limit, "
          "RLIMIT_NOFILE = {}",
          n, n, p.spare_fds, fds);
    }
    const std::int64_t room = p.model == "threads" ? thread_room(p, open.size()) : n;
    int goal = static_cast<int>(std::min<std::int64_t>(n, room));
    boost::system::error_code ec;
    while (row.limit.empty() && static_cast<int>(open.size()) < goal && !ec) {
      // Other processes make threads too: the pids left are read again on the way.
      const bool check = p.model == "threads" && open.size() % ceiling::kCheckEvery == 0;
      if (check && ceiling::thread_headroom_now(p.spare_pids).threads <= 0) {
        goal = static_cast<int>(open.size());
        break;
      }
      ec = open_one(io, port, open);
    }
    if (ec) {
      name_failure(ec, fds, row, static_cast<int>(open.size()));
    } else if (row.limit.empty() && goal < n) {
      const ceiling::Limit l = ceiling::name_limit(0, true, goal, ceiling::read_system());
      row.limit_name = l.name;
      row.limit_value = l.value;
      row.limit = fmt::format("stopped at {}: a thread per connection, {}", n, l.text);
    }
    row.opened = static_cast<int>(open.size());
    row.rss_kib = rss_of(server.pid);
    row.reached = row.limit.empty();
    rows.push_back(row);
    if (!row.reached) break;
  }
  open.clear();
  process::stop(server, SIGINT, kStopTimeoutS);
  close(server.out_fd);
  return rows;
}

}  // namespace tvl::echo_idle
