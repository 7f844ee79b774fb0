// The machine and build a result came from, stamped on every JSON file and figure.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace tvl {

// Ordered (key, value) pairs: compiler, boost_version, tbb_version, benchmark_version, kernel,
// cpu_model, cores, git_revision, sanitizer.
std::vector<std::pair<std::string, std::string>> machine_context();

// The same as the "context" object of a JSON file tvl writes outside Google Benchmark (`tvl run
// --json`, `tvl sweep`): the machine context plus the date, the host and the command.
nlohmann::json json_context(const std::string& command);

// A row of a JSON file in Google Benchmark's shape (what tvl-bench writes and the plots read),
// for the rows tvl writes itself (sweeps, capacity, `tvl run primitives`): name, run_name,
// run_type, one repetition of one iteration, real_time in time_unit, cpu_time 0. The caller
// adds the counters as top-level fields.
nlohmann::json benchmark_row(const std::string& name, double real_time_s, const std::string& time_unit = "ns");

}  // namespace tvl
