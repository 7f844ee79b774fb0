// The machine and build a result came from, stamped on every JSON file and figure.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace tvl {

// Ordered (key, value) pairs: compiler, boost_version, tbb_version, benchmark_version, kernel,
// cpu_model, cores, git_revision, sanitizer.
std::vector<std::pair<std::string, std::string>> machine_context();

}  // namespace tvl
