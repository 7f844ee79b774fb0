// The registry of tvl-bench: the sizes of each profile. Each scenario's benchmark functions live
// beside it (bench/<scenario>_bench.cpp) and register a row for every variant the catalog
// (catalog/catalog.hpp) lists, at these sizes.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

namespace tvl::bench {

struct Profile {
  std::string name;
  int repetitions;
  // cutlery
  std::vector<int> cutlery_tables;  // tables per bot
  int cutlery_trials;               // trials per repetition (benchmark iterations)
  int cutlery_trials_largest = 0;   // trials at the largest table count, where a trial takes
                                    // longest (0: cutlery_trials)
  // primitives
  long switch_round_trips;              // ping-pong round trips per measurement
  int create_count;                     // threads / coroutines created per measurement
  std::vector<int> waiting_threads;     // N values for the RSS slope of waiting threads
  std::vector<int> waiting_coroutines;  // N values for the RSS slope of waiting coroutines
  // restaurant (the sweeps of concurrent tables run as `tvl sweep restaurant`, see scripts/)
  int restaurant_tables_service;  // tables of one service in the registry rows
  int restaurant_turns;           // diners per table in one service
  // fan-out (the subscriber sweeps run as `tvl sweep fanout`, see scripts/)
  int fanout_subscribers;    // subscribers of the registry rows
  double fanout_deliveries;  // deliveries per second offered (open loop)
  double fanout_seconds;     // seconds of load
};

Profile profile_named(const std::string& name);  // "quick" or "full"; throws otherwise

// Registers every benchmark of the profile.
// repetitions > 0 replaces the profile's (tvl-bench --benchmark_repetitions=N: more repetitions
// for `tvl compare`, whose significance test needs at least 9 a side to be sure).
void register_all(const std::string& profile, int repetitions = 0);

// Per-scenario rows, called by register_all.
void register_cutlery(const Profile& p);
void register_primitives(const Profile& p);
void register_restaurant(const Profile& p);
void register_fanout(const Profile& p);

// A benchmark that did not do the work it claims calls this (and SkipWithError);
// the binary then exits non-zero.
void mark_failed();
bool any_failed();

// Sets a benchmark's counters from the catalog's list (catalog::Counters).
void report(benchmark::State& state, const std::vector<std::pair<std::string, double>>& counters);

}  // namespace tvl::bench
