// Grading a kitchen that threads share (race-mutex, race-atomic): how many clean trials prove it
// safe, measured against the book's racy change() in the same run, then those trials, then
// ThreadSanitizer.
//
// A safe kitchen never loses cutlery; a racy one sometimes does not either. So the grader first
// runs the racy reference here, now, and takes the lower end of the 95% interval of its failure
// rate, p. A racy kitchen survives n trials in a row with odds (1 - p)^n; n is chosen so that
// this is below one in a million. Zero failures in n trials is then strong evidence, not luck.
// Where the race is too rare to measure (a busy or one-core machine), the trials are capped and
// ThreadSanitizer, which sees a race without needing it to lose anything, is the evidence.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cutlery_bots.hpp"
#include "grade.hpp"
#include "measure/stats.hpp"
#include "tsan.hpp"

namespace tvl::exercise {

// The book's change(): read, add, write. Relaxed atomics make the lost update well-defined C++
// (threads/cutlery.cpp explains why); it loses updates exactly as the plain-int starter does.
class RacyReference {
 public:
  RacyReference(int knives, int forks) : knives_(knives), forks_(forks) {}
  void change(int knives, int forks) {
    knives_.store(knives_.load(std::memory_order_relaxed) + knives, std::memory_order_relaxed);
    forks_.store(forks_.load(std::memory_order_relaxed) + forks, std::memory_order_relaxed);
  }
  int knives() const { return knives_.load(); }
  int forks() const { return forks_.load(); }

 private:
  std::atomic<int> knives_, forks_;
};

struct RaceSetup {
  int bots = 10;
  int tables = 10'000;        // per bot: the size at which the book's race shows most
  int reference_trials = 20;  // of the racy reference, to measure its failure rate
  double odds = 1e-6;         // a racy kitchen passes all trials with at most these odds
  int max_trials = 200;
  std::string lesson_lost;  // printed when the student's kitchen lost cutlery
  std::string lesson_tsan;  // printed when ThreadSanitizer reports a race
};

// `reference()` and `student()` each run one trial of s.bots x s.tables and return it: the racy
// reference, then the student's code, under the same bots.
template <typename Reference, typename Student>
void grade_race(Grader& g, const RaceSetup& s, Reference reference, Student student, const std::string& tsan_twin,
                const std::vector<std::string>& tsan_args) {
  const std::int64_t expected_ops = std::int64_t{2} * s.bots * s.tables;

  int ref_failures = 0;
  for (int i = 0; i < s.reference_trials; ++i)
    if (!reference().intact()) ++ref_failures;
  const double p = stats::wilson(ref_failures, s.reference_trials).lo;
  const int needed = p > 0 ? static_cast<int>(std::ceil(std::log(s.odds) / std::log(1 - p))) : s.max_trials + 1;
  const int trials = std::min(std::max(needed, 1), s.max_trials);
  const std::string seen =
      fmt::format("the book's change() lost cutlery in {} of {} trials here (95% lower bound {:.1f}%)", ref_failures,
                  s.reference_trials, 100 * p);
  if (needed <= s.max_trials)
    g.note(fmt::format("{}, so {} clean trials in a row would happen to a racy kitchen with odds below {:g}", seen,
                       trials, s.odds));
  else  // a busy or one-core machine: the trials below still run, but cannot prove much
    g.note(
        fmt::format("{}: too rare here for {} trials to prove a kitchen safe; they still run, and "
                    "ThreadSanitizer, which needs no lost update to see a race, decides",
                    seen, trials));

  int failures = 0, short_runs = 0;
  KitchenTrial first_bad;
  for (int i = 0; i < trials; ++i) {
    const auto t = student();
    if (t.table_ops != expected_ops || t.bots_started != s.bots) ++short_runs;
    if (!t.intact() && failures++ == 0) first_bad = t;
  }
  g.check("every bot did all its work", short_runs == 0,
          fmt::format("{} trials of {} bots x {} tables, {} of them short of {} table operations", trials, s.bots,
                      s.tables, short_runs, expected_ops),
          "a bot stopped early or skipped tasks: keep the bots' loop as it is, change only the kitchen");
  g.check(fmt::format("no lost update in {} trials", trials), failures == 0,
          failures == 0 ? fmt::format("the kitchen ended with 100 knives and 100 forks in all {} trials", trials)
                        : fmt::format("lost cutlery in {} of {} trials (the first ended with {} knives, {} forks)",
                                      failures, trials, first_bad.knives, first_bad.forks),
          s.lesson_lost);

  const auto v = run_tsan_twin(tsan_twin, tsan_args);
  g.check("ThreadSanitizer reports no data race", v.clean, v.summary, s.lesson_tsan);
}

// The student's kitchen type under the ThreadBots (race-mutex, race-atomic).
template <typename Kitchen>
void grade_shared_kitchen(Grader& g, const RaceSetup& s, const std::string& tsan_twin) {
  grade_race(
      g, s, [&] { return run_thread_bots<RacyReference>(s.bots, s.tables); },
      [&] { return run_thread_bots<Kitchen>(s.bots, s.tables); }, tsan_twin, {"4", "2000"});
}

}  // namespace tvl::exercise
