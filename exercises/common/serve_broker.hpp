// Exercise slow-consumer's broker child: the grader run as `<grader> broker ...` serves the
// student's run_broker() (slow_consumer_broker.hpp) until SIGTERM, printing where it listens and
// its counters at the end, the two lines BrokerChild (broker_child.hpp) reads.
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <string>

#include "slow_consumer_broker.hpp"
#include "stop_signals.hpp"

namespace tvl::exercise {

// `<this program> broker [--port N] [--max-frame N] [--queue-depth N] [--queue-bytes N]
// [--flush-timeout S]`: the student's broker until SIGTERM, as app/broker_cli.cpp runs a broker.
inline int serve_broker(int argc, char** argv) {
  fanout::BrokerConfig c;
  c.flush_timeout_s = 0.5;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--port") c.port = static_cast<std::uint16_t>(std::stoi(value));
    if (key == "--max-frame") c.max_frame = static_cast<std::uint32_t>(std::stoul(value));
    if (key == "--queue-depth") c.queue_depth = std::stoul(value);
    if (key == "--queue-bytes") c.queue_bytes = std::stoul(value);
    if (key == "--flush-timeout") c.flush_timeout_s = std::stod(value);
  }
  fanout::Control ctl;
  ctl.stop_fd = stop_fd_on_signals();
  ctl.listening = [&c](std::uint16_t port) {
    fmt::print("listening on {}:{}\n", c.host, port);
    std::fflush(stdout);
  };
  const fanout::BrokerStats s = run_broker(c, ctl);
  fmt::print(
      "{}{{\"accepted\":{},\"closed\":{},\"subscribers\":{},\"messages_in\":{},\"deliveries\":{},"
      "\"dropped\":{},\"slow_disconnects\":{},\"protocol_errors\":{},\"unflushed\":{},\"bytes_in\":{},"
      "\"bytes_out\":{}}}\n",
      fanout::kStatsLinePrefix, s.accepted, s.closed, s.subscribers, s.messages_in, s.deliveries, s.dropped,
      s.slow_disconnects, s.protocol_errors, s.unflushed, s.bytes_in, s.bytes_out);
  std::fflush(stdout);
  return 0;
}

}  // namespace tvl::exercise
