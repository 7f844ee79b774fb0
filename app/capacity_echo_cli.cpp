// `tvl capacity echo`: the capacity of one echo model in every cell of connections x work x
// blocking asked for (harness/capacity_echo.hpp: the fan-out's search, one request one
// delivery), printed probe by probe and written as Google Benchmark JSON rows named
// echo_capacity/<model>/<variant>/connections:C/work_us:W/block_ms:B.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

#include "app/capacity_json.hpp"
#include "app/cli.hpp"
#include "catalog/catalog.hpp"
#include "harness/capacity_echo.hpp"
#include "measure/context.hpp"
#include "measure/process.hpp"
#include "scenarios/naming.hpp"

namespace tvl::cli {
namespace {

struct EchoCapacityArgs {
  echo_point::Target target;
  std::vector<int> connections{10, 1000};
  std::vector<double> work_us{0, 100};
  std::vector<double> block_ms{0};
  capacity::Options search = capacity::echo_options({}, 1);  // the search's settings; target and cell set per cell
  std::string server_cpus, load_cpus, json;
  bool no_pin = false;
};

// One cell of the map.
struct EchoCell {
  int connections;
  double work_us, block_ms;
};

std::string echo_command_line(const EchoCapacityArgs& a) {
  const auto& o = a.search;
  std::string cmd = fmt::format("tvl capacity echo --model {} --variant {}", a.target.model, a.target.variant);
  cmd += fmt::format(" --connections {} --work-us {} --block-ms {}", fmt::join(a.connections, ","),
                     fmt::join(a.work_us, ","), fmt::join(a.block_ms, ","));
  if (o.slo_ms > 0) cmd += fmt::format(" --slo-ms {}", o.slo_ms);
  cmd += fmt::format(" --probe-seconds {} --warmup-seconds {} --precision {} --overload {} --max-probes {}", o.probe_s,
                     o.warmup_s, o.precision, o.overload, o.max_probes);
  if (a.target.threads > 0) cmd += fmt::format(" --threads {}", a.target.threads);
  if (a.no_pin) cmd += " --no-pin";
  if (!a.server_cpus.empty()) cmd += " --server-cpus " + a.server_cpus;
  if (!a.load_cpus.empty()) cmd += " --load-cpus " + a.load_cpus;
  return cmd;
}

std::string cell_name(const EchoCapacityArgs& a, const EchoCell& c) {
  return benchmark_name("echo_capacity", a.target.model, a.target.variant,
                        {{"connections", c.connections}, {"work_us", c.work_us}, {"block_ms", c.block_ms}});
}

// Every key a row has, zero or empty: a cell that could not run says so with the same keys.
nlohmann::json empty_echo_row(const EchoCapacityArgs& a, const EchoCell& c, double slo_ms) {
  const auto& o = a.search;
  nlohmann::json row = benchmark_row(cell_name(a, c), 0);
  row.update({{"scenario", "echo"},
              {"model", a.target.model},
              {"variant", a.target.variant},
              {"connections", c.connections},
              {"work_us", c.work_us},
              {"block_ms", c.block_ms},
              {"slo_ms", slo_ms},
              {"slo_source", o.slo_ms > 0 ? "option" : "default"},
              {"probe_s", o.probe_s},
              {"warmup_s", o.warmup_s},
              {"precision", o.precision},
              {"server_cpus", a.target.cpus.size()},
              {"load_cpus", o.load.cpus.size()},
              {"capacity", 0.0},
              {"items_per_second", 0.0},
              {"load_bound", 0},
              {"projected_ceiling", 0.0},
              {"limit", ""},
              {"limit_detail", ""},
              {"floor_p99_us", 0.0},
              {"p99_us", 0.0},
              {"user_p99_us", 0.0},
              {"cpu_us_per_request", 0.0},
              {"load_cpu_us_per_request", 0.0},
              {"server_rss_kib", 0.0},
              {"saturation", 0.0},
              {"goodput", 0.0},
              {"goodput_ratio", 0.0},
              {"overload_factor", o.overload},
              {"overload_offered", 0.0},
              {"collapsed", 0},
              {"confirmed", 0},
              {"spread_p99", 0.0},
              {"spread_delivered", 0.0},
              {"probes", 0},
              {"search_s", 0.0},
              {"probe_log", nlohmann::json::array()}});
  return row;
}

// What the search found, into a row made by empty_echo_row.
void fill_echo_row(nlohmann::json& row, const capacity::Result& r) {
  row["capacity"] = r.capacity;
  row["items_per_second"] = r.capacity;
  row["load_bound"] = r.load_bound ? 1 : 0;
  row["projected_ceiling"] = r.projected_ceiling();
  row["limit"] = r.limit;
  for (const auto& p : r.log)  // a probe that could not run names the limit of this machine
    if (p.verdict == capacity::kNotRun) row["limit_detail"] = p.detail;
  row["floor_p99_us"] = r.floor ? r.floor->p99_ms * 1e3 : 0.0;
  if (r.at_capacity) {
    const auto& p = *r.at_capacity;
    row["p99_us"] = p.p99_ms * 1e3;
    row["user_p99_us"] = p.user_p99_ms * 1e3;
    row["server_rss_kib"] = p.counter("rss_kib");
    row["real_time"] = p.point.result.seconds * 1e9;
  }
  row["cpu_us_per_request"] = r.cpu_s_per_million();  // CPU s per million requests = CPU us per request
  row["load_cpu_us_per_request"] = r.load_cpu_s_per_million();
  row["saturation"] = r.saturation;
  if (r.overload) {
    row["overload_offered"] = r.overload->offered;
    row["goodput"] = r.goodput;
    row["goodput_ratio"] = r.goodput_ratio();
    row["collapsed"] = r.collapsed ? 1 : 0;
  }
  row["confirmed"] = r.confirmed ? 1 : 0;
  row["spread_p99"] = r.spread_p99;
  row["spread_delivered"] = r.spread_delivered;
  row["probes"] = r.probes.size();
  for (const auto& p : r.log) row["probe_log"].push_back(probe_entry(p, "server_cpu_s"));
}

void print_cell_summary(const EchoCell& c, const capacity::Result& r, double seconds) {
  const std::string cell = fmt::format("  C={} W={}us B={}ms", c.connections, c.work_us, c.block_ms);
  if (r.capacity <= 0) {
    fmt::print("{}  no rate passed (limit {}), floor p99 {:.2f} ms; {:.1f} s\n", cell, r.limit,
               r.floor ? r.floor->p99_ms : 0.0, seconds);
    return;
  }
  fmt::print(
      "{}  capacity {:.0f} requests/s{}{}, limited by {}; p99 {:.2f} ms (floor {:.2f}); server CPU {:.2f} us per "
      "request (ceiling {:.0f}/s){}; {:.1f} s\n",
      cell, r.capacity, r.load_bound ? " (at least: the load generator was the limit)" : "",
      r.confirmed ? "" : " NOT confirmed", r.limit, r.at_capacity ? r.at_capacity->p99_ms : 0.0,
      r.floor ? r.floor->p99_ms : 0.0, r.cpu_s_per_million(), r.projected_ceiling(),
      r.overload ? fmt::format("; goodput at {:.0f}/s: {:.2f}x saturation{}", r.overload->offered, r.goodput_ratio(),
                               r.collapsed ? " COLLAPSED" : "")
                 : "",
      seconds);
}

// One cell's search: its row, or a row that names why it could not run. Counts a check failure.
nlohmann::json run_cell(const EchoCapacityArgs& a, const EchoCell& c, int& failed) {
  echo_point::Target t = a.target;
  t.work_us = c.work_us;
  t.block_ms = c.block_ms;
  capacity::Options o = a.search;
  o.echo = t;
  o.load.publishers = c.connections;
  o.load.subscribers = c.connections;
  const double slo = capacity::slo_ms(o);
  nlohmann::json row = empty_echo_row(a, c, slo);
  fmt::print("capacity {}: SLO p99 <= {} ms ({}), {} s probes\n", cell_name(a, c), slo,
             o.slo_ms > 0 ? "--slo-ms" : "the echo default", o.probe_s);
  std::fflush(stdout);
  std::string why = capacity::echo_cannot_serve(t, c.connections);
  if (why.empty()) why = capacity::echo_cannot_judge(o);
  if (!why.empty()) {
    fmt::print("  C={} W={}us B={}ms  not run: {}\n", c.connections, c.work_us, c.block_ms, why);
    row["limit"] = capacity::kNotRun;
    row["limit_detail"] = why;
    return row;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto seconds = [&t0] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  try {
    int k = 0;
    const auto r = capacity::search(o, [&k](const capacity::Probe& p) {
      fmt::print("    probe {:>2}  {}\n", ++k, capacity::describe(p));
      std::fflush(stdout);
    });
    print_cell_summary(c, r, seconds());
    if (r.limit == capacity::kCheck) ++failed;
    fill_echo_row(row, r);
  } catch (const process::Interrupted&) {
    throw;
  } catch (const std::exception& e) {
    if (process::interrupted()) throw process::Interrupted();
    // The first probe could not run: a limit of this machine (threads, descriptors), never a
    // smaller measurement.
    fmt::print("  C={} W={}us B={}ms  not run: {}\n", c.connections, c.work_us, c.block_ms, e.what());
    row["limit"] = capacity::kNotRun;
    row["limit_detail"] = fmt::format("the probe could not run: {}", e.what());
  }
  row["search_s"] = seconds();
  return row;
}

int run_capacity_echo(EchoCapacityArgs a) {
  const auto* v = catalog::find_echo(a.target.model, a.target.variant);
  if (v == nullptr)
    throw UsageError(fmt::format("capacity echo: {} has no variant '{}' (tvl list shows what exists)", a.target.model,
                                 a.target.variant));
  a.target.variant = std::string(v->variant);
  process::catch_interrupts();  // Ctrl-C: stop the server, keep the cells finished
  AtomicFile out = open_result_file(a.json);
  fanout_point::Placement where;
  try {
    where = fanout_point::place(a.server_cpus, a.load_cpus, a.no_pin);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  a.target.cpus = where.broker;
  a.search.load.cpus = where.load;
  process::pin_this_thread(where.load);  // this thread conducts the load: off the server's CPUs
  nlohmann::json context = json_context(echo_command_line(a));
  const nlohmann::json placement = where.to_json();
  for (const auto& [k, val] : placement.items()) context[k] = val;
  nlohmann::json rows = nlohmann::json::array();
  int failed = 0;
  const std::size_t planned = a.connections.size() * a.work_us.size() * a.block_ms.size();
  try {
    for (const int n : a.connections)
      for (const double w : a.work_us)
        for (const double b : a.block_ms) {
          if (process::interrupted()) throw process::Interrupted();
          rows.push_back(run_cell(a, EchoCell{n, w, b}, failed));
        }
  } catch (const process::Interrupted&) {
    // the cell that was running is not kept
  }
  return finish_points(out, context, rows, planned, failed == 0 ? 0 : 1);
}

// The search's settings, the echo defaults (harness/capacity_echo.hpp) unless told otherwise.
void add_echo_search_options(CLI::App* e, capacity::Options& o) {
  e->add_option("--slo-ms", o.slo_ms,
                fmt::format("p99 latency from the intended send must stay within this (default: {} ms for every cell)",
                            capacity::kEchoSloMs))
      ->check(CLI::Range(0.01, 10'000.0));
  e->add_option("--probe-seconds", o.probe_s, "how long each probe offers its load, after the warm-up")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();
  e->add_option("--warmup-seconds", o.warmup_s, "a warm-up before each probe whose latencies are not judged")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  e->add_option("--precision", o.precision, "bisect until the lowest failure is within this of the highest pass")
      ->check(CLI::Range(0.001, 1.0))
      ->capture_default_str();
  e->add_option("--overload", o.overload, "then offer this x the saturation rate and report goodput (0: skip)")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  e->add_option("--max-probes", o.max_probes, "give up after this many search probes")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
}

}  // namespace

void add_capacity_echo(CLI::App* capacity_cmd, int& exit_code) {
  auto a = std::make_shared<EchoCapacityArgs>();
  auto* e = capacity_cmd->add_subcommand(
      "echo", "the most requests/s an echo model answers within a latency bound, in each cell of the map");
  e->add_option("--model", a->target.model, "threads, pool, asyncloop or asyncloop-mt")
      ->check(CLI::IsMember(catalog::echo_models()))
      ->required();
  e->add_option("--variant", a->target.variant, "asyncloop: inline or executor (default: the model's first)");
  e->add_option("--connections", a->connections, "connection counts, comma separated")
      ->delimiter(',')
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  e->add_option("--work-us", a->work_us, "CPU work per request, microseconds, comma separated")
      ->delimiter(',')
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  e->add_option("--block-ms", a->block_ms, "a wait per request, milliseconds, comma separated")
      ->delimiter(',')
      ->check(CLI::Range(0.0, 1e4))
      ->capture_default_str();
  e->add_option("--threads", a->target.threads, "pool: workers; asyncloop-mt: loops; executor: its threads")
      ->check(CLI::Range(0, 100'000));
  e->add_option("--stack-kib", a->target.stack_kib, "threads, pool: each thread's stack, KiB (0: the system's)")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 20));
  add_echo_search_options(e, a->search);
  e->add_option("--server-cpus", a->server_cpus, "CPUs the server runs on (default: the first one)");
  e->add_option("--load-cpus", a->load_cpus, "CPUs the load generator runs on (default: the others)");
  e->add_flag("--no-pin", a->no_pin, "pin neither the server nor the load");
  e->add_option("--load-threads", a->search.load.threads, "load generator threads (0: one per load CPU)")
      ->check(CLI::Range(0, 64));
  e->add_option("--json", a->json, "write the cells (Google Benchmark JSON format) to this file");
  e->callback([a, &exit_code] { exit_code = run_capacity_echo(*a); });
}

}  // namespace tvl::cli
