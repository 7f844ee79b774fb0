#include "measure/process.hpp"

#include "measure/limits.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

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

// The children to stop when a signal interrupts this process: a fixed table of atomics, since
// the signal handler may only read them (no locks, no allocation in a handler).
constexpr int kMaxChildren = 64;
std::atomic<pid_t> g_children[kMaxChildren];
std::atomic<int> g_signal{0};   // the first interrupting signal
std::atomic<int> g_signals{0};  // how many have come
std::atomic<pid_t> g_owner{0};  // the process that installed the handler (not a forked child)

void remember(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, pid)) break;
  }
  if (interrupted()) kill(pid, SIGTERM);  // the signal came while it was being started
}

void forget(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t p = pid;
    if (slot.compare_exchange_strong(p, 0)) break;
  }
}

// Temporary files to remove should a signal end this process (remove_on_signal): paths in
// static storage, since the handler may not allocate.
constexpr int kMaxDoomed = 8;
char g_doomed[kMaxDoomed][PATH_MAX];
std::atomic<bool> g_doomed_used[kMaxDoomed];
std::atomic<bool> g_polled{false};  // catch_interrupts() ran: the program polls interrupted()
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

void on_stop_signal(int sig) {
  const int saved_errno = errno;
  // A forked child (before its exec, or one that never execs) shares the tables but owns
  // nothing in them: it dies of the signal, as it would without this handler.
  const bool owner = getpid() == g_owner.load();
  if (!owner || !g_polled.load()) {  // nothing will look at a flag: clean up, and die of it
    if (owner) {
      for (int i = 0; i < kMaxDoomed; ++i)
        if (g_doomed_used[i].load()) unlink(g_doomed[i]);
      for (auto& slot : g_children)
        if (const pid_t pid = slot.load(); pid > 0) kill(pid, SIGTERM);
    }
    signal(sig, SIG_DFL);
    raise(sig);
    errno = saved_errno;
    return;
  }
  int none = 0;
  g_signal.compare_exchange_strong(none, sig);
  const bool again = g_signals.fetch_add(1) > 0;
  for (auto& slot : g_children)
    if (const pid_t pid = slot.load(); pid > 0) kill(pid, again ? SIGKILL : SIGTERM);
  errno = saved_errno;
}

void install_handler() {
  static std::atomic<bool> installed{false};
  if (installed.exchange(true)) return;
  g_owner = getpid();
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // blocking calls elsewhere go on; the loops here poll the flag
  for (const int sig : kStopSignals) sigaction(sig, &sa, nullptr);
}

// How long a child stopped by an interrupt may take to exit before it is killed.
constexpr auto kInterruptGrace = std::chrono::seconds(3);

}  // namespace

void catch_interrupts() {
  g_polled = true;
  install_handler();
}

bool interrupted() { return g_signal.load() != 0; }
int interrupt_signal() { return g_signal.load(); }

std::string interrupt_name() {
  const int sig = interrupt_signal();
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "";
}

void remove_on_signal(const std::string& path) {
  if (path.size() >= PATH_MAX) return;
  install_handler();
  for (int i = 0; i < kMaxDoomed; ++i) {
    if (g_doomed_used[i].load()) continue;
    std::memcpy(g_doomed[i], path.c_str(), path.size() + 1);
    g_doomed_used[i].store(true);  // after the path is whole: the handler reads it from here on
    return;
  }
}

void keep_on_signal(const std::string& path) {
  for (int i = 0; i < kMaxDoomed; ++i)
    if (g_doomed_used[i].load() && path == g_doomed[i]) g_doomed_used[i].store(false);
}

// The last bytes of a child's output kept for its failure reason (several lines, a limit line).
constexpr std::size_t kOutputTailBytes = 8192;

// /proc/self/exe itself, not the path it points to: it still runs this very program when the
// file has been rebuilt (replaced) while a long sweep was going on.
std::string self_exe() { return "/proc/self/exe"; }

Outcome run_child(const std::vector<std::string>& argv, double timeout_s, long address_space_mib) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {  // the child: only async-signal-safe calls until exec
    if (address_space_mib > 0) {
      const rlim_t bytes = static_cast<rlim_t>(address_space_mib) * 1024 * 1024;
      const rlimit lim{bytes, bytes};
      setrlimit(RLIMIT_AS, &lim);
    }
    dup2(out[1], STDOUT_FILENO);
    dup2(out[1], STDERR_FILENO);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  install_handler();  // a signal that ends this program stops the child too
  remember(pid);
  Outcome o;
  const auto deadline = t0 + std::chrono::duration<double>(timeout_s);
  std::optional<std::chrono::steady_clock::time_point> kill_at;  // once interrupted: SIGKILL then
  char buf[4096];
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
    pollfd pfd{out[0], POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(std::min<long>(left.count(), 100))) <= 0) continue;
    const ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;  // the child closed its output: it is exiting
    o.output_tail.append(buf, static_cast<std::size_t>(n));
    if (o.output_tail.size() > kOutputTailBytes) o.output_tail.erase(0, o.output_tail.size() - kOutputTailBytes);
  }
  close(out[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  forget(pid);
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  o.ok = !o.timed_out && WIFEXITED(status) && o.exit_code == 0;
  return o;
}

namespace {

cpu_set_t cpu_set_of(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (const int c : cpus) CPU_SET(c, &set);
  return set;
}

}  // namespace

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) throw std::runtime_error("sched_getaffinity failed");
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

void check_cpus(const std::vector<int>& cpus) {
  const auto allowed = allowed_cpus();
  for (const int c : cpus)
    if (std::find(allowed.begin(), allowed.end(), c) == allowed.end()) {
      std::string list;
      for (const int a : allowed) list += (list.empty() ? "" : ",") + std::to_string(a);
      throw std::invalid_argument("CPU " + std::to_string(c) + " is not available (this process may use " + list + ")");
    }
}

std::vector<int> parse_cpus(const std::string& text) {
  std::set<int> cpus;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    std::size_t used = 0;
    int first = -1, last = -1;
    try {
      first = std::stoi(item, &used);
      last = first;
      if (used < item.size() && item[used] == '-') last = std::stoi(item.substr(used + 1), &used), used = item.size();
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || first < 0 || last < first)
      throw std::invalid_argument("'" + text + "' is not a CPU list (like 0 or 0,1 or 0-3)");
    for (int c = first; c <= last; ++c) cpus.insert(c);
  }
  if (cpus.empty()) throw std::invalid_argument("an empty CPU list");
  std::vector<int> list(cpus.begin(), cpus.end());
  check_cpus(list);
  return list;
}

void pin_this_thread(const std::vector<int>& cpus) {
  if (cpus.empty()) return;
  const cpu_set_t set = cpu_set_of(cpus);
  if (const int e = pthread_setaffinity_np(pthread_self(), sizeof set, &set); e != 0)
    throw std::runtime_error(std::string("cannot pin a thread: ") + strerror(e));
}

Child spawn(const std::vector<std::string>& argv, const std::vector<int>& cpus) {
  if (interrupted()) throw Interrupted();
  const cpu_set_t set = cpu_set_of(cpus);  // built before fork: the child only makes system calls
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (!cpus.empty() && sched_setaffinity(0, sizeof set, &set) != 0) _exit(126);
    dup2(out[1], STDOUT_FILENO);
    dup2(out[1], STDERR_FILENO);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  install_handler();  // a signal that ends this program stops the child too
  remember(pid);
  return {pid, out[0], {}};
}

std::string read_line(Child& c, const std::string& prefix, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  char buf[4096];
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
    usleep(10'000);
  }
  forget(c.pid);
  c.pid = -1;
  return status;
}

}  // namespace tvl::process
