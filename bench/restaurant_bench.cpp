// Benchmarks of the restaurant, a row for every variant the catalog lists: the safe ones with
// the book's and the weekend staff, the unsafe ones (collisions) with the weekend staff, and
// each chatty-guest mode a variant names. One iteration is one service; the run is checked
// before its counters are reported.
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench/registry.hpp"
#include "catalog/catalog.hpp"

namespace tvl::bench {
namespace {

// A service in the registry rows: guests arrive over kRampSeconds, a table is served again
// every kPeriodSeconds, short enough for the quick profile's minutes.
constexpr double kRampSeconds = 0.3;
constexpr double kPeriodSeconds = 0.35;

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
  report(state, catalog::restaurant_counters(p, r));
}

struct Row {
  std::string_view staff, chatty;
};

// The rows of one variant: safe at both staffings, unsafe at the weekend's (where the early
// hand-over collides), then the chatty-guest modes it names, at the weekend's.
std::vector<Row> rows_of(const catalog::RestaurantVariant& v) {
  std::vector<Row> rows;
  if (v.variant == "safe") rows.push_back({"book", "none"});
  rows.push_back({"weekend", "none"});
  for (std::string_view modes = v.chatty; !modes.empty();) {
    const auto comma = modes.find(',');
    rows.push_back({"weekend", modes.substr(0, comma)});
    modes = comma == std::string_view::npos ? std::string_view{} : modes.substr(comma + 1);
  }
  return rows;
}

void add_row(const Profile& profile, const catalog::RestaurantVariant& v, const Row& row) {
  restaurant::Params p;
  p.model = v.model;
  p.variant = v.variant;
  p.staff = restaurant::parse_staffing(row.staff);
  p.chatty = restaurant::parse_chatty(row.chatty);
  p.tables = profile.restaurant_tables_service;
  p.turns = profile.restaurant_turns;
  p.ramp_s = kRampSeconds;
  p.period_s = kPeriodSeconds;
  const auto name = catalog::restaurant_name(p);
  benchmark::RegisterBenchmark(name.c_str(), restaurant_benchmark, p)
      ->UseRealTime()
      ->Iterations(1)
      ->Repetitions(profile.repetitions)
      ->Unit(benchmark::kMillisecond);
}

}  // namespace

void register_restaurant(const Profile& profile) {
  for (const auto& v : catalog::restaurant_variants())
    for (const Row& row : rows_of(v)) add_row(profile, v, row);
}

}  // namespace tvl::bench
