// Running one point of a sweep in a child process, so that a point which hits a limit of the
// machine (threads, memory, time) is recorded with its reason and the sweep goes on.
#pragma once

#include <string>
#include <vector>

namespace tvl::sweep {

struct Outcome {
  bool ok = false;         // exited 0
  int exit_code = -1;      // when it exited
  int signal = 0;          // when a signal killed it
  bool timed_out = false;  // killed by us after the timeout
  double seconds = 0;
  std::string output_tail;     // the last lines it printed (stdout and stderr)
  std::string reason() const;  // one line: why the point failed
};

// Runs argv[0] with argv, at most timeout_s seconds; address_space_mib > 0 caps the child's
// address space (RLIMIT_AS), the one limit that binds root too.
Outcome run_child(const std::vector<std::string>& argv, double timeout_s, long address_space_mib = 0);

// This program, for re-running it as a child.
std::string self_exe();

}  // namespace tvl::sweep
