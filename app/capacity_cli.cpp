// `tvl capacity`: the most each fan-out broker can carry (harness/capacity.hpp says how it is found),
// at each subscriber count asked for, printed probe by probe and written as Google Benchmark
// JSON rows named fanout_capacity/<model>/<design>/subscribers:N.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <limits>
#include <memory>
#include <nlohmann/json.hpp>

#include "app/capacity_json.hpp"
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
  if (o.target.is_tvl()) cmd += " --design " + std::string(fanout::name_of(o.target.design));
  cmd += fmt::format(" --subscribers {} --payload {}", fmt::join(a.subscribers, ","), o.load.payload);
  if (o.slo_ms > 0) cmd += fmt::format(" --slo-ms {}", o.slo_ms);  // else the default for each subscriber count
  cmd +=
      fmt::format(" --probe-seconds {} --warmup-seconds {} --tick-ms {} --precision {} --overload {} --load-threads {}",
                  o.probe_s, o.warmup_s, o.tick_s * 1e3, o.precision, o.overload, o.load.threads);
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
  std::vector<NameParam> params;
  if (t.cpus.empty())
    params.emplace_back("cpus", "any");
  else if (t.cpus.size() > 1)
    params.emplace_back("cpus", t.cpus.size());
  params.emplace_back("subscribers", n);
  return benchmark_name("fanout_capacity", t.model, t.design_name(), params);
}

// The floor (a trickle's p99), the lowest search probe, and the limit of this machine that
// ended the search, if one did.
void add_floor_and_lowest(nlohmann::json& row, const capacity::Result& r) {
  const auto* floor = r.floor ? &*r.floor : nullptr;
  row["floor_p99_us"] = floor ? floor->p99_ms * 1e3 : 0.0;
  row["floor_offered"] = floor ? floor->offered : 0.0;
  row["floor_judged"] = floor ? floor->judged() : 0;
  const auto* low = r.lowest();
  row["lowest_offered"] = low ? low->offered : 0.0;
  row["lowest_p99_us"] = low ? low->p99_ms * 1e3 : 0.0;
  row["lowest_verdict"] = low ? low->verdict : "";
  // A probe that could not run ended the search: its reason names the limit of this machine.
  row["limit_detail"] = "";
  for (const auto& p : r.log)
    if (p.verdict == capacity::kNotRun) row["limit_detail"] = p.detail;
}

// The probe at capacity: its latencies' clock and its counters.
void add_at_capacity(nlohmann::json& row, const capacity::Result& r) {
  const auto* floor = r.floor ? &*r.floor : nullptr;
  // The clock of the capacity's latencies (or of the floor's, when no probe passed).
  const auto* clocked = r.at_capacity ? &*r.at_capacity : floor;
  row["receive_clock"] = clocked ? clocked->point.result.receive_clock : "";
  row["user_p99_us"] = r.at_capacity ? r.at_capacity->user_p99_ms * 1e3 : 0.0;
  if (r.at_capacity) {
    const auto& p = *r.at_capacity;
    for (const char* k : {"p50_us", "p99_us", "p999_us", "rss_kib", "broker_hwm_kib", "broker_cpu_s", "vcsw", "ivcsw",
                          "load_cpu_s", "load_busy"})
      row[k] = p.counter(k);
    row["real_time"] = p.point.result.seconds * 1e9;
  }
}

// The overload probe: goodput past the saturation rate, and what the broker dropped.
void add_overload(nlohmann::json& row, const capacity::Options& o, const capacity::Result& r) {
  const auto& p = *r.overload;
  row["overload_factor"] = o.overload;
  row["overload_offered"] = p.offered;
  row["goodput"] = r.goodput;
  row["goodput_ratio"] = r.goodput_ratio();
  row["collapsed"] = r.collapsed ? 1 : 0;
  row["overload_under_offered"] = r.overload_under_offered ? 1 : 0;
  row["overload_dropped"] = p.counter("broker_dropped");
  row["overload_slow_disconnects"] = p.counter("broker_slow_disconnects");
  row["overload_hwm_kib"] = p.counter("broker_hwm_kib");
  row["overload_p99_us"] = p.counter("p99_us");
  row["overload_load_bound"] = p.point.result.load_bound ? 1 : 0;
  row["overload_verdict"] = p.verdict;
}

// A point as a Google Benchmark row: the capacity and what limited it, the floor, the probe at
// capacity and its confirmation, saturation and the overload probe, and every probe in order.
nlohmann::json row_of(const CapacityArgs& a, int n, const capacity::Result& r) {
  const auto& o = a.o;
  const std::string name = point_name(a, n);
  nlohmann::json row = benchmark_row(name, 0);
  // The load threads the probes used (0 asked for one per load CPU).
  const int load_threads = r.log.empty() ? o.load.threads : r.log.front().point.result.load_threads;
  row.update({{"subscribers", n},
              {"payload", o.load.payload},
              {"slo_ms", r.slo_ms},
              {"slo_source", r.slo_default ? "default" : "option"},
              {"probe_s", o.probe_s},
              {"precision", o.precision},
              {"warmup_s", o.warmup_s},
              {"tick_ms", o.tick_s * 1e3},
              {"broker_cpus", o.target.cpus.size()},
              {"load_cpus", o.load.cpus.size()},
              {"load_threads", load_threads},
              {"capacity", r.capacity},
              {"items_per_second", r.capacity},
              {"limit", r.limit},
              {"load_bound", r.load_bound ? 1 : 0},
              {"cpu_s_per_million", r.cpu_s_per_million()},
              {"broker_cpu_s_per_million", r.cpu_s_per_million()},
              {"load_cpu_s_per_million", r.load_cpu_s_per_million()},
              {"projected_ceiling", r.projected_ceiling()},
              {"confirmed", r.confirmed ? 1 : 0},
              {"confirm_p99_us", r.confirmation ? r.confirmation->p99_ms * 1e3 : 0.0},
              {"spread_p99", r.spread_p99},
              {"spread_delivered", r.spread_delivered},
              {"saturation", r.saturation},
              {"saturation_source", r.saturation_by == capacity::ProbeKind::flood ? "flood" : "probe"},
              {"probes", r.probes.size()}});
  add_floor_and_lowest(row, r);
  add_at_capacity(row, r);
  if (r.overload) add_overload(row, o, r);
  nlohmann::json probes = nlohmann::json::array();
  for (const auto& p : r.log) probes.push_back(probe_entry(p, "broker_cpu_s"));
  row["probe_log"] = probes;
  return row;
}

// kDefaultSlo in words: "10 ms up to 100 subscribers, 25 ms up to 1000, 100 ms above".
std::string default_slo_text() {
  std::string text;
  int below = 0;
  for (const auto& step : capacity::kDefaultSlo) {
    if (!text.empty()) text += ", ";
    if (step.up_to_subscribers == std::numeric_limits<int>::max())
      text += fmt::format("{} ms above {}", step.slo_ms, below);
    else
      text += fmt::format("{} ms up to {} subscribers", step.slo_ms, step.up_to_subscribers);
    below = step.up_to_subscribers;
  }
  return text;
}

void print_summary(int n, const capacity::Result& r, double overload) {
  const double floor_ms = r.floor ? r.floor->p99_ms : 0;
  if (r.capacity <= 0) {
    // Never "met the SLO at no rate tried": say what was tried and what the broker's floor is.
    const auto* low = r.lowest();
    if (low)
      fmt::print(
          "  {:>6} subscribers  no rate passed: lowest tried {:.0f}/s, p99 {:.2f} ms ({}), floor {:.2f} ms; "
          "limit {}\n",
          n, low->offered, low->p99_ms, low->verdict, floor_ms, r.limit);
    else
      fmt::print("  {:>6} subscribers  no rate passed: no search probe ran, floor {:.2f} ms; limit {}\n", n, floor_ms,
                 r.limit);
  } else {
    fmt::print(
        "  {:>6} subscribers  capacity {:.0f} deliveries/s{}{}, limited by {}; p99 {:.2f} ms (floor {:.2f} ms); CPU s "
        "per million: broker {:.3f}, generator {:.3f}\n",
        n, r.capacity, r.load_bound ? " (at least: the load generator was the limit)" : "",
        r.confirmed ? fmt::format(", confirmed (spread p99 {:.0f}%, delivered {:.0f}%)", 100 * r.spread_p99,
                                  100 * r.spread_delivered)
                    : ", NOT confirmed",
        r.limit, r.at_capacity ? r.at_capacity->p99_ms : 0.0, floor_ms, r.cpu_s_per_million(),
        r.load_cpu_s_per_million());
    fmt::print(
        "  {:>6} subscribers  projected ceiling {:.0f} deliveries/s per broker CPU-second (10^6 / CPU s per "
        "million)\n",
        n, r.projected_ceiling());
  }
  if (r.overload)
    fmt::print(
        "  {:>6} subscribers  at {}x saturation ({:.0f}/s, {}): goodput {:.0f}/s = {:.2f}x saturation{}, dropped "
        "{:.0f}, peak RSS {:.0f} KiB, p99 {:.1f} ms{}\n",
        n, overload, r.saturation, r.saturation_by == capacity::ProbeKind::flood ? "flood" : "probe", r.goodput,
        r.goodput_ratio(), r.collapsed ? " — COLLAPSED" : "", r.overload->counter("broker_dropped"),
        r.overload->counter("broker_hwm_kib"), r.overload->p99_ms,
        r.overload_under_offered ? " (under-offered: the generator published less than the saturation rate)" : "");
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
    a.o.load.subscribers = n;
    fmt::print("capacity fanout/{}/{}: {} subscribers, {} B, SLO p99 <= {} ms ({}), {} s probes; {}\n",
               a.o.target.model, a.o.target.design_name(), n, a.o.load.payload, capacity::slo_ms(a.o),
               a.o.slo_ms > 0 ? "--slo-ms" : fmt::format("the default for {} subscribers", n), a.o.probe_s,
               where.describe());
    std::fflush(stdout);
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

// How the search goes: its bound, the length and pacing of a probe, where it starts and stops.
void add_search_options(CLI::App* cap, capacity::Options& o) {
  cap->add_option("--slo-ms", o.slo_ms,
                  "p99 latency from the intended send must stay within this (default: " + default_slo_text() + ")")
      ->check(CLI::Range(0.01, 10'000.0));
  cap->add_option("--probe-seconds", o.probe_s, "how long each probe offers its load")
      ->check(CLI::Range(0.2, 600.0))
      ->capture_default_str();
  cap->add_option("--warmup-seconds", o.warmup_s, "a warm-up before each probe whose latencies are not judged")
      ->check(CLI::Range(0.0, 60.0))
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
  cap->add_option("--overload", o.overload,
                  "then offer this x the saturation rate (the most any probe delivered) and report goodput (0: skip)")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  cap->add_option("--max-probes", o.max_probes,
                  "give up after this many search probes (the floor, flood, confirmation and overload come on top)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
}

// Where the broker and the load run.
void add_placement_options(CLI::App* cap, CapacityArgs& a) {
  cap->add_option("--broker-cpus", a.broker_cpus, "CPUs the broker runs on (default: the first one, e.g. 0)");
  cap->add_option("--load-cpus", a.load_cpus, "CPUs the load generator runs on (default: the others, e.g. 1)");
  cap->add_flag("--no-pin", a.no_pin, "pin neither the broker nor the load");
  cap->add_option("--load-threads", a.o.load.threads,
                  "load generator threads, an event loop each (0: one per load CPU)")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
}

// The broker's own settings (tvl brokers), and any argument passed on to it.
void add_broker_options(CLI::App* cap, fanout_point::Target& target) {
  cap->add_option("--queue-depth", target.queue_depth, "messages one subscriber's queue holds (tvl brokers)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24))
      ->capture_default_str();
  cap->add_option("--queue-bytes", target.queue_bytes, "bytes one subscriber's queue holds (tvl brokers)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 34));
  cap->add_option("--loops", target.loops, "asyncloop-mt: event loops (default: one per broker CPU)")
      ->check(CLI::Range(1, 256));
  cap->add_option("--broker-arg", target.extra_args, "an argument passed on to the broker (repeatable)")
      ->allow_extra_args(false);
}

}  // namespace

void add_capacity(Commands c) {
  auto a = std::make_shared<CapacityArgs>();
  auto& o = a->o;
  auto* cap = c.app.add_subcommand(
      "capacity", "find the most deliveries/s a fan-out broker sustains within a latency bound, then overload it");
  cap->add_option("--model", o.target.model, "a tvl broker, or a peer: redis, python, python-uvloop")
      ->check(CLI::IsMember(catalog::fanout_models()));
  add_enum_option(cap, "--design", o.target.design, fanout::parse_design, "naive or improved (tvl brokers)");
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
  add_search_options(cap, o);
  add_placement_options(cap, *a);
  add_broker_options(cap, o.target);
  cap->add_option("--json", a->json, "write the points (Google Benchmark JSON format) to this file");
  add_capacity_echo(cap, c.exit_code);
  // `tvl capacity echo ...` ran its own callback; the fan-out form needs its --model.
  cap->callback([a, cap, &code = c.exit_code] {
    if (!cap->get_subcommands().empty()) return;
    if (cap->count("--model") == 0) throw UsageError("capacity: --model is required (or: tvl capacity echo --model M)");
    code = run_capacity(*a);
  });
}

}  // namespace tvl::cli
