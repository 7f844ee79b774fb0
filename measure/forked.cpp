// One measurement in a forked child (measure/forked.hpp): the fork, the pipe, the report's bytes.
#include "measure/forked.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include <fmt/format.h>

namespace tvl::forked::detail {

pid_t fork_with_pipe(int* fd) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(fds[0]);
    close(fds[1]);
    errno = err;
    return -1;
  }
  close(pid == 0 ? fds[0] : fds[1]);
  *fd = pid == 0 ? fds[1] : fds[0];
  return pid;
}

void send_and_exit(int fd, const void* bytes, std::size_t size) {
  const auto* from = static_cast<const char*>(bytes);
  for (std::size_t sent = 0; sent < size;) {
    const ssize_t k = write(fd, from + sent, size - sent);
    if (k <= 0 && errno != EINTR) _exit(3);
    if (k > 0) sent += static_cast<std::size_t>(k);
  }
  _exit(0);  // no atexit handlers, no destructors of the parent's objects
}

std::string receive(pid_t pid, int fd, int timeout_s, void* bytes, std::size_t size) {
  auto* to = static_cast<char*>(bytes);
  std::size_t got = 0;
  bool timed_out = false;
  while (got < size) {
    pollfd pfd{fd, POLLIN, 0};
    const int ready = poll(&pfd, 1, timeout_s * 1000);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      timed_out = true;
      kill(pid, SIGKILL);
    }
    if (ready <= 0) break;
    const ssize_t k = read(fd, to + got, size - got);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += static_cast<std::size_t>(k);
  }
  close(fd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (got == size) return {};
  if (timed_out) return fmt::format("no report within {} s; child killed", timeout_s);
  if (WIFSIGNALED(status))
    return fmt::format("child killed by signal {} ({}){}", WTERMSIG(status), strsignal(WTERMSIG(status)),
                       WTERMSIG(status) == SIGKILL ? ", out of memory?" : "");
  return fmt::format("child exited with status {} without a report", WEXITSTATUS(status));
}

}  // namespace tvl::forked::detail
