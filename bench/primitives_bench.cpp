// Benchmarks of the primitives scenario, registered from the catalog's mechanism tables: every switch and creation
// mechanism pinned and unpinned, and one memory curve per kind of waiting task. Names:
// primitives/<model>/<variant>/<param>:<value>.
#include <string>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "bench/registry.hpp"
#include "catalog/catalog.hpp"

namespace tvl::bench {
namespace {

namespace prim = tvl::primitives;

void fail(benchmark::State& state, const std::string& why) {
  mark_failed();
  state.SkipWithError(why.c_str());
}

// One iteration is one complete run (all round trips, or all creations), checked before it
// counts; the counters are those of the last run, and the repetitions give the median.
void run_benchmark(benchmark::State& state, const prim::Mechanism* m, prim::RunParams p, bool is_switch) {
  prim::RunResult last;
  for (auto _ : state) {
    last = m->run(p);
    try {
      prim::check_run(p, last, is_switch);
    } catch (const std::exception& e) {
      fail(state, e.what());
      return;
    }
  }
  report(state, prim::run_counters(*m, p, last, is_switch));
}

// One iteration is one whole curve: a forked child per N. Every point must have created all
// of its N tasks; a point that could not is an error, with the child's reason.
void memory_benchmark(benchmark::State& state, const prim::Waiter* w, prim::MemoryParams p) {
  prim::MemoryCurve curve;
  for (auto _ : state) curve = prim::measure_memory(w->run, p);
  for (const auto& point : curve.points) {
    if (!point.ok()) return fail(state, fmt::format("N={}: {}", point.n, point.reason));
  }
  if (!curve.fit) return fail(state, "fewer than 2 different task counts: no slope");
  report(state, prim::memory_counters(*w, curve));
}

}  // namespace

void register_primitives(const Profile& profile) {
  const auto add_runs = [&](const auto& table, long count, bool is_switch) {
    for (const auto& m : table) {
      for (const bool pinned : {true, false}) {
        const prim::RunParams p{.count = count, .pinned = pinned};
        benchmark::RegisterBenchmark(prim::run_name(m, pinned).c_str(), run_benchmark, &m, p, is_switch)
            ->UseRealTime()
            ->Iterations(1)
            ->Repetitions(profile.repetitions)
            ->Unit(benchmark::kMillisecond);
      }
    }
  };
  add_runs(catalog::primitive_switches(), profile.switch_round_trips, true);
  add_runs(catalog::primitive_creates(), profile.create_count, false);
  for (const auto& w : catalog::primitive_waiters()) {
    const prim::MemoryParams p{.ns = w.model == "threads" ? profile.waiting_threads : profile.waiting_coroutines};
    benchmark::RegisterBenchmark(prim::memory_name(w, p).c_str(), memory_benchmark, &w, p)
        ->UseRealTime()
        ->Iterations(1)
        ->Repetitions(profile.repetitions)
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace tvl::bench
