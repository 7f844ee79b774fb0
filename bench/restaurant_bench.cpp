// Benchmarks of the restaurant: every model with the book's and the weekend staff, the unsafe
// variants (collisions), and the chatty guest with and without offloading. One iteration is
// one service; the run is checked before its counters are reported.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "catalog/catalog.hpp"
#include "bench/registry.hpp"

namespace tvl::bench {
namespace {

void restaurant_benchmark(benchmark::State& state, restaurant::Params p) {
  restaurant::Result r;
  for (auto _ : state) {
    try {
      r = catalog::run_restaurant(p);
    } catch (const std::exception& e) {
      mark_failed();
      state.SkipWithError(e.what());
      return;
    }
  }
  for (const auto& [name, value] : catalog::restaurant_counters(p, r)) state.counters[name] = value;
}

struct Row {
  const char* model;
  const char* variant;
  const char* staff;
  const char* chatty;
};

// The rows: every model at both staffings, the unsafe twins, the chatty guest.
constexpr Row kRows[] = {
    {"threads", "safe", "book", "none"},
    {"threads", "safe", "weekend", "none"},
    {"threads-per-table", "safe", "book", "none"},
    {"threads-per-table", "safe", "weekend", "none"},
    {"tbb", "safe", "book", "none"},
    {"tbb", "safe", "weekend", "none"},
    {"asyncloop", "safe", "book", "none"},
    {"asyncloop", "safe", "weekend", "none"},
    {"threads", "unsafe", "weekend", "none"},
    {"threads-per-table", "unsafe", "weekend", "none"},
    {"tbb", "unsafe", "weekend", "none"},
    {"asyncloop", "unsafe", "weekend", "none"},
    {"threads", "safe", "weekend", "block"},
    {"asyncloop", "safe", "weekend", "block"},
    {"asyncloop", "safe", "weekend", "offload"},
};

}  // namespace

void register_restaurant(const Profile& profile) {
  for (const Row& row : kRows) {
    restaurant::Params p;
    p.model = row.model, p.variant = row.variant, p.staff = row.staff, p.chatty = row.chatty;
    p.tables = profile.restaurant_tables_service;
    p.turns = profile.restaurant_turns;
    p.ramp_s = 0.3, p.period_s = 0.35;
    const auto name = fmt::format("restaurant/{}/{}/staff:{}/chatty:{}/tables:{}", row.model, row.variant, row.staff,
                                  row.chatty, p.tables);
    benchmark::RegisterBenchmark(name.c_str(), restaurant_benchmark, p)
        ->UseRealTime()
        ->Iterations(1)
        ->Repetitions(profile.repetitions)
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace tvl::bench
