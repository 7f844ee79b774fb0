// Inside measure/: what the files behind measure/process.hpp share. The signal handler's table of
// children (signals.cpp) is filled as children start and emptied as they are reaped (child.cpp),
// and a child's affinity is a CPU set built before its fork (cpusets.cpp).
#pragma once

#include <sched.h>
#include <sys/types.h>

#include <vector>

namespace tvl::process::detail {

// Installs the handler of SIGINT, SIGTERM and SIGHUP once (see catch_interrupts()).
void install_handler();
// Adds a child to the table the handler stops, or takes it out once it has been reaped.
void remember(pid_t pid);
void forget(pid_t pid);

cpu_set_t cpu_set_of(const std::vector<int>& cpus);

}  // namespace tvl::process::detail
