// Child processes and CPU placement. A sweep point runs in a child, so that a point which hits a
// limit of the machine (threads, memory, time) is recorded with its reason and the sweep goes
// on; a broker runs in a child pinned apart from its load; children are stopped and reaped here.
#pragma once

#include <sys/types.h>

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>
#include <vector>

namespace tvl::process {

struct Outcome {
  bool ok = false;         // exited 0
  int exit_code = -1;      // when it exited
  int signal = 0;          // when a signal killed it
  bool timed_out = false;  // killed by us after the timeout
  double seconds = 0;
  std::string output_tail;     // the last lines it printed (stdout and stderr)
  std::string reason() const;  // one line: why the point failed
  // What the child said in fields when it stopped at a limit ({"kind", "detail"}, see
  // measure/limits.hpp); null when it did not.
  nlohmann::json limit() const;
};

// Runs argv[0] with argv, at most timeout_s seconds; address_space_mib > 0 caps the child's
// address space (RLIMIT_AS), the one limit that binds root too.
Outcome run_child(const std::vector<std::string>& argv, double timeout_s, long address_space_mib = 0);

// A long-running child (a broker) whose standard output we read line by line.
struct Child {
  pid_t pid = -1;
  int out_fd = -1;  // its stdout and stderr
  std::string pending;
};
// `cpus` non-empty: the child runs only on those CPUs (its affinity is set before exec, so
// every thread it starts inherits it).
Child spawn(const std::vector<std::string>& argv, const std::vector<int>& cpus = {});
// The next line the child prints that starts with `prefix` (others are skipped), within
// timeout_s; empty if none came (the child exited, or the time ran out).
std::string read_line(Child& c, const std::string& prefix, double timeout_s);
// Sends `sig`, waits up to timeout_s for the child to exit (then SIGKILL); returns its status.
int stop(Child& c, int sig, double timeout_s);

// The CPUs this process may run on (its affinity mask), in order.
std::vector<int> allowed_cpus();
// Parses "0", "0,1" or "0-3,6" into CPU numbers; throws std::invalid_argument naming the text
// when it is malformed or names a CPU this process may not use.
std::vector<int> parse_cpus(const std::string& text);
// Throws std::invalid_argument naming the first of `cpus` this process may not use.
void check_cpus(const std::vector<int>& cpus);
// Pins the calling thread to `cpus` (empty: leaves it alone); throws on failure.
void pin_this_thread(const std::vector<int>& cpus);

// Ctrl-C (SIGINT), SIGTERM and SIGHUP for a parent of children (a sweep, the capacity search).
// A terminal's Ctrl-C reaches the whole foreground process group, `kill -INT PID` only the
// parent: either way the parent must stop its children, keep what it finished and say so. Once
// catch_interrupts() has run, each of these signals sets a flag (interrupted()) and sends
// SIGTERM to every child started by run_child() or spawn() that is still running (a second
// signal sends SIGKILL); the parent checks the flag between points, drops the point the signal
// cut short, writes the finished ones and exits with 128 + the signal. After the signal spawn()
// starts nothing (it throws Interrupted) and run_child() kills what it started.
void catch_interrupts();
bool interrupted();
int interrupt_signal();        // the signal that interrupted this process (0: none)
std::string interrupt_name();  // "SIGINT", "SIGTERM", "SIGHUP" ("" when none)
inline int interrupted_exit_code() { return 128 + interrupt_signal(); }  // 130 for SIGINT
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};
// A program that has not called catch_interrupts() dies of these signals as by default (no
// destructors run), but first sends SIGTERM to its children still running (run_child(),
// spawn()) and removes the temporary files given here: remove_on_signal() when one is made,
// keep_on_signal() when it has been renamed or removed. At most 8 at a time (AtomicFile uses it).
void remove_on_signal(const std::string& path);
void keep_on_signal(const std::string& path);

// This program, for re-running it as a child.
std::string self_exe();

}  // namespace tvl::process
