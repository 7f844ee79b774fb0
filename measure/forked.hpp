// One measurement in a forked child that reports a plain struct through a pipe: the child may
// run into a limit of the machine, be killed for memory or crash, and the parent only reads
// its report. Each point of the memory curves and of the thread ceiling runs this way, so that
// no point inherits the heap, the threads or the limits of the one before.
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>

namespace tvl::forked {

namespace detail {
// Forks with a pipe between the two: the child's pid (0 in the child, whose write end is
// *fd), or -1 with errno set; in the parent *fd is the read end.
pid_t fork_with_pipe(int* fd);
// In the child: writes the bytes, and _exit(0) (3 when the write failed); never returns.
[[noreturn]] void send_and_exit(int fd, const void* bytes, std::size_t size);
// In the parent: reads `size` bytes within timeout_s, reaps the child and closes fd. Empty
// when they all came; else why not: killed (and by which signal), exited silently, timed out.
std::string receive(pid_t pid, int fd, int timeout_s, void* bytes, std::size_t size);
}  // namespace detail

// Runs fill(report) in a forked child and returns the report it filled, or nullopt with
// `failure` saying why none came whole (the fork failed, the child was killed, it said nothing
// within timeout_s). fill must not throw: it catches what it can and writes it into the report.
template <class Report>
std::optional<Report> run(int timeout_s, const std::function<void(Report&)>& fill, std::string& failure) {
  static_assert(std::is_trivially_copyable_v<Report>, "a report crosses the pipe as plain bytes");
  int fd = -1;
  const pid_t pid = detail::fork_with_pipe(&fd);
  if (pid < 0) {
    failure = "fork failed: " + std::string(std::strerror(errno));
    return std::nullopt;
  }
  Report r{};
  if (pid == 0) {
    fill(r);
    detail::send_and_exit(fd, &r, sizeof r);
  }
  failure = detail::receive(pid, fd, timeout_s, &r, sizeof r);
  if (!failure.empty()) return std::nullopt;
  return r;
}

}  // namespace tvl::forked
