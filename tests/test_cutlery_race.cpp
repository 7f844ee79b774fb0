// The race itself. A racy variant is tested for failing, with enough trials that a false
// alarm is practically impossible; its safe twin for zero failures over many trials, at a
// size where the racy code fails often (about 15% of trials at 1,000 tables here); fewer
// trials of the safe twins under a sanitizer, which checks each run itself (kSafeTrials).
#include <gtest/gtest.h>

#include <string>

#include "catalog/catalog.hpp"

namespace {

tvl::cutlery::Params params(const char* model, const char* variant, int tables, int trials) {
  tvl::cutlery::Params p;
  p.model = model;
  p.variant = tvl::cutlery::parse_variant(variant);
  p.tables = tables;
  p.trials = trials;
  return p;
}

// Trials for a safe twin's "never fails". The normal build runs 200: against a racy twin that
// fails ~15% of trials, zero failures in 200 leaves a chance of 0.85^200 (about 1e-14) that the
// twin is just as racy and got lucky. A sanitizer build runs the same source 5-30x slower
// (ThreadSanitizer: 62 s for the strand's 200), and what it adds is its own check of every run:
// ASan/UBSan on each access, TSan on each non-atomic access and on the queues', strand's and
// pool's hand-overs; one trial exercises those paths as fully as two hundred. TSan cannot see a
// lost update itself (the kitchen's counts are relaxed atomics, see scenarios/cutlery.hpp), so the
// count still matters: with 40, a twin failing as often as the racy one passes with a chance of
// 0.85^40 (about 0.2%), and the 1e-14 claim stays with the normal build's 200.
#ifdef TVL_SANITIZER
constexpr int kSafeTrials = 40;
#else
constexpr int kSafeTrials = 200;
#endif

// Zero failures over kSafeTrials trials of a safe twin at 1,000 tables.
void expect_never_fails(const char* model, const char* variant) {
  SCOPED_TRACE(std::to_string(kSafeTrials) + " trials of " + model + "/" + variant);
  EXPECT_EQ(tvl::catalog::run_cutlery(params(model, variant, 1'000, kSafeTrials)).failures, 0);
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

// The names give the normal build's count; a sanitizer build runs kSafeTrials (above).
TEST(threads, mutex_never_fails_in_200_trials) { expect_never_fails("threads", "mutex"); }

TEST(threads, atomic_never_fails_in_200_trials) { expect_never_fails("threads", "atomic"); }

TEST(tbb, safe_never_fails_in_200_trials) { expect_never_fails("tbb", "safe"); }

// The same racy change() as threads/racy: one thread and no co_await inside it.
TEST(asyncloop, racy_never_fails_in_200_trials) { expect_never_fails("asyncloop", "racy"); }

TEST(asyncloop_mt, strand_never_fails_in_200_trials) { expect_never_fails("asyncloop-mt", "strand"); }
