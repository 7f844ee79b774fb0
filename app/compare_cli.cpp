// `tvl compare A B`: two runs of tvl side by side (two machines of a class, two commits), joined
// by benchmark name, each difference marked significant or not by a Mann–Whitney U test over
// the repetitions, as Google Benchmark's tools/compare.py does.
//
// The work is done in Python (plots/tvlplots/compare.py), next to the report whose loading it
// shares and with matplotlib for the figure. This file only finds the interpreter that imports
// matplotlib (scripts/find-python) and runs the script in tvl's place, so that what it prints
// and the status it exits with (2 for bad input) are tvl's own. See docs/compare.md.
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "app/cli.hpp"

namespace tvl::cli {
namespace {

struct CompareOptions {
  std::string a, b;  // result folders or Google Benchmark JSON files
  std::string out, figure, metrics, alpha;
};

// The interpreter scripts/find-python prints; empty when it found none (it said why on stderr).
std::string find_python() {
  const std::string command = fmt::format("'{}/scripts/find-python'", TVL_SOURCE_DIR);
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error(fmt::format("cannot run {}: {}", command, std::strerror(errno)));
  std::string path;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) path += buffer;
  if (pclose(pipe) != 0) return {};
  while (!path.empty() && (path.back() == '\n' || path.back() == '\r')) path.pop_back();
  return path;
}

// Replaces this process with the compare script; returns only if it could not be started.
int run_compare(const CompareOptions& o) {
  const std::string python = find_python();
  if (python.empty()) return 1;
  std::vector<std::string> args{python, std::string(TVL_SOURCE_DIR) + "/plots/tvl_compare.py", o.a, o.b};
  // Only the options given are passed on: the script names them in the figure's stamp.
  for (const auto& [flag, value] : {std::pair{"--out", &o.out}, std::pair{"--figure", &o.figure},
                                    std::pair{"--alpha", &o.alpha}, std::pair{"--metrics", &o.metrics}})
    if (!value->empty()) args.insert(args.end(), {flag, *value});
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  execv(python.c_str(), argv.data());
  throw std::runtime_error(fmt::format("cannot run {}: {}", python, std::strerror(errno)));
}

}  // namespace

void add_compare(Commands c) {
  auto options = std::make_shared<CompareOptions>();
  auto* cmd = c.app.add_subcommand("compare",
                                   "compare two runs (result folders or JSON files) benchmark by benchmark, "
                                   "with a significance mark (Mann-Whitney U test over the repetitions)");
  cmd->add_option("A", options->a, "run A: a results folder (e.g. results/quick) or a Google Benchmark JSON file")
      ->required();
  cmd->add_option("B", options->b, "run B, compared against A (ratios are B/A)")->required();
  cmd->add_option("--out", options->out, "write the Markdown table to this file instead of stdout");
  cmd->add_option("--figure", options->figure, "draw B/A per benchmark, significant ones marked (.png, .svg, .pdf)");
  cmd->add_option("--alpha", options->alpha, "significance level of the U test (default 0.05)")->check(CLI::Number);
  cmd->add_option("--metrics", options->metrics,
                  "comma-separated metrics, or 'all' (default real_time,cpu_time,items_per_second)");
  cmd->callback([options, &exit_code = c.exit_code] { exit_code = run_compare(*options); });
}

}  // namespace tvl::cli
