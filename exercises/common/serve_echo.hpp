// Exercise run-in-executor's server child: the grader run as `<grader> serve echo ...` serves the
// student's run_server() (executor_server.hpp) until SIGINT or SIGTERM, speaking as `tvl serve
// echo` does (app/echo_cli.cpp): `listening on HOST:PORT` once bound, `tvl-echo-stats {json}`
// at the end, the two lines load/echo_point.cpp reads. Its counters add `loop_cpu_s`: the CPU
// time of the thread that called run_server(), the one the student's loop runs on.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "executor_server.hpp"
#include "load/echo_point.hpp"
#include "measure/thread_time.hpp"
#include "stop_signals.hpp"

namespace tvl::exercise {

// `<this program> serve echo [--port N] [--work-us N] [--threads N]`, the options of `tvl serve
// echo` that this server has; the others echo_point passes (--model, --block-ms...) are ignored.
inline int serve_echo(int argc, char** argv) {
  echo::Config c;
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--port") c.port = static_cast<std::uint16_t>(std::stoi(value));
    if (key == "--work-us") c.work = std::chrono::microseconds(std::stol(value));
    if (key == "--threads") c.threads = std::stoi(value);
  }
  echo::Control ctl;
  ctl.stop_fd = stop_fd_on_signals();  // before the pool's threads exist
  ctl.listening = [&c](std::uint16_t port) {
    fmt::print("listening on {}:{}\n", c.host, port);
    std::fflush(stdout);
  };
  const CpuWork work = CpuWork::calibrated(c.work);
  const metrics::ThreadTime before = metrics::thread_time();
  const echo::Stats s = run_server(c, work, ctl);
  const double loop_cpu_s = static_cast<double>(metrics::thread_time().cpu_ns - before.cpu_ns) / 1e9;
  fmt::print("{}{{\"accepted\":{},\"closed\":{},\"requests\":{},\"protocol_errors\":{},\"loop_cpu_s\":{}}}\n",
             echo_point::kStatsLinePrefix, s.accepted, s.closed, s.requests, s.protocol_errors, loop_cpu_s);
  std::fflush(stdout);
  return 0;
}

}  // namespace tvl::exercise
