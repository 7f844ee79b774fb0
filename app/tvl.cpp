// tvl: run a scenario under one concurrency model and print what it measured.
//
//   tvl list
//   tvl run cutlery --model threads --variant racy --tables 10000 --trials 100 [--json FILE]
//   tvl explain cutlery
//   tvl compare results-a results-b [--out F.md] [--figure F.png]
//
// Each scenario adds its own subcommands (app/<scenario>_cli.cpp). Bad arguments print one
// message and exit with status 2; a run that did not do the work it claims exits with 1.
#include <fmt/format.h>

#include <fmt/ranges.h>
#include <CLI/CLI.hpp>
#include <algorithm>

#include "app/cli.hpp"
#include "catalog/catalog.hpp"
#include "measure/limits.hpp"

namespace {

constexpr int kUsageError = 2;

constexpr std::size_t kListColumn = 13;  // the least width of the model and variant columns

void list() {
  for (const auto& s : tvl::catalog::scenarios()) {
    fmt::print("{}  {}\n", s.name, s.what);
    std::size_t model_width = kListColumn;  // the scenario's widest, so that its columns line up
    std::size_t variant_width = kListColumn;
    for (const auto& v : tvl::catalog::listing()) {
      if (v.scenario != s.name) continue;
      model_width = std::max(model_width, v.model.size());
      variant_width = std::max(variant_width, v.variant.size());
    }
    for (const auto& v : tvl::catalog::listing())
      if (v.scenario == s.name)
        fmt::print("  --model {:<{}} --{} {:<{}} {}{}\n", v.model, model_width,
                   s.name == "fanout" ? "design " : "variant", v.variant, variant_width,
                   v.kind.empty() ? "" : fmt::format("{}: ", v.kind), v.what);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tvl: threads vs. event loop, the scenarios of 'Using Asyncio in Python' as paired programs"};
  app.require_subcommand(1);
  app.add_subcommand("list", "list scenarios, models and variants")->callback(list);
  auto* run = app.add_subcommand("run", "run one scenario under one model and print its metrics");
  auto* explain = app.add_subcommand("explain", "show, step by step, how a scenario goes wrong");
  auto* sweep = app.add_subcommand("sweep", "run a scenario over a range of sizes, each point in a child process");
  for (auto* sub : {run, explain, sweep}) sub->require_subcommand(1);

  int exit_code = 0;
  const tvl::cli::Commands commands{app, *run, *explain, *sweep, exit_code};
  tvl::cli::add_cutlery(commands);
  tvl::cli::add_primitives(commands);
  tvl::cli::add_restaurant(commands);
  tvl::cli::add_fanout(commands);
  tvl::cli::add_capacity(commands);
  tvl::cli::add_compare(commands);
  tvl::cli::add_serve(commands);
  tvl::cli::add_ceiling(commands);

  try {
    app.parse(argc, argv);
    return exit_code;
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::RequiredError& e) {
    // "A subcommand is required" says too little: name what `run`, `explain` or `sweep` takes.
    for (auto* sub : {run, explain, sweep}) {
      if (!sub->parsed() || !sub->get_subcommands().empty()) continue;
      std::vector<std::string> names;
      for (const auto* s : sub->get_subcommands({})) names.push_back(s->get_name());
      const auto extra = sub->remaining();
      fmt::print(stderr, "tvl: error: tvl {} needs a scenario ({}){}\n", sub->get_name(), fmt::join(names, ", "),
                 extra.empty() ? "" : fmt::format("; '{}' is not one", extra.front()));
      return kUsageError;
    }
    fmt::print(stderr, "tvl: error: {}\nRun 'tvl --help' for usage.\n", e.what());
    return kUsageError;
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "tvl: error: {}\nRun 'tvl --help' for usage.\n", e.what());
    return kUsageError;
  } catch (const tvl::cli::UsageError& e) {
    fmt::print(stderr, "tvl: error: {}\n", e.what());
    return kUsageError;
  } catch (const tvl::limits::LimitReached& e) {  // the message, and the same in fields for a parent sweep
    fmt::print(stderr, "tvl: run failed: {}\n{}{}\n", e.what(), tvl::limits::kLinePrefix, e.to_json().dump());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "tvl: run failed: {}\n", e.what());
    return 1;
  }
}
