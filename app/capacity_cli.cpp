// `tvl capacity`: the most each fan-out broker can carry (harness/capacity.hpp says how it is found),
// at each subscriber count asked for, printed probe by probe and written as Google Benchmark
// JSON rows named fanout_capacity/<model>/<design>/subscribers:N.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "app/cli.hpp"
#include "catalog/catalog.hpp"
#include "harness/capacity.hpp"
#include "measure/context.hpp"
#include "measure/process.hpp"
#include "scenarios/fanout.hpp"

namespace tvl::cli {
namespace {

struct CapacityArgs {
  capacity::Options o;
  std::vector<int> subscribers{10, 1000};
  std::string broker_cpus, load_cpus, json;
  bool no_pin = false;
};

std::string command_line(const CapacityArgs& a) {
  const auto& o = a.o;
  std::string cmd = fmt::format("tvl capacity --model {}", o.target.model);
  if (o.target.is_tvl()) cmd += " --design " + o.target.design;
  cmd += fmt::format(
      " --subscribers {} --payload {} --slo-ms {} --probe-seconds {} --tick-ms {} --overload {} --load-threads {}",
      fmt::join(a.subscribers, ","), o.load.payload, o.slo_ms, o.probe_s, o.tick_s * 1e3, o.overload, o.load.threads);
  if (a.no_pin) cmd += " --no-pin";
  if (!a.broker_cpus.empty()) cmd += " --broker-cpus " + a.broker_cpus;
  if (!a.load_cpus.empty()) cmd += " --load-cpus " + a.load_cpus;
  if (o.target.loops > 0) cmd += fmt::format(" --loops {}", o.target.loops);
  if (o.target.queue_bytes > 0) cmd += fmt::format(" --queue-bytes {}", o.target.queue_bytes);
  return cmd;
}

// fanout_capacity/<model>/<design>/subscribers:N, with cpus:K before the subscribers when the
// broker was not pinned to exactly one CPU (K = its CPUs, or "any" when not pinned).
std::string point_name(const CapacityArgs& a, int n) {
  const auto& t = a.o.target;
  const std::string cpus = t.cpus.size() == 1 ? ""
                           : t.cpus.empty()   ? "cpus:any/"
                                              : fmt::format("cpus:{}/", t.cpus.size());
  return fmt::format("fanout_capacity/{}/{}/{}subscribers:{}", t.model, t.design_name(), cpus, n);
}

// A point as a Google Benchmark row: the capacity and what limited it, the probe at capacity,
// the overload probe, and every probe in order.
nlohmann::json row_of(const CapacityArgs& a, int n, const capacity::Result& r) {
  const auto& o = a.o;
  const std::string name = point_name(a, n);
  nlohmann::json row = benchmark_row(name, 0);
  row.update({{"subscribers", n},
              {"payload", o.load.payload},
              {"slo_ms", o.slo_ms},
              {"probe_s", o.probe_s},
              {"tick_ms", o.tick_s * 1e3},
              {"broker_cpus", o.target.cpus.size()},
              {"load_cpus", o.load.cpus.size()},
              {"load_threads", o.load.threads},
              {"capacity", r.capacity},
              {"items_per_second", r.capacity},
              {"limit", r.limit},
              {"load_bound", r.load_bound ? 1 : 0},
              {"cpu_s_per_million", r.cpu_s_per_million()},
              {"probes", r.probes.size()}});
  if (r.at_capacity) {
    const auto& p = *r.at_capacity;
    for (const char* k : {"p50_us", "p99_us", "p999_us", "rss_kib", "broker_hwm_kib", "broker_cpu_s", "vcsw", "ivcsw",
                          "load_cpu_s", "load_busy"})
      row[k] = p.counter(k);
    row["real_time"] = p.point.result.seconds * 1e9;
  }
  if (r.overload) {
    const auto& p = *r.overload;
    row["overload_factor"] = o.overload;
    row["overload_offered"] = p.offered;
    row["goodput"] = r.goodput;
    row["goodput_ratio"] = r.capacity > 0 ? r.goodput / r.capacity : 0;
    row["collapsed"] = r.collapsed ? 1 : 0;
    row["overload_dropped"] = p.counter("broker_dropped");
    row["overload_slow_disconnects"] = p.counter("broker_slow_disconnects");
    row["overload_hwm_kib"] = p.counter("broker_hwm_kib");
    row["overload_p99_us"] = p.counter("p99_us");
    row["overload_load_bound"] = p.point.result.load_bound ? 1 : 0;
    row["overload_verdict"] = p.verdict;
  }
  nlohmann::json probes = nlohmann::json::array();
  for (const auto& p : r.probes)
    probes.push_back({{"offered", p.offered},
                      {"delivered_per_s", p.delivered_per_s},
                      {"p99_ms", p.p99_ms},
                      {"broker_cpu_s", p.broker_cpu_s()},
                      {"load_busy", p.point.result.load_busy},
                      {"verdict", p.verdict},
                      {"detail", p.detail}});
  row["probe_log"] = probes;
  return row;
}

void print_summary(int n, const capacity::Result& r, double overload) {
  if (r.capacity <= 0) {
    fmt::print("  {:>6} subscribers  no probe passed (down to the floor): {}\n", n, r.limit);
    return;
  }
  fmt::print(
      "  {:>6} subscribers  capacity {:.0f} deliveries/s{}, limited by {}; {:.3f} CPU s per million; p99 "
      "{:.2f} ms\n",
      n, r.capacity, r.load_bound ? " (at least: the load generator was the limit)" : "", r.limit,
      r.cpu_s_per_million(), r.at_capacity ? r.at_capacity->p99_ms : 0.0);
  if (r.overload)
    fmt::print(
        "  {:>6} subscribers  at {}x: goodput {:.0f}/s = {:.2f}x capacity{}, dropped {:.0f}, peak RSS {:.0f} "
        "KiB, p99 {:.1f} ms{}\n",
        n, overload, r.goodput, r.goodput / r.capacity, r.collapsed ? " — COLLAPSED" : "",
        r.overload->counter("broker_dropped"), r.overload->counter("broker_hwm_kib"), r.overload->p99_ms,
        r.overload->point.result.load_bound ? " (load-bound: less than asked was offered)" : "");
}

int run_capacity(CapacityArgs a) {
  process::catch_interrupts();  // Ctrl-C: stop the broker, keep the subscriber counts finished
  AtomicFile out = open_result_file(a.json);
  fanout_point::Placement where;
  try {
    where = fanout_point::place(a.broker_cpus, a.load_cpus, a.no_pin);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  a.o.target.cpus = where.broker;
  a.o.load.cpus = where.load;
  // This thread conducts the load (and starts the brokers, which pin themselves): keep it off
  // the broker's CPUs too.
  process::pin_this_thread(where.load);
  nlohmann::json context = json_context(command_line(a));
  const nlohmann::json placement = where.to_json();
  for (const auto& [k, v] : placement.items()) context[k] = v;
  nlohmann::json rows = nlohmann::json::array();
  int failed = 0;
  for (const int n : a.subscribers) {
    if (process::interrupted()) break;
    fmt::print("capacity fanout/{}/{}: {} subscribers, {} B, SLO p99 <= {} ms, {} s probes; {}\n", a.o.target.model,
               a.o.target.design_name(), n, a.o.load.payload, a.o.slo_ms, a.o.probe_s, where.describe());
    std::fflush(stdout);
    a.o.load.subscribers = n;
    try {
      int k = 0;
      const auto r = capacity::search(a.o, [&k](const capacity::Probe& p) {
        fmt::print("    probe {:>2}  {}\n", ++k, capacity::describe(p));
        std::fflush(stdout);
      });
      print_summary(n, r, a.o.overload);
      if (r.limit == capacity::kCheck) ++failed;
      rows.push_back(row_of(a, n, r));
    } catch (const process::Interrupted&) {
      break;  // this subscriber count's search was cut short: not kept
    } catch (const std::exception& e) {
      if (process::interrupted()) break;
      ++failed;
      fmt::print("  {:>6} subscribers  FAILED: {}\n", n, e.what());
      const std::string name = point_name(a, n);
      nlohmann::json row = benchmark_row(name, 0);
      row.update({{"subscribers", n}, {"sweep_failed", true}, {"failure_reason", e.what()}});
      rows.push_back(row);
    }
  }
  return finish_points(out, context, rows, a.subscribers.size(), failed == 0 ? 0 : 1);
}

}  // namespace

void add_capacity(Commands c) {
  auto a = std::make_shared<CapacityArgs>();
  auto& o = a->o;
  auto* cap = c.app.add_subcommand(
      "capacity", "find the most deliveries/s a fan-out broker sustains within a latency bound, then overload it");
  cap->add_option("--model", o.target.model, "a tvl broker, or a peer: redis, python, python-uvloop")
      ->check(CLI::IsMember(catalog::fanout_models()))
      ->required();
  cap->add_option("--design", o.target.design, "naive or improved (tvl brokers)")
      ->check(CLI::IsMember({"naive", "improved"}))
      ->capture_default_str();
  cap->add_option("--subscribers", a->subscribers, "subscriber counts, comma separated")
      ->delimiter(',')
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  cap->add_option("--payload", o.load.payload, "bytes per message")
      ->check(CLI::Range(fanout::kStampBytes, std::size_t{1} << 20))
      ->capture_default_str();
  cap->add_option("--publishers", o.load.publishers, "publisher connections")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cap->add_option("--slo-ms", o.slo_ms, "p99 latency from the intended send must stay within this")
      ->check(CLI::Range(0.01, 10'000.0))
      ->capture_default_str();
  cap->add_option("--probe-seconds", o.probe_s, "how long each probe offers its load")
      ->check(CLI::Range(0.2, 600.0))
      ->capture_default_str();
  cap->add_option("--tick-ms", o.tick_s, "publishers send what is due once per this many ms (0: each message on time)")
      ->transform([](const std::string& ms) { return std::to_string(std::stod(ms) / 1e3); })
      ->check(CLI::Range(0.0, 1.0));
  cap->add_option("--start", o.start, "deliveries/s of the first probe")
      ->check(CLI::Range(1.0, 1e9))
      ->capture_default_str();
  cap->add_option("--precision", o.precision, "bisect until the lowest failure is within this of the highest pass")
      ->check(CLI::Range(0.001, 1.0))
      ->capture_default_str();
  cap->add_option("--overload", o.overload, "then offer this x the capacity and report goodput (0: skip)")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  cap->add_option("--max-probes", o.max_probes, "give up after this many probes")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  cap->add_option("--broker-cpus", a->broker_cpus, "CPUs the broker runs on (default: the first one, e.g. 0)");
  cap->add_option("--load-cpus", a->load_cpus, "CPUs the load generator runs on (default: the others, e.g. 1)");
  cap->add_flag("--no-pin", a->no_pin, "pin neither the broker nor the load");
  cap->add_option("--load-threads", o.load.threads, "load generator threads, an event loop each")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cap->add_option("--queue-depth", o.target.queue_depth, "messages one subscriber's queue holds (tvl brokers)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24))
      ->capture_default_str();
  cap->add_option("--queue-bytes", o.target.queue_bytes, "bytes one subscriber's queue holds (tvl brokers)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 34));
  cap->add_option("--loops", o.target.loops, "asyncloop-mt: event loops (default: one per broker CPU)")
      ->check(CLI::Range(1, 256));
  cap->add_option("--broker-arg", o.target.extra_args, "an argument passed on to the broker (repeatable)")
      ->allow_extra_args(false);
  cap->add_option("--json", a->json, "write the points (Google Benchmark JSON format) to this file");
  cap->callback([a, &code = c.exit_code] { code = run_capacity(*a); });
}

}  // namespace tvl::cli
