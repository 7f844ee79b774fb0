// Benchmarks of the fan-out: every broker the catalog marks as benched (tvl's improved ones and
// the peers), each a child process under the same open-loop load. One iteration is one load;
// a load whose deliveries or broker counters do not add up stops the benchmark with an error.
#include <benchmark/benchmark.h>

#include "bench/registry.hpp"
#include "catalog/catalog.hpp"

namespace tvl::bench {
namespace {

void fanout_benchmark(benchmark::State& state, fanout_point::Target t, load::Params lp) {
  fanout_point::Point point;
  for (auto _ : state) {
    try {
      point = catalog::run_fanout(t, lp);
    } catch (const std::exception& e) {
      mark_failed();
      state.SkipWithError(e.what());
      return;
    }
  }
  report(state, catalog::fanout_counters(lp, point));
}

}  // namespace

void register_fanout(const Profile& profile) {
  for (const auto& v : catalog::fanout_variants()) {
    if (!v.benched) continue;
    fanout_point::Target t;
    t.model = v.model;
    if (v.broker) t.design = fanout::parse_design(v.design);
    t.tvl_exe = fanout_point::tvl_beside_me();
    load::Params lp;
    lp.subscribers = profile.fanout_subscribers;
    lp.rate = profile.fanout_deliveries / lp.subscribers;
    lp.duration_s = profile.fanout_seconds;
    benchmark::RegisterBenchmark(catalog::fanout_name(t, lp).c_str(), fanout_benchmark, t, lp)
        ->UseRealTime()
        ->Iterations(1)
        ->Repetitions(profile.repetitions)
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace tvl::bench
