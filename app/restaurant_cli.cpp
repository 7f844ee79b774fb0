// `tvl run restaurant` (placeholder until the scenario lands).
#include "app/cli.hpp"

namespace tvl::cli {

void add_restaurant(Commands) {}

}  // namespace tvl::cli
