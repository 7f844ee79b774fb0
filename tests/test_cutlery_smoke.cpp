// Every cutlery variant at a tiny size: it runs, every bot does all of its tables, and the
// variants that must keep the invariant keep it.
#include <gtest/gtest.h>

#include "catalog/catalog.hpp"

namespace {

tvl::cutlery::Summary smoke(const char* model, const char* variant) {
  tvl::cutlery::Params p;
  p.model = model, p.variant = variant, p.bots = 4, p.tables = 20, p.trials = 3;
  const auto s = tvl::catalog::run_cutlery(p);  // throws if any trial fell short of the work
  EXPECT_EQ(s.trials, 3);
  EXPECT_EQ(s.table_ops, 3 * 2 * 4 * 20);
  EXPECT_GT(s.items_per_second, 0.0);
  return s;
}

}  // namespace

TEST(threads, racy_smoke) { smoke("threads", "racy"); }
TEST(threads, mutex_smoke) { EXPECT_EQ(smoke("threads", "mutex").failures, 0); }
TEST(threads, atomic_smoke) { EXPECT_EQ(smoke("threads", "atomic").failures, 0); }
TEST(tbb, racy_smoke) { smoke("tbb", "racy"); }
TEST(tbb, safe_smoke) { EXPECT_EQ(smoke("tbb", "safe").failures, 0); }
TEST(asyncloop, racy_smoke) { EXPECT_EQ(smoke("asyncloop", "racy").failures, 0); }
TEST(asyncloop, await_inside_smoke) { EXPECT_EQ(smoke("asyncloop", "await-inside").failures, 3); }
TEST(asyncloop_mt, nostrand_smoke) { smoke("asyncloop-mt", "nostrand"); }
TEST(asyncloop_mt, strand_smoke) { EXPECT_EQ(smoke("asyncloop-mt", "strand").failures, 0); }

TEST(catalog, smoke_covers_every_variant) {
  // If a variant is added to the catalog, this file must gain a smoke test for it.
  EXPECT_EQ(tvl::catalog::cutlery_variants().size(), 9u);
}

TEST(catalog, unknown_variant_and_bad_sizes_are_refused) {
  tvl::cutlery::Params p;
  p.model = "asyncloop", p.variant = "mutex";
  EXPECT_THROW(tvl::catalog::run_cutlery(p), std::invalid_argument);
  p.variant = "racy", p.bots = 1;
  EXPECT_THROW(tvl::catalog::run_cutlery(p), std::invalid_argument);
}
