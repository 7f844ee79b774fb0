// Every fan-out broker of the catalog (tvl's own and the peers) carries a small checked point:
// the broker as a child process, the load against it, nothing lost, the counts agreeing. One
// test per broker and design, registered from the catalog (tests/catalog_tests.hpp).
#include <gtest/gtest.h>

#include "catalog/catalog.hpp"
#include "catalog_tests.hpp"

namespace {

void point_is_checked(const tvl::catalog::FanoutVariant& v) {
  tvl::fanout_point::Target t;
  t.model = v.model;
  if (v.broker) t.design = tvl::fanout::parse_design(v.design);
  t.tvl_exe = TVL_BINARY;
  tvl::load::Params lp;
  lp.subscribers = 5, lp.rate = 200, lp.duration_s = 0.3;
  const auto point = tvl::catalog::run_fanout(t, lp);  // throws unless every check held
  EXPECT_EQ(point.result.delivered, point.result.expected);
  EXPECT_EQ(point.result.expected, 5 * point.result.published);
  EXPECT_GT(point.result.published, 0);
  const auto json = tvl::catalog::to_json(t, lp, point, {});
  EXPECT_EQ(json["name"], tvl::catalog::fanout_name(t, lp));
  EXPECT_EQ(json["counters"].size(), tvl::catalog::fanout_counters(lp, point).size());
  EXPECT_GT(json["counters"].value("items_per_second", 0.0), 0.0);
}

const bool registered = [] {
  for (const auto& v : tvl::catalog::fanout_variants())
    tvl::testing_catalog::register_test(
        v.model, v.design, "point_is_checked", [&v] { point_is_checked(v); }, __FILE__, __LINE__);
  return true;
}();

}  // namespace

TEST(catalog, a_design_the_catalog_lacks_is_refused_before_anything_starts) {
  tvl::fanout_point::Target t;
  t.model = "asyncloop-mt";
  t.design = tvl::fanout::Design::naive;
  t.tvl_exe = TVL_BINARY;
  EXPECT_THROW(tvl::catalog::run_fanout(t, {}), std::invalid_argument);
}
