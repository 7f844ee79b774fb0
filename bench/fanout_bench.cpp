// Benchmarks of the fan-out: each tvl broker and each peer as a child process under the same
// open-loop load. One iteration is one load; a load whose deliveries or broker counters do not
// add up stops the benchmark with an error.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "load/fanout_point.hpp"
#include "bench/registry.hpp"

namespace tvl::bench {
namespace {

void fanout_benchmark(benchmark::State& state, fanout_point::Target t, load::Params lp) {
  fanout_point::Point point;
  for (auto _ : state) {
    try {
      point = fanout_point::run_point(t, lp);
    } catch (const std::exception& e) {
      mark_failed();
      state.SkipWithError(e.what());
      return;
    }
    if (!point.check.empty()) {
      mark_failed();
      state.SkipWithError(point.check.c_str());
      return;
    }
  }
  for (const auto& [name, value] : point.counters) state.counters[name] = value;
}

struct Row {
  const char* model;
  const char* design;
};

constexpr Row kRows[] = {{"asyncloop", "improved"}, {"threads", "improved"}, {"redis", "peer"}, {"python", "peer"}};

}  // namespace

void register_fanout(const Profile& profile) {
  for (const Row& row : kRows) {
    fanout_point::Target t;
    t.model = row.model;
    if (std::string(row.design) != "peer") t.design = row.design;
    t.tvl_exe = fanout_point::tvl_beside_me();
    load::Params lp;
    lp.subscribers = profile.fanout_subscribers;
    lp.rate = profile.fanout_deliveries / lp.subscribers;
    lp.duration_s = profile.fanout_seconds;
    const auto name = fmt::format("fanout/{}/{}/subscribers:{}", row.model, row.design, lp.subscribers);
    benchmark::RegisterBenchmark(name.c_str(), fanout_benchmark, t, lp)
        ->UseRealTime()
        ->Iterations(1)
        ->Repetitions(profile.repetitions)
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace tvl::bench
