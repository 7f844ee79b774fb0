// Closed sets of names: a parameter with a fixed set of values is an enum, and each enum has
// one table of names, indexed by its values. The command line parses a name once, with
// parse_name(); everything below it holds the enum and asks the table for the name back.
#pragma once

#include <array>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tvl {

// The value whose name is `name`, or std::invalid_argument naming `what` and every valid name.
template <typename Enum, std::size_t N>
Enum parse_name(const std::array<std::string_view, N>& names, std::string_view name, std::string_view what) {
  for (std::size_t i = 0; i < N; ++i)
    if (names[i] == name) return static_cast<Enum>(i);
  std::string valid;
  for (const std::string_view known : names) {
    if (!valid.empty()) valid += ", ";
    valid += known;
  }
  throw std::invalid_argument("no " + std::string(what) + " '" + std::string(name) + "' (valid: " + valid + ")");
}

}  // namespace tvl
