// Benchmarks of the restaurant scenario (placeholder until the scenario lands).
#include "bench/registry.hpp"

namespace tvl::bench {

void register_restaurant(const Profile&) {}

}  // namespace tvl::bench
