// `tvl serve echo`: the book's echo server (ch. 3, Example 3-30) under one model, run in this
// process until SIGINT or SIGTERM, so that any client — nc, the book's own, a class's — can talk
// to it: a line in, the same line upper-cased back. It prints where it listens, and its counters
// at the end (`tvl-echo-stats {json}`).
#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

#include "app/cli.hpp"
#include "app/serve_signals.hpp"
#include "catalog/catalog.hpp"
#include "load/loadgen.hpp"
#include "scenarios/echo.hpp"

namespace tvl::cli {
namespace {

constexpr std::string_view kEchoStatsPrefix = "tvl-echo-stats ";

struct ServeOptions {
  std::string model = "asyncloop";
  std::string variant;  // empty: the model's first
  echo::Config config;
  double work_us = 0, block_ms = 0;
};

nlohmann::json stats_json(const echo::Stats& s) {
  return {{"accepted", s.accepted}, {"closed", s.closed},       {"requests", s.requests},
          {"refused", s.refused},   {"live_peak", s.live_peak}, {"protocol_errors", s.protocol_errors},
          {"bytes_in", s.bytes_in}, {"bytes_out", s.bytes_out}};
}

int serve_echo(ServeOptions& o) {
  const catalog::EchoVariant* v = catalog::find_echo(o.model, o.variant);
  if (v == nullptr)
    throw UsageError(fmt::format("serve echo: {} has no variant {} (tvl list shows what exists)", o.model, o.variant));
  echo::Config& c = o.config;
  c.work = std::chrono::microseconds(static_cast<std::int64_t>(o.work_us));
  c.block = std::chrono::microseconds(static_cast<std::int64_t>(o.block_ms * 1000));
  c.offload = v->offload;
  try {
    echo::check(c);
  } catch (const std::invalid_argument& e) {
    throw UsageError(fmt::format("serve {}", e.what()));
  }
  echo::Control ctl;
  ctl.stop_fd = stop_fd_on_signals();
  load::raise_fd_limit(0);  // as many connections as the hard limit allows
  ctl.listening = [&c](std::uint16_t port) { say_listening("serve", c.host, port); };
  const echo::Stats stats = v->serve(c, ctl);
  fmt::print("{}{}\n", kEchoStatsPrefix, stats_json(stats).dump());
  std::fflush(stdout);
  return 0;
}

}  // namespace

void add_serve(Commands c) {
  auto* serve = c.app.add_subcommand("serve", "run a server of a scenario until SIGINT or SIGTERM");
  serve->require_subcommand(1);
  auto o = std::make_shared<ServeOptions>();
  auto* e = serve->add_subcommand("echo", "the book's echo server (ch. 3): a line in, the line upper-cased back");
  e->add_option("--model", o->model, "threads, pool, asyncloop or asyncloop-mt")
      ->check(CLI::IsMember(catalog::echo_models()))
      ->capture_default_str();
  e->add_option("--variant", o->variant, "asyncloop: inline or executor (default: the model's first, tvl list)");
  e->add_option("--host", o->config.host, "address to listen on (loopback unless told otherwise)")
      ->capture_default_str();
  e->add_option("--port", o->config.port, "port (0: any free one, printed)")->capture_default_str();
  e->add_option("--work-us", o->work_us, "CPU work per request, microseconds (a calibrated spin)")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  e->add_option("--block-ms", o->block_ms, "a wait per request the model cannot avoid, milliseconds")
      ->check(CLI::Range(0.0, 1e4))
      ->capture_default_str();
  e->add_option("--threads", o->config.threads,
                "pool: workers; asyncloop-mt: loops; executor: its threads (0: the model's default)")
      ->check(CLI::Range(0, 100'000))
      ->capture_default_str();
  e->add_option("--stack-kib", o->config.stack_kib, "threads, pool: each thread's stack, KiB (0: the system's)")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 20))
      ->capture_default_str();
  e->add_option("--max-line", o->config.max_line, "longest line accepted, bytes: a longer one closes its connection")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
      ->capture_default_str();
  e->callback([o, &code = c.exit_code] { code = serve_echo(*o); });
}

}  // namespace tvl::cli
