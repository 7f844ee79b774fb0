// Collisions: safe models never let two bots work at one table; the unsafe threaded one,
// whose bots hand a table on before they have finished, is caught doing it. The unsafe
// LoopBot runs the same early hand-over and never collides: nothing runs in parallel.
#include <gtest/gtest.h>

#include <numeric>

#include "catalog/catalog.hpp"

using namespace tvl::restaurant;

namespace {

Params busy(const char* model, const char* variant) {
  Params p;
  p.model = model;
  p.variant = variant;
  p.staff = Staffing::weekend;
  p.tables = 20;
  p.turns = 3;
  p.ramp_s = 0.05;
  p.period_s = 0.04;
  p.waits_ms = {3, 6, 6};
  return p;
}

std::int64_t collisions(const Params& p) {
  const auto c = tvl::catalog::run_restaurant(p).collisions;
  return std::accumulate(c.begin(), c.end(), std::int64_t{0});
}

void never_collides(const char* model, const char* variant, int services) {
  for (int i = 0; i < services; ++i) EXPECT_EQ(collisions(busy(model, variant)), 0) << model << " service " << i;
}

}  // namespace

TEST(threads, safe_never_collides_in_5_services) { never_collides("threads", "safe", 5); }
TEST(threads_per_table, safe_never_collides_in_5_services) { never_collides("threads-per-table", "safe", 5); }
TEST(tbb, safe_never_collides_in_5_services) { never_collides("tbb", "safe", 5); }
TEST(asyncloop, safe_never_collides_in_5_services) { never_collides("asyncloop", "safe", 5); }

TEST(asyncloop, unsafe_hand_over_never_collides_in_10_services) { never_collides("asyncloop", "unsafe", 10); }

// 180 early hand-overs per service, each a window of half a step (75-150 us) in which another
// bot thread can walk in: one service nearly always collides; 20 make a miss implausible.
TEST(threads, unsafe_hand_over_collides) {
  std::int64_t seen = 0;
  for (int i = 0; i < 20 && seen == 0; ++i) seen += collisions(busy("threads", "unsafe"));
  EXPECT_GT(seen, 0) << "no collision in 20 services of the unsafe ThreadBots";
}
