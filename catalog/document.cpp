// What every scenario shares: the list of scenarios, `tvl list`'s rows, and the document
// `tvl run <scenario> --json` writes.
#include "catalog/catalog.hpp"

#include <array>

#include "catalog/document.hpp"

namespace tvl::catalog {

namespace {

constexpr std::array kScenarios = {
    ScenarioInfo{"cutlery", "robots and cutlery (book ch. 2): a lost-update race, threads vs. event loop"},
    ScenarioInfo{"primitives", "the costs under every scenario: switch, creation, memory per waiting task"},
    ScenarioInfo{"restaurant", "the restaurant of ThreadBots (book ch. 1): bots, tables, latency, idle time"},
    ScenarioInfo{"fanout", "the message broker (book ch. 4): one publisher's message to many subscribers"},
    ScenarioInfo{"echo", "the echo server (book ch. 3): requests and responses, with CPU work and a wait each"},
};

}  // namespace

std::span<const ScenarioInfo> scenarios() { return kScenarios; }

const std::vector<Listing>& listing() {
  static const std::vector<Listing> all = [] {
    std::vector<Listing> rows;
    for (const auto& v : cutlery_variants()) rows.push_back({"cutlery", v.model, v.variant, v.what});
    const auto add_primitives = [&rows](const auto& table, std::string_view kind) {
      for (const auto& m : table) rows.push_back({"primitives", m.model, m.variant, m.what, kind});
    };
    add_primitives(primitive_switches(), "switch");
    add_primitives(primitive_creates(), "creation");
    add_primitives(primitive_waiters(), "memory");
    for (const auto& v : restaurant_variants()) rows.push_back({"restaurant", v.model, v.variant, v.what});
    for (const auto& v : fanout_variants()) rows.push_back({"fanout", v.model, v.design, v.what});
    for (const auto& v : echo_variants()) rows.push_back({"echo", v.model, v.variant, v.what});
    return rows;
  }();
  return all;
}

nlohmann::json run_document(const std::string& name, std::string_view scenario, std::string_view model,
                            std::string_view variant, nlohmann::json params, const Counters& counters,
                            nlohmann::json context) {
  nlohmann::json values = nlohmann::json::object();
  for (const auto& [key, value] : counters) values[key] = value;
  return {{"name", name},
          {"scenario", scenario},
          {"model", model},
          {"variant", variant},
          {"params", std::move(params)},
          {"counters", std::move(values)},
          {"context", std::move(context)}};
}

}  // namespace tvl::catalog
