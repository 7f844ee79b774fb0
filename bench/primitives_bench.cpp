// Benchmarks of the primitives scenario (placeholder until the scenario lands).
#include "bench/registry.hpp"

namespace tvl::bench {

void register_primitives(const Profile&) {}

}  // namespace tvl::bench
