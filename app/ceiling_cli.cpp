// `tvl ceiling`: how many waiting tasks each kind holds on this machine (threads with the
// default stack, threads with a small stack, coroutines), what each costs in memory and
// creation time, and the limit that stopped it, named with its value. Every N runs in a forked
// child; the rows go to --json in the shape of Google Benchmark's JSON for the report.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/cli.hpp"
#include "catalog/catalog.hpp"
#include "load/echo_idle.hpp"
#include "measure/context.hpp"
#include "measure/metrics.hpp"

namespace tvl::cli {
namespace {

struct CeilingOptions {
  std::vector<int> tasks = ceiling::Params{}.tasks;
  std::size_t small_stack_kib = 64;
  int spare_pids = ceiling::Params{}.spare_pids;
  int timeout_s = ceiling::Params{}.timeout_s;
  std::vector<int> echo_connections;  // empty: no echo-server climb
  std::string json;
};

std::size_t stack_of(const catalog::CeilingKind& k, const CeilingOptions& o) {
  if (!k.is_thread) return 0;
  return k.small_stack ? o.small_stack_kib : static_cast<std::size_t>(metrics::default_stack_kib());
}

nlohmann::json ceiling_row(const catalog::CeilingKind& k, std::size_t stack_kib, const ceiling::Row& r, double slope) {
  nlohmann::json e = benchmark_row(benchmark_name("ceiling", k.model, k.variant, {{"tasks", r.tasks}}),
                                   r.ms_release / 1e3 + r.us_per_create * r.created / 1e6, "ms");
  e["kind"] = fmt::format("{}/{}", k.model, k.variant);
  e["stack_kib"] = stack_kib;
  e["tasks"] = r.tasks;
  e["created"] = r.created;
  e["finished"] = r.finished;
  e["reached"] = r.reached ? 1 : 0;
  e["kib_per_task"] = r.kib_per_task();
  e["kib_per_task_slope"] = slope;
  e["vm_kib_per_task"] = r.vm_kib_per_task();
  e["kernel_kib_per_task"] = r.kernel_kib_per_task();
  e["us_per_create"] = r.us_per_create;
  e["ms_release"] = r.ms_release;
  e["rss_kib"] = r.rss_kib;
  e["rss_before_kib"] = r.rss_before_kib;
  e["limit"] = r.reached ? "" : ceiling::stopped_text(r);
  e["limit_name"] = r.limit.name;
  if (!r.limit.empty()) e["limit_value"] = r.limit.value;
  return e;
}

void print_row(const catalog::CeilingKind& k, const ceiling::Row& r) {
  fmt::print("  {:<24} {:>8} {:>8} {:>10.2f} {:>11.2f} {:>11.1f}  {}\n", fmt::format("{}/{}", k.model, k.variant),
             r.tasks, r.created, r.kib_per_task(), r.us_per_create, r.ms_release,
             r.reached ? "reached" : ceiling::stopped_text(r));
}

// The echo servers' climb: idle connections held open, the server's RSS per connection.
void run_echo_idle(const CeilingOptions& o, nlohmann::json& rows) {
  struct Server {
    std::string_view model, variant;
    std::size_t stack_kib;
  };
  const Server servers[] = {
      {"threads", "default-stack", 0}, {"threads", "small-stack", o.small_stack_kib}, {"asyncloop", "one-loop", 0}};
  fmt::print("\necho server: idle connections held open against `tvl serve echo`; the server's RSS\n");
  for (const auto& s : servers) {
    echo_idle::Params p;
    p.model = std::string(s.model);
    p.stack_kib = s.stack_kib;
    p.connections = o.echo_connections;
    p.spare_pids = o.spare_pids;
    const auto climbed = echo_idle::climb(p);
    for (const auto& r : climbed) {
      fmt::print("  {:<24} {:>8} {:>8} {:>10.2f} KiB/connection  {}\n", fmt::format("{}/{}", s.model, s.variant),
                 r.connections, r.opened, r.kib_per_connection(), r.reached ? "reached" : r.limit);
      nlohmann::json e =
          benchmark_row(benchmark_name("ceiling_echo", s.model, s.variant, {{"connections", r.connections}}), 0, "ms");
      e["kind"] = fmt::format("{}/{}", s.model, s.variant);
      e["stack_kib"] = s.model == "threads" && s.stack_kib == 0 ? metrics::default_stack_kib()
                                                                : static_cast<std::int64_t>(s.stack_kib);
      e["connections"] = r.connections;
      e["opened"] = r.opened;
      e["reached"] = r.reached ? 1 : 0;
      e["kib_per_connection"] = r.kib_per_connection();
      e["rss_kib"] = r.rss_kib;
      e["limit"] = r.limit;
      e["limit_name"] = r.limit_name;
      if (!r.reached) e["limit_value"] = r.limit_value;
      rows.push_back(e);
    }
    std::fflush(stdout);
  }
}

int run_ceiling(const CeilingOptions& o) {
  AtomicFile file = open_result_file(o.json);  // fails before the run, not after it
  const ceiling::Params p{.tasks = o.tasks, .spare_pids = o.spare_pids, .timeout_s = o.timeout_s};
  nlohmann::json rows = nlohmann::json::array();
  bool ok = true;
  fmt::print("ceiling: N waiting tasks of each kind, each N in a fresh child, until a limit stops it\n");
  fmt::print("  {:<24} {:>8} {:>8} {:>10} {:>11} {:>11}  {}\n", "kind", "N", "created", "KiB/task", "us/create",
             "release ms", "");
  for (const auto& k : catalog::ceiling_kinds()) {
    const std::size_t stack_kib = stack_of(k, o);
    const auto climbed = ceiling::climb(k.hold, stack_kib, k.is_thread, p);
    const double slope = ceiling::kib_per_task_slope(climbed);
    for (const auto& r : climbed) {
      print_row(k, r);
      rows.push_back(ceiling_row(k, stack_kib, r, slope));
      ok = ok && r.failure.empty();
    }
    const std::string stack = k.is_thread ? fmt::format("stack {} KiB", stack_kib) : "no stack (heap frames)";
    fmt::print("  {:<24} {}; RSS slope {:.2f} KiB per task\n", "", stack, slope);
    std::fflush(stdout);
  }
  if (!o.echo_connections.empty()) run_echo_idle(o, rows);
  if (file) {
    std::string command = fmt::format("tvl ceiling --tasks {} --small-stack-kib {} --spare-pids {}",
                                      fmt::join(o.tasks, ","), o.small_stack_kib, o.spare_pids);
    if (!o.echo_connections.empty())
      command += fmt::format(" --echo-connections {}", fmt::join(o.echo_connections, ","));
    nlohmann::json context = json_context(command);
    context["thread_limits"] = metrics::thread_limit_values();
    context["spare_pids"] = o.spare_pids;
    file.commit(nlohmann::json{{"context", context}, {"benchmarks", rows}}.dump(2) + '\n');
    fmt::print("wrote {}\n", o.json);
  }
  if (!ok) throw std::runtime_error("a point failed without reaching a named limit; see its row");
  return 0;
}

}  // namespace

void add_ceiling(Commands c) {
  auto o = std::make_shared<CeilingOptions>();
  auto* cmd = c.app.add_subcommand(
      "ceiling", "the thread ceiling: N waiting threads (default and small stack) and coroutines, up to the limit");
  cmd->add_option("--tasks", o->tasks, "the ladder of N, ascending (comma-separated)")
      ->delimiter(',')
      ->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
  cmd->add_option("--small-stack-kib", o->small_stack_kib, "the small threads' stack (pthread_attr_setstacksize)")
      ->check(CLI::Range(std::size_t{16}, std::size_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--spare-pids", o->spare_pids, "threads never take the machine's last pids (others run too)")
      ->check(CLI::Range(0, 1'000'000))
      ->capture_default_str();
  cmd->add_option("--timeout", o->timeout_s, "seconds a child may take for one N")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  cmd->add_option("--echo-connections", o->echo_connections,
                  "also hold this many idle connections against each echo server (ascending; none: skip)")
      ->delimiter(',')
      ->check(CLI::Range(1, 1'000'000));
  cmd->add_option("--json", o->json, "write the rows to this JSON file (Google Benchmark shape)");
  cmd->callback([o, &code = c.exit_code] { code = run_ceiling(*o); });
}

}  // namespace tvl::cli
