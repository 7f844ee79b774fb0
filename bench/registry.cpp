// The registry table: one row per scenario, swept over the profile's parameters, expanded
// over every model and variant the catalog lists. Names: scenario/model/variant/param:value.
#include "bench/registry.hpp"

#include <atomic>
#include <stdexcept>
#include <vector>

#include <benchmark/benchmark.h>

#include "catalog/catalog.hpp"
#include "measure/metrics.hpp"

namespace tvl::bench {
namespace {

std::atomic<bool> failed{false};

// One benchmark iteration is one trial; every trial is checked before anything is reported.
void cutlery_benchmark(benchmark::State& state, cutlery::Params p) {
  std::vector<cutlery::Trial> trials;
  const auto before = metrics::usage();
  for (auto _ : state) {
    trials.push_back(catalog::find_cutlery(p.model, name_of(p.variant))->run(p));
    try {
      cutlery::check_work(p, trials.back());
    } catch (const std::exception& e) {
      mark_failed();
      state.SkipWithError(e.what());
      return;
    }
  }
  const auto cost = catalog::ProcessCost::since(before, static_cast<int>(trials.size()));
  report(state, catalog::cutlery_counters(p, cutlery::summarize(trials), cost));
}

}  // namespace

bool any_failed() { return failed; }

void report(benchmark::State& state, const std::vector<std::pair<std::string, double>>& counters) {
  for (const auto& [name, value] : counters) state.counters[name] = value;
}
void mark_failed() { failed = true; }

// The sizes of each profile. quick: what `make report` runs (minutes on 2 cores);
// full: the sweeps to the limits.
Profile profile_named(const std::string& name) {
  if (name == "quick")
    return {.name = name,
            .repetitions = 3,
            .cutlery_tables = {10, 100, 1000, 10000},
            .cutlery_trials = 20,  // x 3 repetitions: 60 trials a point, within the report's 5 minutes
            // At 10,000 tables a trial takes up to 0.35 s (await-inside); 18 trials there keep
            // the quick profile within its budget, and the intervals drawn say how sure they are.
            .cutlery_trials_largest = 6,
            .switch_round_trips = 30'000,  // 3 x 4 s at 100,000 took a tenth of the quick profile
            .create_count = 2'000,
            .waiting_threads = {250, 500, 1000, 2000},
            .waiting_coroutines = {10'000, 20'000, 50'000, 100'000},
            .restaurant_tables_service = 20,
            .restaurant_turns = 2,
            .fanout_subscribers = 100,
            .fanout_deliveries = 200'000,
            .fanout_seconds = 1};
  if (name == "full")
    return {.name = name,
            .repetitions = 3,
            .cutlery_tables = {10, 100, 1000, 10000, 100000},
            .cutlery_trials = 50,
            // At 100,000 tables a trial takes up to 3 s (await-inside): 10 trials a repetition
            // there keep the full profile within its 45 minutes (50 took 7 minutes for that row).
            .cutlery_trials_largest = 10,
            .switch_round_trips = 1'000'000,
            .create_count = 10'000,
            .waiting_threads = {1000, 2000, 4000, 8000, 16000},
            .waiting_coroutines = {100'000, 200'000, 500'000, 1'000'000},
            .restaurant_tables_service = 20,
            .restaurant_turns = 5,
            .fanout_subscribers = 1000,
            .fanout_deliveries = 200'000,
            .fanout_seconds = 3};
  throw std::invalid_argument("unknown profile '" + name + "' (quick or full)");
}

void register_all(const std::string& profile_name, int repetitions) {
  Profile profile = profile_named(profile_name);
  if (repetitions > 0) profile.repetitions = repetitions;
  register_cutlery(profile);
  register_primitives(profile);
  register_restaurant(profile);
  register_fanout(profile);
}

void register_cutlery(const Profile& profile) {
  const int largest = profile.cutlery_tables.back();
  for (const auto& v : catalog::cutlery_variants()) {
    for (const int tables : profile.cutlery_tables) {
      cutlery::Params p;
      p.model = v.model;
      p.variant = cutlery::parse_variant(v.variant);
      p.tables = tables;
      p.trials = tables == largest && profile.cutlery_trials_largest > 0 ? profile.cutlery_trials_largest
                                                                         : profile.cutlery_trials;
      const auto name = catalog::cutlery_name(p);
      benchmark::RegisterBenchmark(name.c_str(), cutlery_benchmark, p)
          ->UseRealTime()
          ->Iterations(p.trials)
          ->Repetitions(profile.repetitions)
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace tvl::bench
