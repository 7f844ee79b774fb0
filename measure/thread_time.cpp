#include "measure/thread_time.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <system_error>

namespace tvl::metrics {

ThreadTime thread_time() {
  ThreadTime t;
  t.wall_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  char buf[128];
  ssize_t n = -1;
  if (const int fd = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC); fd >= 0) {
    n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
  }
  if (n > 0) {  // "ns on a CPU, ns waiting on a runqueue, timeslices"
    const char* end = buf + n;
    auto [p, ec] = std::from_chars(buf, end, t.cpu_ns);
    if (ec == std::errc() && p < end) std::from_chars(p + 1, end, t.wait_ns);
    return t;
  }
  timespec ts{};  // no schedstat (a kernel without CONFIG_SCHED_INFO): CPU time only
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  t.cpu_ns = ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
  return t;
}

double busy_between(const ThreadTime& a, const ThreadTime& b) {
  const auto wall = b.wall_ns - a.wall_ns;
  if (wall <= 0) return 0;
  return static_cast<double>(b.cpu_ns - a.cpu_ns + b.wait_ns - a.wait_ns) / static_cast<double>(wall);
}

}  // namespace tvl::metrics
