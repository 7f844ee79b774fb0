// Every cutlery variant of the catalog at a tiny size: it runs, every bot does all of its tables,
// and the variants that must keep the invariant keep it. One test per variant, registered from
// the catalog (tests/catalog_tests.hpp).
#include <gtest/gtest.h>

#include "catalog/catalog.hpp"
#include "catalog_tests.hpp"

namespace {

tvl::cutlery::Summary smoke(std::string_view model, std::string_view variant) {
  tvl::cutlery::Params p;
  p.model = model;
  p.variant = tvl::cutlery::parse_variant(variant);
  p.bots = 4;
  p.tables = 20;
  p.trials = 3;
  const auto s = tvl::catalog::run_cutlery(p);  // throws if any trial fell short of the work
  EXPECT_EQ(s.trials, 3);
  EXPECT_EQ(s.table_ops, 3 * 2 * 4 * 20);
  EXPECT_GT(s.items_per_second, 0.0);
  return s;
}

const bool registered = [] {
  for (const auto& v : tvl::catalog::cutlery_variants())
    tvl::testing_catalog::register_test(
        v.model, v.variant, "smoke",
        [&v] {
          const auto s = smoke(v.model, v.variant);
          if (!v.loses_updates) {
            EXPECT_EQ(s.failures, 0) << "a safe variant lost updates";
          }
        },
        __FILE__, __LINE__);
  return true;
}();

}  // namespace

// The loop's own interleaving is deterministic: every trial loses updates, not just some.
TEST(asyncloop, await_inside_loses_in_every_trial) { EXPECT_EQ(smoke("asyncloop", "await-inside").failures, 3); }

TEST(catalog, unknown_variant_and_bad_sizes_are_refused) {
  tvl::cutlery::Params p;
  p.model = "asyncloop";
  p.variant = tvl::cutlery::Variant::mutex;
  EXPECT_THROW(tvl::catalog::run_cutlery(p), std::invalid_argument);
  p.variant = tvl::cutlery::Variant::racy;
  p.bots = 1;
  EXPECT_THROW(tvl::catalog::run_cutlery(p), std::invalid_argument);
}
