// Grader of exercise strand (README.md): ten LoopBots started by the student's start_bots() on
// an io_context run by two threads.
#include <spawn.hpp>  // <>: the copy being graded (student or solution/), not the one beside this file

#include "race_grade.hpp"

namespace {

// The racy reference as the starter's kitchen is called: through a call the optimiser keeps.
struct RacyOutOfLine : tvl::exercise::RacyReference {
  using RacyReference::RacyReference;
  [[gnu::noinline]] void change(int knives, int forks) { RacyReference::change(knives, forks); }
};

}  // namespace

int main() {
  return tvl::exercise::run_grader([] {
    using namespace tvl::exercise;
    Grader g("strand", "book ch. 3, docs/cutlery.md", TVL_EXERCISE_DIR "/spawn.hpp");
    RaceSetup s;
    s.tables = 50'000;
    s.lesson_lost =
        "two bots ran a step at the same instant, one on each of the loop's threads, and the kitchen lost an "
        "update. Start every bot on one asio::strand of the io_context (asio::make_strand(loop), then co_spawn on "
        "it): a strand runs one handler at a time, whichever thread picks it up.";
    s.lesson_tsan =
        "ThreadSanitizer saw two of the loop's threads touch the kitchen with nothing ordering them (the line "
        "above names it). Bots on one strand are ordered: each step happens-before the next.";
    auto on_loop = [](boost::asio::io_context& loop, std::vector<BotFn>& bots) {
      for (auto& bot : bots) boost::asio::co_spawn(loop, bot(), boost::asio::detached);
    };
    grade_race(
        g, s, [&] { return run_loop_bots<RacyOutOfLine>(s.bots, s.tables, 2, on_loop); },
        [&] { return run_loop_bots<PlainCutlery>(s.bots, s.tables, 2, start_bots); }, TVL_TSAN_TWIN, {"10", "1000"});
    return g.finish();
  });
}
