// The signals that stop a parent of children (catch_interrupts) and the tables their handler
// reads: the children still running and the temporary files to remove. A handler may not lock
// or allocate, so both are fixed tables of atomics and paths in static storage.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>

#include "measure/process.hpp"
#include "measure/process_detail.hpp"

namespace tvl::process {

namespace {

// The children to stop when a signal interrupts this process: a fixed table of atomics, since
// the signal handler may only read them (no locks, no allocation in a handler).
constexpr int kMaxChildren = 64;
std::atomic<pid_t> g_children[kMaxChildren];
std::atomic<int> g_signal{0};   // the first interrupting signal
std::atomic<int> g_signals{0};  // how many have come
std::atomic<pid_t> g_owner{0};  // the process that installed the handler (not a forked child)

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

}  // namespace

namespace detail {

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

}  // namespace detail

void catch_interrupts() {
  g_polled = true;
  detail::install_handler();
}

bool interrupted() { return g_signal.load() != 0; }
int interrupt_signal() { return g_signal.load(); }

std::string interrupt_name() {
  const int sig = interrupt_signal();
  return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "";
}

void remove_on_signal(const std::string& path) {
  if (path.size() >= PATH_MAX) return;
  detail::install_handler();
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

}  // namespace tvl::process
