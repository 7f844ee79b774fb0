// Child processes: a sweep point that runs to its end (run_child) and a broker whose output is
// read line by line (spawn). Both start the same way (fork_exec): a pipe for the child's output,
// fork, the child's setup, exec; the signal handler is told of the child so that an interrupt
// stops it too.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "measure/limits.hpp"
#include "measure/process.hpp"
#include "measure/process_detail.hpp"

namespace tvl::process {

std::string Outcome::reason() const {
  if (ok) return "";
  std::string last;  // the last non-empty line the child printed, its limit line (limit()) aside
  std::string said = output_tail;
  if (const std::size_t at = said.rfind(limits::kLinePrefix);
      at != std::string::npos && (at == 0 || said[at - 1] == '\n'))
    said.erase(at, said.find('\n', at) - at);
  std::size_t end = said.find_last_not_of("\n ");
  if (end != std::string::npos) {
    const std::size_t begin = said.rfind('\n', end);
    last =
        said.substr(begin == std::string::npos ? 0 : begin + 1, end - (begin == std::string::npos ? 0 : begin + 1) + 1);
  }
  if (timed_out) return "no result within the time limit (killed)" + (last.empty() ? "" : "; last said: " + last);
  if (signal == SIGKILL)
    return "killed by SIGKILL (likely out of memory)" + (last.empty() ? "" : "; last said: " + last);
  if (signal != 0) return std::string("killed by signal ") + strsignal(signal) + (last.empty() ? "" : "; " + last);
  return "exit code " + std::to_string(exit_code) + (last.empty() ? "" : ": " + last);
}

nlohmann::json Outcome::limit() const {
  const std::string prefix(limits::kLinePrefix);
  const std::size_t at = output_tail.rfind(prefix);
  if (ok || at == std::string::npos || (at > 0 && output_tail[at - 1] != '\n')) return nullptr;
  const std::size_t end = output_tail.find('\n', at);
  const auto parsed = nlohmann::json::parse(output_tail.substr(at + prefix.size(), end - at - prefix.size()), nullptr,
                                            /*allow_exceptions=*/false);
  return parsed.is_object() && parsed.contains("kind") ? parsed : nlohmann::json(nullptr);
}

namespace {

// How long a child stopped by an interrupt may take to exit before it is killed.
constexpr auto kInterruptGrace = std::chrono::seconds(3);

// The last bytes of a child's output kept for its failure reason (several lines, a limit line).
constexpr std::size_t kOutputTailBytes = 8192;

constexpr rlim_t kBytesPerMib = 1024 * 1024;

// How much of a child's output one read takes.
constexpr std::size_t kReadChunkBytes = 4096;
// While its child is quiet, run_child wakes this often to look for an interrupt.
constexpr int kInterruptPollMs = 100;
// How often stop() looks whether its child has exited.
constexpr useconds_t kExitPollUs = 10'000;

// How a child that could not be set up or started exits (the shell's codes for the same).
constexpr int kExitCannotPin = 126;
constexpr int kExitCannotExec = 127;

// How the child is set up between fork and exec. It is all prepared before the fork: until it
// execs, the child may only make async-signal-safe calls (no allocation).
struct ChildSetup {
  std::optional<rlimit> address_space;  // RLIMIT_AS for the child
  std::optional<cpu_set_t> cpus;        // the child's affinity, inherited by every thread it starts
  bool search_path = false;             // look argv[0] up on PATH (execvp) rather than take it as a path
};

struct Started {
  pid_t pid;
  int out_fd;  // the child's stdout and stderr
};

// Starts argv[0] with argv, its stdout and stderr on a pipe whose read end is returned. The
// signal handler is installed and told of the child, so that a signal ending this program stops
// it too.
Started fork_exec(const std::vector<std::string>& argv, const ChildSetup& setup) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {  // the child: only async-signal-safe calls until exec
    if (setup.address_space) setrlimit(RLIMIT_AS, &*setup.address_space);
    if (setup.cpus && sched_setaffinity(0, sizeof *setup.cpus, &*setup.cpus) != 0) _exit(kExitCannotPin);
    dup2(out[1], STDOUT_FILENO);
    dup2(out[1], STDERR_FILENO);
    if (setup.search_path)
      execvp(args[0], args.data());
    else
      execv(args[0], args.data());
    _exit(kExitCannotExec);
  }
  close(out[1]);
  detail::install_handler();
  detail::remember(pid);
  return {pid, out[0]};
}

}  // namespace

// /proc/self/exe itself, not the path it points to: it still runs this very program when the
// file has been rebuilt (replaced) while a long sweep was going on.
std::string self_exe() { return "/proc/self/exe"; }

Outcome run_child(const std::vector<std::string>& argv, double timeout_s, long address_space_mib) {
  ChildSetup setup;
  if (address_space_mib > 0) {
    const rlim_t bytes = static_cast<rlim_t>(address_space_mib) * kBytesPerMib;
    setup.address_space = rlimit{bytes, bytes};
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto [pid, out_fd] = fork_exec(argv, setup);
  Outcome o;
  const auto deadline = t0 + std::chrono::duration<double>(timeout_s);
  std::optional<std::chrono::steady_clock::time_point> kill_at;  // once interrupted: SIGKILL then
  char buf[kReadChunkBytes];
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (interrupted() && !kill_at) kill_at = now + kInterruptGrace;
    if (kill_at && now >= *kill_at) {
      kill(pid, SIGKILL);
      break;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    if (left.count() <= 0) {
      o.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd pfd{out_fd, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(std::min<long>(left.count(), kInterruptPollMs))) <= 0) continue;
    const ssize_t n = read(out_fd, buf, sizeof buf);
    if (n <= 0) break;  // the child closed its output: it is exiting
    o.output_tail.append(buf, static_cast<std::size_t>(n));
    if (o.output_tail.size() > kOutputTailBytes) o.output_tail.erase(0, o.output_tail.size() - kOutputTailBytes);
  }
  close(out_fd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  detail::forget(pid);
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  o.ok = !o.timed_out && WIFEXITED(status) && o.exit_code == 0;
  return o;
}

Child spawn(const std::vector<std::string>& argv, const std::vector<int>& cpus) {
  if (interrupted()) throw Interrupted();
  ChildSetup setup;
  setup.search_path = true;
  if (!cpus.empty()) setup.cpus = detail::cpu_set_of(cpus);
  const auto [pid, out_fd] = fork_exec(argv, setup);
  return {pid, out_fd, {}};
}

std::string read_line(Child& c, const std::string& prefix, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  char buf[kReadChunkBytes];
  for (;;) {
    for (std::size_t nl; (nl = c.pending.find('\n')) != std::string::npos;) {
      std::string line = c.pending.substr(0, nl);
      c.pending.erase(0, nl + 1);
      if (line.rfind(prefix, 0) == 0) return line;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return {};
    pollfd pfd{c.out_fd, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = read(c.out_fd, buf, sizeof buf);
    if (n <= 0) return {};
    c.pending.append(buf, static_cast<std::size_t>(n));
  }
}

int stop(Child& c, int sig, double timeout_s) {
  if (c.pid <= 0) return -1;
  kill(c.pid, sig);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int status = 0;
  while (waitpid(c.pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(c.pid, SIGKILL);
      waitpid(c.pid, &status, 0);
      break;
    }
    usleep(kExitPollUs);
  }
  detail::forget(c.pid);
  c.pid = -1;
  return status;
}

}  // namespace tvl::process
