// The catalog: every scenario x model x variant that exists, and the function that runs it.
// `tvl list`, `tvl run`, the benchmark registry and the tests all read this one table.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "scenarios/cutlery.hpp"
#include "scenarios/restaurant.hpp"

namespace tvl::catalog {

struct CutleryVariant {
  std::string_view model;
  std::string_view variant;
  cutlery::TrialFn run;
  bool loses_updates;     // what the lesson expects: true for the racy ones
  std::string_view what;  // one line for `tvl list`
};

std::span<const CutleryVariant> cutlery_variants();

// nullptr when there is no such model/variant.
const CutleryVariant* find_cutlery(std::string_view model, std::string_view variant);

// Runs p.trials trials, checks each did the work it claims (throws if not) and summarises.
cutlery::Summary run_cutlery(const cutlery::Params& p);

// The summary as JSON with the counter names the benchmarks use.
nlohmann::json to_json(const cutlery::Params& p, const cutlery::Summary& s);

struct RestaurantVariant {
  std::string_view model;
  std::string_view variant;
  restaurant::RunFn run;
  std::string_view what;
};

std::span<const RestaurantVariant> restaurant_variants();
const RestaurantVariant* find_restaurant(std::string_view model, std::string_view variant);

// Runs one restaurant, checks it did the work it claims (throws if not).
restaurant::Result run_restaurant(const restaurant::Params& p);

// The counters of a restaurant run, with the names every scenario uses (p50_us, rss_kib...).
std::vector<std::pair<std::string, double>> restaurant_counters(const restaurant::Params& p,
                                                                const restaurant::Result& r);

// A restaurant run as JSON: name, params, counters, context.
nlohmann::json to_json(const restaurant::Params& p, const restaurant::Result& r);

// The scenarios, and every model/variant of each, for `tvl list`.
struct ScenarioInfo {
  std::string_view name;
  std::string_view what;
};
std::span<const ScenarioInfo> scenarios();

struct Listing {
  std::string_view scenario, model, variant, what;
};
const std::vector<Listing>& listing();

}  // namespace tvl::catalog
