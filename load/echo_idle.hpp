// The ceiling of an echo server: connections held open and idle against `tvl serve echo` (a
// thread per connection with the default or a small stack, or one event loop), the server's
// RSS read at each N, up to what the load process's open-files limit lets it open.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tvl::echo_idle {

struct Params {
  std::string model = "asyncloop";  // threads | asyncloop
  std::size_t stack_kib = 0;        // threads: each connection's thread stack (0: the default)
  std::vector<int> connections{1'000, 2'000, 5'000, 10'000, 19'000};
  int spare_fds = 64;     // descriptors the load keeps for itself (files, pipes, the server's output)
  int spare_pids = 1024;  // threads: the server is never led to take the machine's last pids
  std::string tvl_exe;    // runs `tvl serve echo` (empty: this very program)
};

struct Row {
  int connections = 0;  // N asked for
  int opened = 0;       // open, each answered once, when the server's RSS was read
  bool reached = false;
  std::int64_t rss_before_kib = 0;  // the server's VmRSS before the first connection
  std::int64_t rss_kib = 0;         // with `opened` idle connections
  std::string limit_name;           // why it stopped ("RLIMIT_NOFILE (load)", an errno); empty: reached
  std::int64_t limit_value = -1;
  std::string limit;  // "stopped at N: ..."; empty when reached
  double kib_per_connection() const;
};

// Starts the server, then opens connections up to each N in turn (each says one line and
// reads its answer, so the server has served it), reads the server's RSS, and stops at the
// first N it cannot reach. Throws when the server does not start.
std::vector<Row> climb(const Params& p);

}  // namespace tvl::echo_idle
