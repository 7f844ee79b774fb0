// Inside the catalog: the document `tvl run <scenario> --json` writes, which each scenario's
// to_json fills in. The layers above read it through catalog/catalog.hpp's to_json overloads.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "catalog/catalog.hpp"

namespace tvl::catalog {

// The same shape for every scenario: name, scenario, model, variant, params, counters, context.
nlohmann::json run_document(const std::string& name, std::string_view scenario, std::string_view model,
                            std::string_view variant, nlohmann::json params, const Counters& counters,
                            nlohmann::json context);

}  // namespace tvl::catalog
