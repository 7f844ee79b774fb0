// Grader of exercise race-mutex (README.md): the student's kitchen.hpp under ten ThreadBots.
#include <kitchen.hpp>  // <>: the copy being graded (student or solution/), not the one beside this file
#include "race_grade.hpp"

int main() {
  return tvl::exercise::run_grader([] {
    tvl::exercise::Grader g("race-mutex", "book ch. 2, docs/cutlery.md", TVL_EXERCISE_DIR "/kitchen.hpp");
    tvl::exercise::RaceSetup s;
    s.lesson_lost =
        "two bots read the same count before either wrote it back, and one update was lost. Put a std::mutex in "
        "the class and hold it (std::lock_guard) for the whole read-add-write of change(), so that no other "
        "thread can come in between.";
    s.lesson_tsan =
        "ThreadSanitizer saw two threads touch the same count with nothing ordering them (the line above names "
        "it). Every access to the counts, the reads in knives() and forks() included, must hold the same mutex.";
    tvl::exercise::grade_shared_kitchen<Cutlery>(g, s, TVL_TSAN_TWIN);
    return g.finish();
  });
}
