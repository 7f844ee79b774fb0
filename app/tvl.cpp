// tvl: run a scenario under one concurrency model and print what it measured.
//
//   tvl list
//   tvl run cutlery --model threads --variant racy --tables 10000 --trials 100 [--json FILE]
//   tvl explain cutlery
//
// Bad arguments print one message and exit with status 2; a run that did not do the work it
// claims exits with status 1.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "app/catalog.hpp"

namespace {

using tvl::catalog::cutlery_variants;

constexpr int kUsageError = 2;

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void list() {
  for (const auto& s : tvl::catalog::scenarios()) {
    fmt::print("{}  {}\n", s.name, s.what);
    for (const auto& v : cutlery_variants())
      fmt::print("  --model {:<13} --variant {:<13} {}  [{}]\n", v.model, v.variant, v.what,
                 v.loses_updates ? "loses updates" : "keeps the invariant");
  }
}

std::string first_variant_of(const std::string& model) {
  for (const auto& v : cutlery_variants())
    if (v.model == model) return std::string(v.variant);
  return {};
}

int run_cutlery(tvl::cutlery::Params p, const std::string& json_path) {
  if (p.variant.empty()) p.variant = first_variant_of(p.model);
  if (!tvl::catalog::find_cutlery(p.model, p.variant)) {
    std::string known;
    for (const auto& v : cutlery_variants())
      if (v.model == p.model) known += (known.empty() ? "" : ", ") + std::string(v.variant);
    throw UsageError(fmt::format("model '{}' has no variant '{}' (it has: {})", p.model, p.variant, known));
  }
  const auto s = tvl::catalog::run_cutlery(p);
  fmt::print("cutlery/{}/{}: {} bots x {} tables, {} trials, {} OS thread(s)\n", p.model, p.variant, p.bots, p.tables,
             s.trials, s.os_threads);
  fmt::print("  failed trials     {} of {}  (kitchen not back at {} knives / {} forks)\n", s.failures, s.trials,
             tvl::cutlery::kKitchenKnives, tvl::cutlery::kKitchenForks);
  fmt::print("  fail_rate         {:.3f}  95% Wilson interval [{:.3f}, {:.3f}]\n", s.fail_rate, s.fail_lo, s.fail_hi);
  fmt::print("  mean drift        knives {:.2f}, forks {:.2f}\n", s.drift_knives, s.drift_forks);
  fmt::print("  items_per_second  {:.4g} table operations/s ({} operations in {:.3f} s)\n", s.items_per_second,
             s.table_ops, s.seconds);
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    if (!out) throw UsageError("cannot write --json file '" + json_path + "'");
    out << tvl::catalog::to_json(p, s).dump(2) << '\n';
    fmt::print("  wrote {}\n", json_path);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tvl: threads vs. event loop, the scenarios of 'Using Asyncio in Python' as paired programs"};
  app.require_subcommand(1);

  app.add_subcommand("list", "list scenarios, models and variants")->callback(list);

  std::set<std::string> scenario_names;
  for (const auto& s : tvl::catalog::scenarios()) scenario_names.insert(std::string(s.name));
  std::set<std::string> model_names;
  for (const auto& v : cutlery_variants()) model_names.insert(std::string(v.model));

  tvl::cutlery::Params params;
  params.variant.clear();
  std::string scenario, json_path;
  auto* run = app.add_subcommand("run", "run one scenario under one model and print its metrics");
  run->add_option("scenario", scenario, "scenario to run")->required()->check(CLI::IsMember(scenario_names));
  run->add_option("--model", params.model, "concurrency model")
      ->check(CLI::IsMember(model_names))
      ->capture_default_str();
  run->add_option("--variant", params.variant, "variant of the model (default: its first; see tvl list)");
  run->add_option("--bots", params.bots, "number of bots")->check(CLI::Range(2, 1000))->capture_default_str();
  run->add_option("--tables", params.tables, "tables each bot prepares and clears")
      ->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
  run->add_option("--trials", params.trials, "independent trials")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  run->add_option("--threads", params.os_threads, "OS threads for the tbb and asyncloop-mt pools (0: one per core)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  run->add_option("--json", json_path, "also write the counters to this JSON file");

  std::string explain_what;
  auto* explain = app.add_subcommand("explain", "show, step by step, how a scenario goes wrong");
  explain->add_option("scenario", explain_what, "scenario to explain")
      ->required()
      ->check(CLI::IsMember(scenario_names));

  try {
    app.parse(argc, argv);
    if (*run) return run_cutlery(params, json_path);
    if (*explain) fmt::print("{}", tvl::cutlery::explain());
    return 0;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "tvl: error: {}\nRun 'tvl --help' for usage.\n", e.what());
    return kUsageError;
  } catch (const UsageError& e) {
    fmt::print(stderr, "tvl: error: {}\n", e.what());
    return kUsageError;
  } catch (const std::exception& e) {
    fmt::print(stderr, "tvl: run failed: {}\n", e.what());
    return 1;
  }
}
