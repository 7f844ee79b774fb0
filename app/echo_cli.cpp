// The echo server (book ch. 3, Example 3-30): a line in, the same line upper-cased back.
//   tvl serve echo  one model in this process until SIGINT or SIGTERM, so that any client — nc,
//                   the book's own, a class's — can talk to it; it prints where it listens, and
//                   its counters at the end (`tvl-echo-stats {json}`);
//   tvl run echo    one checked point: `tvl serve echo` as a child, tvl's open-loop load against
//                   it, every answer checked, latency from the intended send.
#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

#include "app/cli.hpp"
#include "app/serve_signals.hpp"
#include "catalog/catalog.hpp"
#include "load/echo_point.hpp"
#include "load/fanout_point.hpp"
#include "load/loadgen.hpp"
#include "scenarios/echo.hpp"
#include "scenarios/naming.hpp"

namespace tvl::cli {
namespace {

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
  fmt::print("{}{}\n", echo_point::kStatsLinePrefix, stats_json(stats).dump());
  std::fflush(stdout);
  return 0;
}

struct RunEchoOptions {
  echo_point::Target target;
  int connections = 10;
  double rate = 10'000, duration_s = 2, warmup_s = 0.5;
  std::size_t payload = 64;
  std::string server_cpus, load_cpus, json;
  bool no_pin = false;
};

void print_echo(const load::Params& lp, const echo_point::Point& point) {
  const load::Result& r = point.result;
  auto ms = [](const Histogram& h, double q) { return static_cast<double>(h.percentile(q)) / 1e6; };
  fmt::print("  answered {} of {} requests ({:.0f}/s), lost {}, gaps {}, duplicates/reordered {}\n", r.delivered,
             r.expected, static_cast<double>(r.delivered) / lp.duration_s, r.lost, r.gaps, r.duplicates_or_reordered);
  fmt::print("  latency from intended send  p50 {:.3f} ms  p99 {:.3f}  p99.9 {:.3f}  max {:.3f}  ({} clock)\n",
             ms(r.from_intended_ns, 50), ms(r.from_intended_ns, 99), ms(r.from_intended_ns, 99.9),
             ms(r.from_intended_ns, 100), r.receive_clock);
  const double per_request = r.delivered > 0 ? r.broker_cpu_s / static_cast<double>(r.delivered) * 1e6 : 0;
  // RSS only: divided by C it would share the process's own memory out among the connections (a
  // connection's cost is the growth from one C to the next: `tvl ceiling`, the crossover table).
  fmt::print("  server: CPU {:.3f} s ({:.2f} us per request), RSS {} KiB\n", r.broker_cpu_s, per_request,
             r.broker_rss_kib);
  fmt::print("  generator: CPU {:.3f} s, busiest thread {:.0f}% busy{}\n", r.load_cpu_s, r.load_busy * 100,
             r.load_bound ? "  LOAD-BOUND: the generator may have been the limit, not the server" : "");
  if (!point.check.empty()) {
    fmt::print("  CHECK FAILED: {}\n", point.check);
    return;
  }
  fmt::print("  checked: every request answered once, in order, upper-cased; the server's count agrees\n");
}

int run_echo(RunEchoOptions& o) {
  if (catalog::find_echo(o.target.model, o.target.variant) == nullptr)
    throw UsageError(
        fmt::format("run echo: {} has no variant {} (tvl list shows what exists)", o.target.model, o.target.variant));
  process::catch_interrupts();
  AtomicFile out = open_result_file(o.json);
  const auto where = fanout_point::place(o.server_cpus, o.load_cpus, o.no_pin);
  o.target.cpus = where.broker;
  load::Params lp;
  lp.publishers = o.connections;
  lp.rate = o.rate;
  lp.duration_s = o.duration_s;
  lp.warmup_s = o.warmup_s;
  lp.payload = o.payload;
  lp.cpus = where.load;
  const auto* v = catalog::find_echo(o.target.model, o.target.variant);
  const std::string name =
      benchmark_name("echo", v->model, v->variant,
                     {{"work_us", o.target.work_us}, {"block_ms", o.target.block_ms}, {"connections", o.connections}});
  std::string placement = where.describe();  // "broker on CPU 0, load on CPU 1": the broker here is the server
  if (placement.starts_with("broker")) placement.replace(0, std::string_view("broker").size(), "server");
  fmt::print("{}: {} requests/s for {} s; {}\n", name, o.rate, o.duration_s, placement);
  const auto point = echo_point::run_point(o.target, lp);
  print_echo(lp, point);
  if (out) {
    nlohmann::json counters = nlohmann::json::object();
    for (const auto& [key, value] : catalog::load_counters(lp, point.result)) counters[key] = value;
    for (const auto& [key, value] : point.server_stats.items()) counters["server_" + key] = value;
    out.commit(nlohmann::json{{"name", name},
                              {"scenario", "echo"},
                              {"model", v->model},
                              {"variant", v->variant},
                              {"counters", counters},
                              {"check", point.check},
                              {"placement", where.to_json()}}
                   .dump(2) +
               '\n');
    fmt::print("  wrote {}\n", o.json);
  }
  return point.check.empty() ? 0 : 1;
}

void add_run_echo(Commands c) {
  auto o = std::make_shared<RunEchoOptions>();
  auto* run = c.run.add_subcommand("echo", "one checked point of the echo server under an open-loop load");
  run->add_option("--model", o->target.model, "threads, pool, asyncloop or asyncloop-mt")
      ->check(CLI::IsMember(catalog::echo_models()))
      ->capture_default_str();
  run->add_option("--variant", o->target.variant, "asyncloop: inline or executor (default: the model's first)");
  run->add_option("--connections", o->connections, "client connections, each sending its share of the rate")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  run->add_option("--rate", o->rate, "requests per second, all connections together")
      ->check(CLI::Range(1.0, 1e8))
      ->capture_default_str();
  run->add_option("--duration", o->duration_s, "seconds of load")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  run->add_option("--payload", o->payload, "bytes per request line (at least 57)")
      ->check(CLI::Range(std::size_t{57}, std::size_t{1} << 16))
      ->capture_default_str();
  run->add_option("--work-us", o->target.work_us, "CPU work per request, microseconds")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  run->add_option("--block-ms", o->target.block_ms, "an unavoidable wait per request, milliseconds")
      ->check(CLI::Range(0.0, 1e4))
      ->capture_default_str();
  run->add_option("--threads", o->target.threads, "pool: workers; asyncloop-mt: loops; executor: its threads")
      ->check(CLI::Range(0, 100'000))
      ->capture_default_str();
  run->add_option("--stack-kib", o->target.stack_kib, "threads, pool: each thread's stack, KiB (0: the system's)")
      ->capture_default_str();
  run->add_option("--server-cpus", o->server_cpus, "CPUs the server runs on (default: the first one)");
  run->add_option("--load-cpus", o->load_cpus, "CPUs the load generator runs on (default: the others)");
  run->add_flag("--no-pin", o->no_pin, "pin neither the server nor the load");
  run->add_option("--json", o->json, "write the point's counters to this file");
  run->callback([o, &code = c.exit_code] { code = run_echo(*o); });
}

}  // namespace

void add_serve(Commands c) {
  add_run_echo(c);
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
