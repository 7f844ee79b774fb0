// The pieces of the tvl command line that each scenario adds to: `tvl run <scenario>`,
// `tvl explain <scenario>`, `tvl sweep <scenario>`. Each scenario's app/<scenario>_cli.cpp
// adds its own subcommands, options and actions.
#pragma once

#include <stdexcept>

#include <CLI/CLI.hpp>

namespace tvl::cli {

// A mistake in the arguments that CLI11 could not see (an unknown variant, say): exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Commands {
  CLI::App& app;  // for scenarios with commands of their own (`tvl broker`, `tvl load`)
  CLI::App& run;
  CLI::App& explain;
  CLI::App& sweep;
  int& exit_code;  // what the action of the chosen subcommand sets
};

void add_cutlery(Commands c);
void add_primitives(Commands c);
void add_restaurant(Commands c);
void add_fanout(Commands c);
void add_capacity(Commands c);  // `tvl capacity`: the fan-out brokers at their limit
void add_compare(Commands c);   // `tvl compare A B`: two runs side by side (plots/tvlplots/compare.py)

}  // namespace tvl::cli
