// `tvl run primitives` (placeholder until the scenario lands).
#include "app/cli.hpp"

namespace tvl::cli {

void add_primitives(Commands) {}

}  // namespace tvl::cli
