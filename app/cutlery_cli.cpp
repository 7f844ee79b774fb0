// `tvl run cutlery` and `tvl explain cutlery`.
#include <fmt/format.h>

#include <memory>
#include <set>
#include <string>

#include "app/cli.hpp"
#include "catalog/catalog.hpp"

namespace tvl::cli {
namespace {

using catalog::cutlery_variants;

std::string first_variant_of(const std::string& model) {
  for (const auto& v : cutlery_variants())
    if (v.model == model) return std::string(v.variant);
  return {};
}

// `variant`: the name given on the command line, or empty for the model's first.
int run_cutlery(cutlery::Params p, std::string variant, const std::string& json_path) {
  if (variant.empty()) variant = first_variant_of(p.model);
  if (!catalog::find_cutlery(p.model, variant)) {
    std::string known;
    for (const auto& v : cutlery_variants())
      if (v.model == p.model) known += (known.empty() ? "" : ", ") + std::string(v.variant);
    throw UsageError(fmt::format("model '{}' has no variant '{}' (it has: {})", p.model, variant, known));
  }
  p.variant = cutlery::parse_variant(variant);
  AtomicFile out = open_result_file(json_path);  // fails before the run, not after it
  catalog::ProcessCost cost;
  const auto s = catalog::run_cutlery(p, cost);
  fmt::print("cutlery/{}/{}: {} bots x {} tables, {} trials, {} OS thread(s)\n", p.model, variant, p.bots, p.tables,
             s.trials, s.os_threads);
  fmt::print("  failed trials     {} of {}  (kitchen not back at {} knives / {} forks)\n", s.failures, s.trials,
             cutlery::kKitchenKnives, cutlery::kKitchenForks);
  fmt::print("  fail_rate         {:.3f}  95% Wilson interval [{:.3f}, {:.3f}]\n", s.fail_rate, s.fail_lo, s.fail_hi);
  fmt::print("  mean drift        knives {:.2f}, forks {:.2f}\n", s.drift_knives, s.drift_forks);
  fmt::print("  items_per_second  {:.4g} table operations/s ({} operations in {:.3f} s)\n", s.items_per_second,
             s.table_ops, s.seconds);
  if (out) {
    out.commit(catalog::to_json(p, s, cost).dump(2) + '\n');
    fmt::print("  wrote {}\n", json_path);
  }
  return 0;
}

}  // namespace

void add_cutlery(Commands c) {
  std::set<std::string> models;
  for (const auto& v : cutlery_variants()) models.insert(std::string(v.model));

  auto p = std::make_shared<cutlery::Params>();
  auto json = std::make_shared<std::string>();
  auto variant = std::make_shared<std::string>();
  auto* run = c.run.add_subcommand("cutlery", "robots and cutlery: a lost-update race (book ch. 2)");
  run->add_option("--model", p->model, "concurrency model")->check(CLI::IsMember(models))->capture_default_str();
  run->add_option("--variant", *variant, "variant of the model (default: its first; see tvl list)");
  run->add_option("--bots", p->bots, "number of bots")->check(CLI::Range(2, 1000))->capture_default_str();
  run->add_option("--tables", p->tables, "tables each bot prepares and clears")
      ->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
  run->add_option("--trials", p->trials, "independent trials")->check(CLI::Range(1, 100'000))->capture_default_str();
  run->add_option("--threads", p->os_threads, "OS threads for the tbb and asyncloop-mt pools (0: one per core)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  run->add_option("--json", *json, "also write the counters to this JSON file");
  run->callback([p, variant, json, &code = c.exit_code] { code = run_cutlery(*p, *variant, *json); });

  c.explain.add_subcommand("cutlery", "a lost update, step by step")->callback([] {
    fmt::print("{}", cutlery::explain());
  });
}

}  // namespace tvl::cli
