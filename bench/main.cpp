// tvl-bench: Google Benchmark with tvl's registry table and machine context.
//
//   tvl-bench [--tvl_profile=quick|full] [any --benchmark_* flag]
//
// --benchmark_repetitions=N replaces the profile's repetitions (every row sets its own, which
// would otherwise win over the flag).
//
// Exits non-zero when a benchmark did not do the work it claims.
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "bench/registry.hpp"
#include "measure/context.hpp"

int main(int argc, char** argv) {
  std::string profile = "quick";
  std::string command = "tvl-bench";
  int repetitions = 0;
  std::vector<char*> args{argv[0]};
  for (int i = 1; i < argc; ++i) {
    command += std::string(" ") + argv[i];
    constexpr const char* kFlag = "--tvl_profile=";
    constexpr const char* kRepetitions = "--benchmark_repetitions=";
    if (std::strncmp(argv[i], kFlag, std::strlen(kFlag)) == 0) {
      profile = argv[i] + std::strlen(kFlag);
      continue;
    }
    if (std::strncmp(argv[i], kRepetitions, std::strlen(kRepetitions)) == 0) {
      const char* value = argv[i] + std::strlen(kRepetitions);
      char* end = nullptr;
      const long r = std::strtol(value, &end, 10);
      if (end == value || *end != '\0' || r < 1 || r > 1000) {
        fmt::print(stderr,
                   "tvl-bench: error: --benchmark_repetitions must be a whole number from 1 to 1000, not '{}'\n",
                   value);
        return 2;
      }
      repetitions = static_cast<int>(r);
    }
    args.push_back(argv[i]);
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 2;
  try {
    tvl::bench::register_all(profile, repetitions);
  } catch (const std::exception& e) {
    fmt::print(stderr, "tvl-bench: error: {}\n", e.what());
    return 2;
  }
  for (const auto& [key, value] : tvl::machine_context()) benchmark::AddCustomContext(key, value);
  benchmark::AddCustomContext("tvl_profile", profile);
  benchmark::AddCustomContext("tvl_command", command);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (tvl::bench::any_failed()) {
    fmt::print(stderr, "tvl-bench: a benchmark did not do the work it claims; see the errors above\n");
    return 1;
  }
  return 0;
}
