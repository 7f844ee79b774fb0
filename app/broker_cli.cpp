// `tvl broker`: the book's message broker (ch. 4) under one model, run in this process until
// SIGINT or SIGTERM. The sweeps, the capacity search and tvl-bench start it as a child process
// (load/fanout_point.cpp) and read the two lines it prints: where it listens, and its counters.
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "app/cli.hpp"
#include "app/serve_signals.hpp"
#include "catalog/catalog.hpp"
#include "load/loadgen.hpp"
#include "scenarios/fanout.hpp"

namespace tvl::cli {
namespace {

nlohmann::json stats_json(const fanout::BrokerStats& s) {
  return {{"accepted", s.accepted},
          {"closed", s.closed},
          {"subscribers", s.subscribers},
          {"messages_in", s.messages_in},
          {"deliveries", s.deliveries},
          {"dropped", s.dropped},
          {"slow_disconnects", s.slow_disconnects},
          {"protocol_errors", s.protocol_errors},
          {"unflushed", s.unflushed},
          {"bytes_in", s.bytes_in},
          {"bytes_out", s.bytes_out}};
}

// Runs a broker in this process until SIGINT or SIGTERM. Prints `listening on HOST:PORT` once
// bound and `tvl-broker-stats {json}` at the end: the harness reads both.
int run_broker(const fanout::BrokerConfig& c) {
  fanout::Control ctl;
  ctl.stop_fd = stop_fd_on_signals();
  load::raise_fd_limit(0);  // as many connections as the hard limit allows
  ctl.listening = [&c](std::uint16_t port) { say_listening("broker", c.host, port); };
  const auto stats = catalog::find_fanout(c.model, fanout::name_of(c.design))->broker(c, ctl);
  fmt::print("{}{}\n", fanout::kStatsLinePrefix, stats_json(stats).dump());
  std::fflush(stdout);
  return 0;
}

}  // namespace

void add_broker(Commands c) {
  auto cfg = std::make_shared<fanout::BrokerConfig>();
  auto* b = c.app.add_subcommand("broker", "run the book's message broker (ch. 4) until SIGINT or SIGTERM");
  b->add_option("--model", cfg->model, "threads, asyncloop, or asyncloop-mt (an event loop per core; improved only)")
      ->check(CLI::IsMember(catalog::fanout_broker_models()))
      ->capture_default_str();
  add_enum_option(b, "--design", cfg->design, fanout::parse_design,
                  "naive (the book's prototype) or improved (bounded queues, a writer each)");
  b->add_option("--host", cfg->host, "address to listen on (loopback unless told otherwise)")->capture_default_str();
  b->add_option("--port", cfg->port, "port (0: any free one, printed)")->capture_default_str();
  b->add_option("--max-frame", cfg->max_frame, "largest frame accepted, bytes")
      ->check(CLI::Range(1u, 1u << 30))
      ->capture_default_str();
  b->add_option("--queue-depth", cfg->queue_depth, "messages one subscriber's send queue holds (improved)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24))
      ->capture_default_str();
  b->add_option("--queue-bytes", cfg->queue_bytes, "bytes one subscriber's send queue holds (improved)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 34))
      ->capture_default_str();
  b->add_option("--loops", cfg->loops, "asyncloop-mt: event loops (0: one per CPU in this process's affinity mask)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  add_enum_option(b, "--slow-policy", cfg->slow_policy, fanout::parse_slow_policy,
                  "when a subscriber's queue is full: drop or disconnect");
  b->add_option("--flush-timeout", cfg->flush_timeout_s, "seconds to flush queued messages at shutdown")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  b->callback([cfg, &code = c.exit_code] {
    if (!catalog::find_fanout(cfg->model, fanout::name_of(cfg->design)))
      throw UsageError(fmt::format("broker: {} has no {} design (tvl list shows what exists)", cfg->model,
                                   fanout::name_of(cfg->design)));
    code = run_broker(*cfg);
  });
}

}  // namespace tvl::cli
