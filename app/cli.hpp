// The pieces of the tvl command line that each scenario adds to: `tvl run <scenario>`,
// `tvl explain <scenario>`, `tvl sweep <scenario>`. Each scenario's app/<scenario>_cli.cpp
// adds its own subcommands, options and actions.
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "measure/atomic_file.hpp"
#include "measure/process.hpp"

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

// The --json file of a command, opened before the run (as a temporary beside it: see
// measure/atomic_file.hpp), so that a path that cannot be written fails at once, with exit
// status 2 and one line; written whole at the end with commit(). No path: no file.
inline AtomicFile open_result_file(const std::string& path) {
  if (path.empty()) return {};
  try {
    return AtomicFile(path);
  } catch (const std::runtime_error& e) {
    throw UsageError(std::string("--json: ") + e.what());
  }
}

// The end of a command that runs its points one after another (a sweep, the capacity search):
// writes the rows it finished to `file` (if any). When a signal cut the run short
// (process::catch_interrupts), the file's context says so ("interrupted", "points_not_run"),
// stderr says what was kept and where, and the status is 128 + the signal (130 for Ctrl-C);
// otherwise the status is `status`.
inline int finish_points(AtomicFile& file, nlohmann::json context, const nlohmann::json& rows, std::size_t planned,
                         int status) {
  const bool cut = process::interrupted();
  if (cut) {
    context["interrupted"] = true;
    context["interrupted_by"] = process::interrupt_name();
    context["points_not_run"] = planned - rows.size();
  }
  const std::string path = file.path();
  file.commit(nlohmann::json{{"context", context}, {"benchmarks", rows}}.dump(2) + "\n");
  if (!cut) return status;
  fmt::print(stderr, "interrupted: {} of {} points finished, {}\n", rows.size(), planned,
             path.empty() ? "not kept (no --json file)" : "kept in " + path);
  return process::interrupted_exit_code();
}

void add_cutlery(Commands c);
void add_primitives(Commands c);
void add_restaurant(Commands c);
void add_fanout(Commands c);    // `tvl run fanout`, `tvl broker`, `tvl load`, `tvl sweep fanout`
void add_broker(Commands c);    // `tvl broker` (app/broker_cli.cpp), added by add_fanout
void add_capacity(Commands c);  // `tvl capacity`: the fan-out brokers at their limit
void add_capacity_echo(CLI::App* capacity_cmd, int& exit_code);  // `tvl capacity echo` (app/capacity_echo_cli.cpp)
void add_compare(Commands c);  // `tvl compare A B`: two runs side by side (plots/tvlplots/compare.py)
void add_serve(Commands c);    // `tvl serve echo` and `tvl run echo` (app/echo_cli.cpp)
void add_ceiling(Commands c);  // `tvl ceiling`: the thread ceiling (app/ceiling_cli.cpp)

// An option whose value is one of a closed set: an enum with parse_X(std::string_view), which
// throws std::invalid_argument naming the valid names, and name_of(E). The name is parsed here,
// once, at the command line.
template <typename E>
CLI::Option* add_enum_option(CLI::App* app, const std::string& name, E& value, E (*parse)(std::string_view),
                             const std::string& help) {
  const auto valid = [parse](const std::string& s) {
    try {
      parse(s);
      return std::string();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
  };
  return app
      ->add_option_function<std::string>(
          name, [&value, parse](const std::string& s) { value = parse(s); }, help)
      ->check(valid)
      ->default_str(std::string(name_of(value)));
}

}  // namespace tvl::cli
