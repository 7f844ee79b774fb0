// Grader of exercise race-atomic (README.md): the student's kitchen.hpp under ten ThreadBots,
// and no lock in it.
#include <fstream>
#include <regex>
#include <sstream>

#include <kitchen.hpp>  // <>: the copy being graded (student or solution/), not the one beside this file
#include "race_grade.hpp"

namespace {

// The first line of the file that names a lock, or "" when there is none.
std::string first_lock(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  const std::regex lock(
      R"(\b(mutex|lock_guard|unique_lock|scoped_lock|shared_lock|spin\w*|semaphore|atomic_flag|pthread_\w+|condition_variable)\b)");
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const auto code = line.substr(0, line.find("//"));  // comments may talk about locks
    if (std::regex_search(code, lock)) return std::to_string(number) + ": " + line;
  }
  return "";
}

}  // namespace

int main() {
  return tvl::exercise::run_grader([] {
    const std::string file = TVL_EXERCISE_DIR "/kitchen.hpp";
    tvl::exercise::Grader g("race-atomic", "book ch. 2, docs/cutlery.md", file);
    const auto lock = first_lock(file);
    g.check("no lock in the kitchen", lock.empty(), lock.empty() ? "none found" : "kitchen.hpp:" + lock,
            "this exercise is the lock-free fix: remove the lock and make each count a std::atomic<int> whose "
            "change is one indivisible read-modify-write (fetch_add).");
    tvl::exercise::RaceSetup s;
    s.lesson_lost =
        "two bots read the same count before either wrote it back, and one update was lost. Loading an atomic "
        "and then storing is still two steps: use one read-modify-write, std::atomic<int>::fetch_add (or +=), "
        "which no other thread can split.";
    s.lesson_tsan =
        "ThreadSanitizer saw two threads touch the same plain int with nothing ordering them (the line above "
        "names it). A std::atomic<int> is never a data race: make both counts atomic, reads included.";
    tvl::exercise::grade_shared_kitchen<Cutlery>(g, s, TVL_TSAN_TWIN);
    return g.finish();
  });
}
