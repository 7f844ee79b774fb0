// `tvl run fanout`, `tvl load` and `tvl sweep fanout`: the book's message broker (ch. 4) under
// each model, an open-loop load against it, and a sweep that starts each broker (or a peer:
// redis-server, the Python asyncio broker) as a child process, loads it, stops it with SIGTERM
// and checks its counters against the load's. The broker itself, `tvl broker`, is in
// app/broker_cli.cpp.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "app/cli.hpp"
#include "catalog/catalog.hpp"
#include "load/fanout_point.hpp"
#include "load/loadgen.hpp"
#include "measure/context.hpp"
#include "measure/limits.hpp"
#include "measure/metrics.hpp"
#include "measure/process.hpp"
#include "scenarios/fanout.hpp"

namespace tvl::cli {
namespace {

// What a result's context says of the latencies' clock; each row's receive_clock says which
// one its deliveries used.
constexpr const char* kReceiveClockNote =
    "latency ends at the kernel's receive stamp (SO_TIMESTAMPNS; for a read holding several messages, its last "
    "segment's: later than the truth, never earlier) where a row's receive_clock is 'kernel', at the generator's "
    "read where it is 'user'; user_p50_us/user_p99_us always end at the read";

void print_load(const load::Params& p, const load::Result& r) {
  const auto c = catalog::load_counters(p, r);
  auto get = [&](const char* k) {
    for (const auto& [key, v] : c)
      if (key == k) return v;
    return 0.0;
  };
  fmt::print("load: {} subscribers, {} publishers, {} B payload, {} msg/s for {} s on {} ({})\n", p.subscribers,
             p.publishers, p.payload, p.rate, p.duration_s, p.channel, fanout::name_of(p.protocol));
  fmt::print("  published {} ({:.0f}/s), delivered {} of {} ({:.0f}/s), lost {}, gaps {}, duplicates/reordered {}\n",
             r.published, get("published_per_second"), r.delivered, r.expected, get("items_per_second"), r.lost, r.gaps,
             r.duplicates_or_reordered);
  const bool kernel = r.receive_clock == load::kKernelClock;
  fmt::print("  latency from intended send  p50 {:.0f} us  p99 {:.0f}  p99.9 {:.0f}  max {:.0f}  (receipt: {})\n",
             get("p50_us"), get("p99_us"), get("p999_us"), get("max_us"),
             kernel ? "the kernel's receive stamp" : "when the generator read it; the kernel gave no stamp");
  if (kernel && r.unstamped > 0)
    fmt::print("  {} deliveries carried no kernel stamp: dated when the generator read them\n", r.unstamped);
  fmt::print("  latency from actual send    p50 {:.0f} us  p99 {:.0f}  p99.9 {:.0f}\n", get("sent_p50_us"),
             get("sent_p99_us"), get("sent_p999_us"));
  fmt::print("  the same, dated when the generator read it  p50 {:.0f} us  p99 {:.0f}  p99.9 {:.0f}\n",
             get("user_p50_us"), get("user_p99_us"), get("user_p999_us"));
  if (p.broker_pid > 0 || r.broker_rss_kib > 0)  // measured: the broker's pid was known (here or in run_point)
    fmt::print(
        "  broker: RSS {} KiB (peak {}), CPU {:.3f} s ({:.3f} s per million deliveries), context switches {} "
        "voluntary, {} involuntary\n",
        r.broker_rss_kib, r.broker_hwm_kib, r.broker_cpu_s, get("broker_cpu_s_per_million"), r.broker_vcsw,
        r.broker_ivcsw);
  fmt::print(
      "  generator: {} thread(s){}, CPU {:.3f} s ({:.3f} s per million deliveries), busiest thread {:.0f}% busy (on a "
      "CPU or waiting for one){}\n",
      r.load_threads, p.cpus.empty() ? "" : fmt::format(" on CPUs {}", fmt::join(p.cpus, ",")), r.load_cpu_s,
      get("load_cpu_s_per_million"), r.load_busy * 100,
      r.load_bound ? "  LOAD-BOUND: the generator may have been the limit" : "");
  if (r.publishers_stalled > 0)
    fmt::print("  {} publisher(s) stalled (the broker stopped reading): what they wrote counts as published\n",
               r.publishers_stalled);
  if (!r.impossible.empty()) fmt::print("  IMPOSSIBLE COUNTS: {}\n", r.impossible);
}

void add_load_options(CLI::App* cmd, load::Params& p, bool subscribers = true) {
  if (subscribers)
    cmd->add_option("--subscribers", p.subscribers, "subscriber connections")
        ->check(CLI::Range(1, 1'000'000))
        ->capture_default_str();
  cmd->add_option("--publishers", p.publishers, "publisher connections")
      ->check(CLI::Range(1, 10'000))
      ->capture_default_str();
  cmd->add_option("--payload", p.payload, "bytes per message")
      ->check(CLI::Range(fanout::kStampBytes, std::size_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--rate", p.rate, "messages per second, all publishers together (open loop)")
      ->check(CLI::Range(1.0, 1e8))
      ->capture_default_str();
  cmd->add_option("--duration", p.duration_s, "seconds of load")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  cmd->add_option("--channel", p.channel, "/topic/... (everyone) or /queue/... (round-robin)")->capture_default_str();
  cmd->add_option("--slow-subscribers", p.slow_subscribers, "extra subscribers that never read")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  cmd->add_option("--drain", p.drain_s, "seconds the last deliveries may take")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  cmd->add_option("--tick-ms", p.tick_s, "publishers send what is due once per this many ms (0: each message on time)")
      ->transform([](const std::string& ms) { return std::to_string(std::stod(ms) / 1e3); })
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--load-threads", p.threads, "load generator threads, an event loop each (0: one per load CPU)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  cmd->add_option("--load-cpus", p.cpus, "pin every load thread to these CPUs, comma separated (default: anywhere)")
      ->delimiter(',')
      ->check(CLI::Range(0, 4095));
}

struct FanoutSweepOptions {
  fanout_point::Target target;
  std::string broker_cpus;  // empty: the default placement (broker and load pinned apart)
  bool no_pin = false;
  std::vector<int> subscribers{10, 100, 1000};
  double deliveries = 0;  // > 0: each point's rate is deliveries / subscribers (a constant load)
  std::string json;
};

// The design must exist for the model (tvl list); then the broker and the load are placed
// (pinned apart unless no_pin) and this thread, which conducts the load, joins the load's CPUs.
fanout_point::Placement place_point(fanout_point::Target& t, load::Params& lp, const std::string& broker_cpus,
                                    bool no_pin) {
  if (!catalog::find_fanout(t.model, t.design_name()))
    throw UsageError(
        fmt::format("fanout: {} has no {} design (tvl list shows what exists)", t.model, fanout::name_of(t.design)));
  fanout_point::Placement where;
  try {
    where = fanout_point::place(broker_cpus, lp.cpus.empty() ? "" : fmt::format("{}", fmt::join(lp.cpus, ",")), no_pin);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  t.cpus = where.broker;
  lp.cpus = where.load;
  process::pin_this_thread(where.load);
  return where;
}

// The sweep's context: its command line, where the broker and the load ran, and which clock
// ended the latencies.
nlohmann::json sweep_context(const FanoutSweepOptions& o, const load::Params& lp,
                             const fanout_point::Placement& where) {
  const auto& t = o.target;
  nlohmann::json context = json_context(fmt::format(
      "tvl sweep fanout --model {}{} --subscribers {} {} --duration {} --payload {}{}{}", t.model,
      t.is_tvl() ? " --design " + t.design_name() : "", fmt::join(o.subscribers, ","),
      o.deliveries > 0 ? fmt::format("--deliveries {}", o.deliveries) : fmt::format("--rate {}", lp.rate),
      lp.duration_s, lp.payload, lp.slow_subscribers ? fmt::format(" --slow-subscribers {}", lp.slow_subscribers) : "",
      o.no_pin ? " --no-pin" : ""));
  const nlohmann::json placement = where.to_json();
  for (const auto& [k, v] : placement.items()) context[k] = v;
  context["receive_clock"] = kReceiveClockNote;
  return context;
}

// Runs one sweep point and fills its row with the counters, or with the check that failed.
// Throws when the point could not run (limits::LimitReached when this machine cannot reach it).
void run_sweep_point(const FanoutSweepOptions& o, const load::Params& lp, int n, nlohmann::json& row) {
  const auto point = fanout_point::run_point(o.target, lp);
  if (process::interrupted()) throw process::Interrupted();  // its broker was stopped half-way
  for (const auto& [k, v] : catalog::fanout_counters(lp, point)) row[k] = v;
  row["real_time"] = point.result.seconds * 1e9;
  row["receive_clock"] = point.result.receive_clock;
  fmt::print(
      "  {:>6} subscribers  delivered {:>10.0f}/s  p50 {:>8.0f} us  p99 {:>9.0f} us ({} clock)  CPU s per million: "
      "broker {:.2f}, generator {:.2f}{}  broker RSS {} KiB{}\n",
      n, row["items_per_second"].get<double>(), row["p50_us"].get<double>(), row["p99_us"].get<double>(),
      point.result.receive_clock, row["broker_cpu_s_per_million"].get<double>(),
      row["load_cpu_s_per_million"].get<double>(), point.result.load_bound ? " LOAD-BOUND" : "",
      point.result.broker_rss_kib, point.check.empty() ? "" : "  CHECK FAILED: " + point.check);
  // A failed check is recorded with the numbers, not as a missing point.
  if (!point.check.empty()) row["check_failed"] = point.check;
}

int run_fanout_sweep(FanoutSweepOptions o, load::Params lp) {
  process::catch_interrupts();  // Ctrl-C: stop the broker, keep the points finished
  AtomicFile out = open_result_file(o.json);
  const auto where = place_point(o.target, lp, o.broker_cpus, o.no_pin);
  const auto& t = o.target;
  const nlohmann::json context = sweep_context(o, lp, where);
  fmt::print(stderr, "sweep fanout/{}: {}\n", t.model, where.describe());
  nlohmann::json rows = nlohmann::json::array();
  int failed = 0;
  const std::string design = t.design_name();
  for (const int n : o.subscribers) {
    if (process::interrupted()) break;
    fmt::print(stderr, "sweep fanout/{}/{}: {} subscribers ...\n", t.model, design, n);
    if (o.deliveries > 0) lp.rate = std::max(1.0, o.deliveries / n);
    lp.subscribers = n;
    const std::string name = catalog::fanout_name(t, lp);
    nlohmann::json row = benchmark_row(name, 0);
    row["subscribers"] = n;
    std::string failure;
    try {
      run_sweep_point(o, lp, n, row);
    } catch (const limits::LimitReached& e) {  // the point cannot be reached here: said in fields too
      failure = e.what();
      row["failure_kind"] = e.kind;
      row["failure_detail"] = e.detail;
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (process::interrupted()) break;  // the point the signal cut short is not kept
    if (!failure.empty()) {
      ++failed;
      row["sweep_failed"] = true;
      row["failure_reason"] = failure;
      fmt::print("  {:>6} subscribers  FAILED: {}\n", n, failure);
    }
    rows.push_back(row);
  }
  if (!process::interrupted())
    fmt::print("{} of {} points reached\n", o.subscribers.size() - static_cast<std::size_t>(failed),
               o.subscribers.size());
  return finish_points(out, context, rows, o.subscribers.size(), 0);
}

// `tvl run fanout`: one checked point, like every other scenario's `tvl run`.
struct RunOptions {
  fanout_point::Target target;
  std::string broker_cpus;
  bool no_pin = false;
  std::string json;
};

int run_fanout_point(RunOptions o, load::Params lp) {
  process::catch_interrupts();  // Ctrl-C: the broker is stopped, nothing is written
  AtomicFile out = open_result_file(o.json);
  const auto where = place_point(o.target, lp, o.broker_cpus, o.no_pin);
  const std::string name = catalog::fanout_name(o.target, lp);
  fmt::print("{}: {}\n", name, where.describe());
  try {
    const auto point = catalog::run_fanout(o.target, lp);  // throws unless every check held
    if (process::interrupted()) throw process::Interrupted();
    print_load(lp, point.result);
    fmt::print("  checked: every subscriber got every message once and in order; the broker's counts agree\n");
    if (out) {
      out.commit(catalog::to_json(o.target, lp, point, where).dump(2) + '\n');
      fmt::print("  wrote {}\n", o.json);
    }
  } catch (const std::exception&) {
    if (!process::interrupted()) throw;
    fmt::print(stderr, "interrupted: the point did not finish{}\n", o.json.empty() ? "" : ", nothing written");
    return process::interrupted_exit_code();
  }
  return 0;
}

void add_run_fanout(Commands c) {
  auto o = std::make_shared<RunOptions>();
  auto lp = std::make_shared<load::Params>();
  // 100,000 deliveries a second by default: on a 2-core machine one load core reads that with
  // room to spare (about half busy), so the default point measures the broker, not the
  // generator (a load core costs about what a broker core does per delivery, docs/fanout.md).
  lp->subscribers = 100;
  lp->rate = 1'000;
  lp->duration_s = 1;
  auto* run = c.run.add_subcommand("fanout", "one fan-out point: a broker as a child process, the load, every check");
  run->add_option("--model", o->target.model, "a tvl broker, or a peer: redis, python, python-uvloop")
      ->check(CLI::IsMember(catalog::fanout_models()))
      ->capture_default_str();
  add_enum_option(run, "--design", o->target.design, fanout::parse_design,
                  "naive or improved (tvl brokers; tvl list shows which exist)");
  run->add_option("--broker-cpus", o->broker_cpus, "CPUs the broker runs on (default: the first one, e.g. 0)");
  run->add_flag("--no-pin", o->no_pin, "pin neither the broker nor the load (default: pinned apart)");
  add_load_options(run, *lp);
  run->add_option("--json", o->json, "also write the point (name, params, counters, context) to this JSON file");
  run->callback([o, lp, &code = c.exit_code] { code = run_fanout_point(*o, *lp); });
}

// `tvl load`: an open-loop load against a broker already listening.
void add_load(Commands c) {
  auto lp = std::make_shared<load::Params>();
  auto json = std::make_shared<std::string>();
  auto* l = c.app.add_subcommand("load", "an open-loop load against a broker listening on host:port");
  l->add_option("--host", lp->host, "broker address")->capture_default_str();
  l->add_option("--port", lp->port, "broker port")->required();
  add_enum_option(l, "--protocol", lp->protocol, fanout::parse_protocol,
                  "tvl (the book's frames) or resp (redis-server)");
  l->add_option("--broker-pid", lp->broker_pid, "read the broker's RSS, CPU and context switches from /proc/PID");
  add_load_options(l, *lp);
  l->add_option("--json", *json, "also write the counters to this JSON file");
  l->callback([lp, json, &code = c.exit_code] {
    AtomicFile out = open_result_file(*json);
    const auto r = load::run(*lp);
    print_load(*lp, r);
    if (out) {
      nlohmann::json counters = nlohmann::json::object();
      for (const auto& [k, v] : catalog::load_counters(*lp, r)) counters[k] = v;
      out.commit(nlohmann::json{{"name", "fanout/load"}, {"counters", counters}}.dump(2) + '\n');
    }
    code = 0;
  });
}

// `tvl sweep fanout`: a point per subscriber count, each broker a child process.
void add_sweep_fanout(Commands c) {
  auto so = std::make_shared<FanoutSweepOptions>();
  auto sp = std::make_shared<load::Params>();
  sp->rate = 20'000;
  auto* sw = c.sweep.add_subcommand("fanout",
                                    "load a broker (or a peer) at many subscriber counts, each broker a child process");
  sw->add_option("--model", so->target.model, "a tvl broker, or a peer: redis, python, python-uvloop")
      ->check(CLI::IsMember(catalog::fanout_models()))
      ->capture_default_str();
  add_enum_option(sw, "--design", so->target.design, fanout::parse_design, "naive or improved (tvl brokers)");
  sw->add_option("--subscribers", so->subscribers, "subscriber counts, comma separated")
      ->delimiter(',')
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  sw->add_option("--queue-depth", so->target.queue_depth, "per-subscriber send queue (improved)")
      ->capture_default_str();
  add_enum_option(sw, "--slow-policy", so->target.slow_policy, fanout::parse_slow_policy, "drop or disconnect");
  sw->add_option("--queue-bytes", so->target.queue_bytes, "bytes one subscriber's queue holds (tvl brokers)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 34));
  sw->add_option("--loops", so->target.loops, "asyncloop-mt: event loops (default: one per broker CPU)")
      ->check(CLI::Range(1, 256));
  sw->add_option("--broker-cpus", so->broker_cpus, "CPUs the broker runs on (default: the first one, e.g. 0)");
  sw->add_flag("--no-pin", so->no_pin, "pin neither the broker nor the load (default: pinned apart)");
  add_load_options(sw, *sp, false);
  sw->add_option("--deliveries", so->deliveries,
                 "deliveries per second at every point: the rate becomes this / subscribers")
      ->check(CLI::Range(0.0, 1e9));
  sw->add_option("--json", so->json, "write the points (Google Benchmark JSON format) to this file");
  sw->callback([so, sp, &code = c.exit_code] { code = run_fanout_sweep(*so, *sp); });
}

}  // namespace

void add_fanout(Commands c) {
  add_run_fanout(c);
  add_broker(c);
  add_load(c);
  add_sweep_fanout(c);
}

}  // namespace tvl::cli
