// What exercise run-in-executor's server.cpp defines and its grader runs
// (exercises/run-in-executor/). The grader runs it in a child process, as `tvl serve echo` runs
// the project's echo servers, and loads it with the project's load generator.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include "cpu_work.hpp"
#include "scenarios/echo.hpp"

namespace tvl::exercise {

// Listens on c.host:c.port (0: any free port, told through ctl.listening) and serves the book's
// echo protocol — a line in, the line upper-cased back, after `work` — on one event loop, with a
// pool of c.threads threads beside it, until ctl.stop_fd is readable; returns its counters.
echo::Stats run_server(const echo::Config& c, const CpuWork& work, const echo::Control& ctl);

}  // namespace tvl::exercise
