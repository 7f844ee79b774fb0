// `tvl run restaurant` and `tvl sweep restaurant`.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>

#include "app/cli.hpp"
#include "catalog/catalog.hpp"
#include "measure/context.hpp"
#include "measure/process.hpp"

namespace tvl::cli {
namespace {

using restaurant::Params;

std::set<std::string> models() {
  std::set<std::string> m;
  for (const auto& v : catalog::restaurant_variants()) m.insert(std::string(v.model));
  return m;
}

void add_options(CLI::App* cmd, Params& p) {
  cmd->add_option("--model", p.model, "concurrency model")->check(CLI::IsMember(models()))->capture_default_str();
  cmd->add_option("--variant", p.variant, "safe, or unsafe (bots hand a table on before they are done)")
      ->check(CLI::IsMember({"safe", "unsafe"}))
      ->capture_default_str();
  add_enum_option(cmd, "--staff", p.staff, restaurant::parse_staffing, "book (4 bots) or weekend (7 bots)");
  cmd->add_option("--turns", p.turns, "diners each table serves, one after another")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--ramp", p.ramp_s, "first arrivals spread over this many seconds")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  cmd->add_option("--period", p.period_s, "seconds between a table's diners")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  cmd->add_option("--menu-ms", p.waits_ms[0], "reading the menu")->check(CLI::Range(0.0, 1e6))->capture_default_str();
  cmd->add_option("--cook-ms", p.waits_ms[1], "cooking")->check(CLI::Range(0.0, 1e6))->capture_default_str();
  cmd->add_option("--eat-ms", p.waits_ms[2], "eating")->check(CLI::Range(0.0, 1e6))->capture_default_str();
  cmd->add_option("--service-scale", p.service_scale, "multiplies every bot's service time (0: bookkeeping only)")
      ->check(CLI::Range(0.0, 1000.0))
      ->capture_default_str();
  add_enum_option(cmd, "--chatty", p.chatty, restaurant::parse_chatty,
                  "a guest who holds the GreetBot at the bill: none, block, or offload");
  cmd->add_option("--chatty-ms", p.chatty_ms, "how long the chatty guest talks")
      ->check(CLI::Range(0.0, 10'000.0))
      ->capture_default_str();
  cmd->add_option("--chatty-every", p.chatty_every, "every n-th diner is chatty")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  cmd->add_option("--threads", p.os_threads, "tbb pool / offload pool size (0: one per core)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  cmd->add_option("--seed", p.seed, "seed of the arrival schedule")->capture_default_str();
  cmd->add_option("--deadline", p.deadline_s, "fail the run if it has not finished after this many seconds")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
}

void print(const Params& p, const restaurant::Result& r) {
  const auto counters = catalog::restaurant_counters(p, r);
  auto get = [&](const std::string& k) {
    for (const auto& [key, v] : counters)
      if (key == k) return v;
    return 0.0;
  };
  fmt::print("restaurant/{}/{}: staff {}, {} tables x {} diners, chatty {}, {} OS thread(s)\n", p.model, p.variant,
             name_of(p.staff), p.tables, p.turns, name_of(p.chatty), r.os_threads);
  fmt::print("  items_per_second  {:.1f} meals/s ({} meals in {:.2f} s)\n", get("items_per_second"), r.meals,
             r.seconds);
  fmt::print("  latency (arrival -> paid)  p50 {:.0f} us  p90 {:.0f}  p99 {:.0f}  p99.9 {:.0f}  max {:.0f}\n",
             get("p50_us"), get("p90_us"), get("p99_us"), get("p999_us"), get("max_us"));
  fmt::print("  overhead over the ideal {:.0f} us meal:  p50 {:.0f} us  p99 {:.0f} us  max {:.0f} us\n",
             get("ideal_us"), get("overhead_p50_us"), get("overhead_p99_us"), get("overhead_max_us"));
  fmt::print("  timer lateness  p50 {:.0f} us  p99 {:.0f} us  max {:.0f} us\n", get("lateness_p50_us"),
             get("lateness_p99_us"), get("lateness_max_us"));
  for (const auto& b : r.bots)
    fmt::print("  {:<9} #{}  {:>7} steps  idle {:5.1f}%\n", restaurant::role_name(b.role), b.instance + 1, b.steps,
               100.0 * (1.0 - static_cast<double>(b.busy_ns) / 1e9 / r.seconds));
  fmt::print("  busiest bot idle {:.1f}% (the book: about 98% for its busiest ThreadBot)\n",
             get("busiest_bot_idle_pct"));
  if (r.loop_cpu_s >= 0)
    fmt::print("  the loop thread idle {:.1f}% (the book: about 97% for a LoopBot doing seven bots' work)\n",
               get("loop_idle_pct"));
  fmt::print("  memory  peak RSS {} KiB, {:.2f} KiB per table; context switches {} voluntary, {} involuntary\n",
             r.rss_peak_kib, get("kib_per_table"), r.vcsw, r.ivcsw);
  fmt::print("  collisions  {} (duplicate order {}, seated while clearing {}, plate grabbed {}, other {})\n",
             get("collisions"), r.collisions[0], r.collisions[1], r.collisions[2], r.collisions[3]);
}

std::vector<std::string> child_args(Params p, int tables, double arrival_rate, const std::string& json) {
  // Arrivals at a fixed rate, so the loop is not swamped by the size of the point alone, and
  // the first diners still eating when the last sit down: every table is waiting at once.
  p.ramp_s = std::max(p.ramp_s, tables / arrival_rate);
  p.waits_ms[2] += p.ramp_s * 1000;
  // The run's own deadline: the whole schedule, and a minute to spare.
  p.deadline_s = std::max(
      p.deadline_s, p.ramp_s + p.turns * p.period_s + (p.waits_ms[0] + p.waits_ms[1] + p.waits_ms[2]) / 1000 + 60);
  return {process::self_exe(),
          "run",
          "restaurant",
          "--model",
          p.model,
          "--variant",
          p.variant,
          "--staff",
          name_of(p.staff),
          "--tables",
          std::to_string(tables),
          "--turns",
          std::to_string(p.turns),
          "--ramp",
          fmt::format("{}", p.ramp_s),
          "--period",
          fmt::format("{}", p.period_s),
          "--menu-ms",
          fmt::format("{}", p.waits_ms[0]),
          "--cook-ms",
          fmt::format("{}", p.waits_ms[1]),
          "--eat-ms",
          fmt::format("{}", p.waits_ms[2]),
          "--service-scale",
          fmt::format("{}", p.service_scale),
          "--chatty",
          name_of(p.chatty),
          "--chatty-ms",
          fmt::format("{}", p.chatty_ms),
          "--chatty-every",
          std::to_string(p.chatty_every),
          "--threads",
          std::to_string(p.os_threads),
          "--seed",
          std::to_string(p.seed),
          "--deadline",
          fmt::format("{}", p.deadline_s),
          "--json",
          json};
}

struct SweepOptions {
  std::vector<int> tables{10, 100, 1000, 10000};
  double arrival_rate = 10'000;  // tables seated per second
  double timeout_s = 0;          // 0: the point's own schedule and deadline, plus 30 s
  long address_space_mib = 0;
  std::string json;
};

// A private folder for the points' own --json files, removed with all it holds (a point killed
// half-way leaves its temporary file there).
struct PointFolder {
  std::filesystem::path path;
  PointFolder() {
    std::string name = (std::filesystem::temp_directory_path() / "tvl-sweep-XXXXXX").string();
    if (!mkdtemp(name.data())) throw std::runtime_error("cannot make a temporary folder in " + name);
    path = name;
  }
  PointFolder(const PointFolder&) = delete;
  PointFolder& operator=(const PointFolder&) = delete;
  ~PointFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

// Each point in a child process; a failed point is recorded with its reason, never dropped. A
// signal (Ctrl-C) stops the running point and keeps the finished ones (finish_points).
int run_sweep(const Params& p, const SweepOptions& o) {
  process::catch_interrupts();  // Ctrl-C: stop the running point, keep the finished ones
  AtomicFile out = open_result_file(o.json);
  const nlohmann::json context = json_context(
      fmt::format("tvl sweep restaurant --model {} --variant {} --tables {} --arrival-rate {} --timeout {}{}", p.model,
                  p.variant, fmt::join(o.tables, ","), o.arrival_rate, o.timeout_s,
                  o.address_space_mib ? fmt::format(" --max-address-space {}", o.address_space_mib) : ""));
  nlohmann::json rows = nlohmann::json::array();
  int failed = 0;
  const PointFolder folder;
  const auto tmp = folder.path / "point.json";
  for (const int n : o.tables) {
    if (process::interrupted()) break;
    fmt::print(stderr, "sweep restaurant/{}/{}: {} tables ...\n", p.model, p.variant, n);
    const auto args = child_args(p, n, o.arrival_rate, tmp.string());
    // The child's own deadline comes first: the timeout only catches a child that hangs.
    const double deadline = std::stod(*(std::find(args.begin(), args.end(), "--deadline") + 1));
    const auto outcome = process::run_child(args, o.timeout_s > 0 ? o.timeout_s : deadline + 30, o.address_space_mib);
    if (process::interrupted() && !outcome.ok) break;  // cut short by the signal: not kept
    const std::string name = benchmark_name("restaurant", p.model, p.variant, {{"sweep", "scale"}, {"tables", n}});
    nlohmann::json row = benchmark_row(name, outcome.seconds);
    row.update({{"threads", 1}, {"tables", n}});
    if (outcome.ok) {
      std::ifstream in(tmp);
      const auto result = nlohmann::json::parse(in);
      for (const auto& [key, value] : result["counters"].items()) row[key] = value;
      fmt::print(
          "  {:>8} tables  {:>8.3f} KiB/table  overhead p50 {:>9.0f} us  p99 {:>9.0f} us  lateness p99 {:>8.0f} us  "
          "{} OS threads\n",
          n, row["kib_per_table"].get<double>(), row["overhead_p50_us"].get<double>(),
          row["overhead_p99_us"].get<double>(), row["lateness_p99_us"].get<double>(), row["os_threads"].get<double>());
    } else {
      ++failed;
      row["sweep_failed"] = true;
      row["failure_reason"] = outcome.reason();
      if (const auto limit = outcome.limit(); !limit.is_null()) {
        row["failure_kind"] = limit["kind"];
        row["failure_detail"] = limit["detail"];
      }
      fmt::print("  {:>8} tables  FAILED: {}\n", n, outcome.reason());
    }
    rows.push_back(row);
  }
  if (!process::interrupted())
    fmt::print("{} of {} points reached{}\n", o.tables.size() - static_cast<std::size_t>(failed), o.tables.size(),
               failed ? " (each failure is recorded with its reason)" : "");
  return finish_points(out, context, rows, o.tables.size(), 0);
}

}  // namespace

void add_restaurant(Commands c) {
  auto p = std::make_shared<Params>();
  auto json = std::make_shared<std::string>();
  auto* run = c.run.add_subcommand("restaurant", "the restaurant of ThreadBots (book ch. 1)");
  add_options(run, *p);
  run->add_option("--tables", p->tables, "tables (each serves --turns diners)")
      ->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
  run->add_option("--json", *json, "also write the counters to this JSON file");
  run->callback([p, json, &code = c.exit_code] {
    AtomicFile out = open_result_file(*json);
    const auto r = catalog::run_restaurant(*p);
    print(*p, r);
    out.commit(catalog::to_json(*p, r).dump(2) + '\n');
    code = 0;
  });

  // A sweep measures many concurrent tables: one diner each, seated at --arrival-rate, the
  // first still eating when the last sits down; the bots' service is bookkeeping only.
  auto s = std::make_shared<Params>();
  s->turns = 1, s->ramp_s = 0.2, s->waits_ms = {100, 200, 500}, s->service_scale = 0;
  auto o = std::make_shared<SweepOptions>();
  auto* sw = c.sweep.add_subcommand("restaurant", "run the restaurant at many table counts, each in a child process");
  add_options(sw, *s);
  sw->add_option("--tables", o->tables, "table counts, comma separated")
      ->delimiter(',')
      ->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
  sw->add_option("--arrival-rate", o->arrival_rate, "tables seated per second (the ramp is at least tables/rate)")
      ->check(CLI::Range(1.0, 1e9))
      ->capture_default_str();
  sw->add_option("--timeout", o->timeout_s, "seconds a point may take before it is killed (0: its schedule + 30 s)")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  sw->add_option("--max-address-space", o->address_space_mib, "cap each point's address space, MiB (0: no cap)")
      ->check(CLI::Range(0L, 1L << 30));
  sw->add_option("--json", o->json, "write the points (Google Benchmark JSON format) to this file");
  sw->callback([s, o, &code = c.exit_code] { code = run_sweep(*s, *o); });
}

}  // namespace tvl::cli
