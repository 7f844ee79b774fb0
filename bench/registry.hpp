// The one registry table of tvl-bench: every scenario x model x variant x parameter.
#pragma once

#include <string>

namespace tvl::bench {

// Registers every benchmark of the profile ("quick" or "full"); throws on an unknown profile.
void register_all(const std::string& profile);

// True once any benchmark failed its work check (the binary then exits non-zero).
bool any_failed();

}  // namespace tvl::bench
