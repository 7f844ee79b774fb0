// `tvl run primitives`: every switch, creation and memory measurement of the primitives
// scenario, printed as one table and optionally written as Google Benchmark-shaped JSON (the
// plot script reads it like tvl-bench's output).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/cli.hpp"
#include "catalog/catalog.hpp"
#include "measure/context.hpp"

namespace tvl::cli {
namespace {

namespace prim = tvl::primitives;

struct Options {
  long round_trips = 20'000;
  long creates = 2'000;
  std::vector<int> threads_n{250, 500, 1000, 2000};
  std::vector<int> coroutines_n{10'000, 20'000, 50'000, 100'000};
  std::string json;
};

// One result as a Google Benchmark entry: counters at the top level, as tvl-bench writes them.
nlohmann::json entry(const std::string& name, double seconds, const prim::Counters& counters) {
  nlohmann::json e = benchmark_row(name, seconds, "ms");
  for (const auto& [key, value] : counters) e[key] = value;
  return e;
}

double counter(const prim::Counters& c, const std::string& key) {
  for (const auto& [k, v] : c)
    if (k == key) return v;
  return 0.0;
}

// Runs one switch or creation mechanism, pinned and unpinned; false if a run fell short.
bool run_mechanism(const prim::Mechanism& m, long count, bool is_switch, nlohmann::json& out) {
  bool ok = true;
  for (const bool pinned : {false, true}) {
    const prim::RunParams p{.count = count, .pinned = pinned};
    const prim::RunResult r = m.run(p);
    const auto c = prim::run_counters(m, p, r, is_switch);
    const std::string label = fmt::format("{}/{}", m.model, m.variant);
    try {
      prim::check_run(p, r, is_switch);
    } catch (const std::exception& e) {
      fmt::print("  {:<24} {:<6} FAILED: {}\n", label, pinned ? "yes" : "no", e.what());
      ok = false;
      continue;
    }
    const double per_item = is_switch ? prim::ns_per_switch(r) : prim::us_per_create(r);
    const double items = double(is_switch ? r.switches : r.done);  // context switches per hand-over or task
    fmt::print("  {:<24} {:<6} {:>12.{}f} {:>12.4g} {:>9.3f} {:>9.3f}\n", label, pinned ? "yes" : "no", per_item,
               is_switch ? 1 : 3, counter(c, "items_per_second"), double(r.usage.vcsw) / items,
               double(r.usage.ivcsw) / items);
    out.push_back(entry(prim::run_name(m, pinned), r.seconds, c));
  }
  return ok;
}

// Runs one memory curve; false if a point failed.
bool run_memory(const prim::Waiter& w, const std::vector<int>& ns, nlohmann::json& out) {
  const prim::MemoryParams p{.ns = ns};
  const auto curve = prim::measure_memory(w.run, p);
  const std::string label = fmt::format("{}/{}", w.model, w.variant);
  if (curve.fit)
    fmt::print("  {:<24} {:>10.3f} {:>12.2f} {:>8.4f}   {}\n", label, curve.fit->slope, curve.fit->residual,
               curve.fit->r2, fmt::join(ns, ","));
  else
    fmt::print("  {:<24} {:>10} {:>12} {:>8}   {}  (fewer than 2 good points)\n", label, "-", "-", "-",
               fmt::join(ns, ","));
  for (const auto& point : curve.points) {
    if (point.ok())
      fmt::print("  {:<24}   N={:<7} RSS {} -> {} KiB (+{})\n", "", point.n, point.rss_before_kib, point.rss_kib,
                 point.growth_kib());
    else
      fmt::print("  {:<24}   N={:<7} FAILED: {}\n", "", point.n, point.reason);
  }
  if (curve.fit) out.push_back(entry(prim::memory_name(w, p), 0.0, prim::memory_counters(w, curve)));
  return curve.failed() == 0 && curve.fit;
}

int run_primitives(const Options& o) {
  for (const auto* ns : {&o.threads_n, &o.coroutines_n})
    if (std::set<int>(ns->begin(), ns->end()).size() < 2)
      throw UsageError("--threads-n and --coroutines-n need at least 2 different task counts");
  AtomicFile file = open_result_file(o.json);  // fails before the run, not after it
  nlohmann::json results = nlohmann::json::array();
  bool ok = true;
  fmt::print("primitives: pinned runs keep every thread on CPU {}; unpinned ones may use {} CPU(s)\n\n",
             prim::pin_cpu(), prim::ScopedPin(-1).cpus());
  fmt::print(
      "context switch: ping-pong, {} round trips each (2 hand-overs per round trip);\n"
      "vcsw, ivcsw: the process's voluntary and involuntary context switches per hand-over\n",
      o.round_trips);
  fmt::print("  {:<24} {:<6} {:>12} {:>12} {:>9} {:>9}\n", "mechanism", "pinned", "ns/switch", "switches/s", "vcsw",
             "ivcsw");
  for (const auto& m : catalog::primitive_switches()) ok = run_mechanism(m, o.round_trips, true, results) && ok;
  fmt::print(
      "\ncreation: {} tasks one after another, each created, run to the end and joined;\n"
      "vcsw, ivcsw per task\n",
      o.creates);
  fmt::print("  {:<24} {:<6} {:>12} {:>12} {:>9} {:>9}\n", "mechanism", "pinned", "us/create", "creates/s", "vcsw",
             "ivcsw");
  for (const auto& m : catalog::primitive_creates()) ok = run_mechanism(m, o.creates, false, results) && ok;
  fmt::print("\nmemory per waiting task: slope of RSS growth over N, each N in a fresh child process\n");
  fmt::print("  {:<24} {:>10} {:>12} {:>8}   {}\n", "mechanism", "KiB/task", "residual KiB", "r2", "N");
  for (const auto& w : catalog::primitive_waiters())
    ok = run_memory(w, w.model == "threads" ? o.threads_n : o.coroutines_n, results) && ok;
  fmt::print("\ndefault thread stack: {} KiB (pthread_attr_getstacksize); resident is only what a thread touched\n",
             prim::default_stack_kib());
  if (file) {
    nlohmann::json context = json_context("tvl run primitives");
    context["tvl_profile"] = "tvl run";
    file.commit(nlohmann::json{{"context", context}, {"benchmarks", results}}.dump(2) + '\n');
    fmt::print("wrote {}\n", o.json);
  }
  if (!ok) throw std::runtime_error("a measurement did not do the work it claims; see FAILED above");
  return 0;
}

}  // namespace

void add_primitives(Commands c) {
  auto o = std::make_shared<Options>();
  auto* run = c.run.add_subcommand("primitives", "the costs under every scenario: switch, creation, memory");
  run->add_option("--round-trips", o->round_trips, "ping-pong round trips per switch measurement")
      ->check(CLI::Range(1L, 100'000'000L))
      ->capture_default_str();
  run->add_option("--creates", o->creates, "threads / coroutines created per creation measurement")
      ->check(CLI::Range(1L, 10'000'000L))
      ->capture_default_str();
  run->add_option("--threads-n", o->threads_n, "waiting-thread counts for the memory slope (comma-separated)")
      ->delimiter(',')
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  run->add_option("--coroutines-n", o->coroutines_n, "waiting-coroutine counts for the memory slope")
      ->delimiter(',')
      ->check(CLI::Range(1, 100'000'000))
      ->capture_default_str();
  run->add_option("--json", o->json, "also write the counters to this JSON file (Google Benchmark shape)");
  run->callback([o, &code = c.exit_code] { code = run_primitives(*o); });
}

}  // namespace tvl::cli
