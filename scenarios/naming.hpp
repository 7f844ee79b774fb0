// The name of every benchmark and sweep point: scenario/model/variant[/param:value...]. tvl-bench,
// `tvl run --json`, the sweeps and the capacity search all name their rows with benchmark_name;
// the plots (plots/tvlplots/load.py, parse_name) take the parameters back out of the name, and
// they and `tvl compare` line two runs up by it, so the same point must get the same name
// whichever program measured it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace tvl {

// One param:value segment of a name; the value is written as fmt writes it.
struct NameParam {
  template <class Value>
  NameParam(std::string_view name, const Value& v) : key(name), value(fmt::format("{}", v)) {}

  std::string_view key;
  std::string value;
};

inline std::string benchmark_name(std::string_view scenario, std::string_view model, std::string_view variant,
                                  const std::vector<NameParam>& params = {}) {
  std::string name = fmt::format("{}/{}/{}", scenario, model, variant);
  for (const auto& p : params) name += fmt::format("/{}:{}", p.key, p.value);
  return name;
}

}  // namespace tvl
