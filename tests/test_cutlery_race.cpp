// The race itself. A racy variant is tested for failing, with enough trials that a false
// alarm is practically impossible; its safe twin for zero failures over many trials, at a
// size where the racy code fails often (about 15% of trials at 1,000 tables here).
#include <gtest/gtest.h>

#include "catalog/catalog.hpp"

namespace {

tvl::cutlery::Params params(const char* model, const char* variant, int tables, int trials) {
  tvl::cutlery::Params p;
  p.model = model, p.variant = variant, p.tables = tables, p.trials = trials;
  return p;
}

// Runs single trials until one fails, up to max_trials; returns how many ran.
int trials_until_failure(const char* model, const char* variant, int tables, int max_trials) {
  for (int i = 1; i <= max_trials; ++i)
    if (tvl::catalog::run_cutlery(params(model, variant, tables, 1)).failures > 0) return i;
  return max_trials + 1;
}

}  // namespace

// 97-99% of trials fail at 10,000 tables here; even at 50% the chance that 40 trials all
// pass is 1e-12.
TEST(threads, racy_fails_at_10000_tables) {
  const int ran = trials_until_failure("threads", "racy", 10'000, 40);
  EXPECT_LE(ran, 40) << "no lost update in 40 trials of 10 threads x 10,000 tables";
}

// tbb/racy is not tested for failing. Only as many bots run at once as the pool has workers,
// and on a loaded machine the pool's second worker may not join before the calling thread has
// run every bot itself, one after another: then nothing overlaps and nothing is lost (seen
// here with the other core busy: no failure in 40 trials of 100,000 tables). The variant's
// failure rate is measured and shown in the report instead.

TEST(asyncloop_mt, nostrand_fails_at_10000_tables) {
  const int ran = trials_until_failure("asyncloop-mt", "nostrand", 10'000, 40);
  EXPECT_LE(ran, 40) << "no lost update in 40 trials of an io_context run by several threads";
}

// The loop switches bots at the co_await between read and write: every trial, every time.
TEST(asyncloop, await_inside_fails_every_trial) {
  const auto s = tvl::catalog::run_cutlery(params("asyncloop", "await-inside", 100, 20));
  EXPECT_EQ(s.failures, 20);
  EXPECT_GT(s.drift_knives, 0.0);
}

TEST(threads, mutex_never_fails_in_200_trials) {
  EXPECT_EQ(tvl::catalog::run_cutlery(params("threads", "mutex", 1'000, 200)).failures, 0);
}

TEST(threads, atomic_never_fails_in_200_trials) {
  EXPECT_EQ(tvl::catalog::run_cutlery(params("threads", "atomic", 1'000, 200)).failures, 0);
}

TEST(tbb, safe_never_fails_in_200_trials) {
  EXPECT_EQ(tvl::catalog::run_cutlery(params("tbb", "safe", 1'000, 200)).failures, 0);
}

// The same racy change() as threads/racy: one thread and no co_await inside it.
TEST(asyncloop, racy_never_fails_in_200_trials) {
  EXPECT_EQ(tvl::catalog::run_cutlery(params("asyncloop", "racy", 1'000, 200)).failures, 0);
}

TEST(asyncloop_mt, strand_never_fails_in_200_trials) {
  EXPECT_EQ(tvl::catalog::run_cutlery(params("asyncloop-mt", "strand", 1'000, 200)).failures, 0);
}
