// Grader of exercise await-inside (README.md): ten LoopBots on one io_context run by this one
// thread, sharing the student's kitchen, whose change() reports to an audit log it awaits.
#include <kitchen.hpp>  // <>: the copy being graded (student or solution/), not the one beside this file

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "grade.hpp"
#include "scenarios/cutlery.hpp"

namespace {

namespace asio = boost::asio;
using tvl::exercise::AuditLog;

struct Run {
  int knives = 0, forks = 0, started = 0;
  std::int64_t table_ops = 0, records = 0, off_loop = 0;
  int max_threads = 0;
  bool intact() const { return knives == tvl::cutlery::kKitchenKnives && forks == tvl::cutlery::kKitchenForks; }
};

Run serve(int bots, int tables) {
  constexpr int n = tvl::cutlery::kPerTable;
  asio::io_context loop(1);
  AuditLog log(std::this_thread::get_id());
  Cutlery kitchen(tvl::cutlery::kKitchenKnives, tvl::cutlery::kKitchenForks);
  Run r;
  for (int b = 0; b < bots; ++b)
    asio::co_spawn(
        loop,
        [&]() -> asio::awaitable<void> {
          ++r.started;
          Cutlery mine(0, 0);
          for (int i = 0; i < tables; ++i) {
            co_await kitchen.change(-n, -n, log);  // prepare a table: the book's give()
            co_await mine.change(n, n, log);
            ++r.table_ops;
            co_await mine.change(-n, -n, log);  // clear it
            co_await kitchen.change(n, n, log);
            ++r.table_ops;
          }
        },
        asio::detached);
  loop.run();  // this thread is the loop's one thread
  r.knives = kitchen.knives();
  r.forks = kitchen.forks();
  r.records = log.records();
  r.off_loop = log.off_loop();
  r.max_threads = log.max_threads();
  return r;
}

}  // namespace

int main() {
  return tvl::exercise::run_grader([] {
    tvl::exercise::Grader g("await-inside", "book ch. 2-3, docs/cutlery.md", TVL_EXERCISE_DIR "/kitchen.hpp");
    constexpr int bots = 10, tables = 100, runs = 3;
    std::vector<Run> all;
    for (int i = 0; i < runs; ++i) all.push_back(serve(bots, tables));

    const std::int64_t ops = std::int64_t{2} * bots * tables;
    bool work = true, reported = true, one_thread = true, same = true;
    int lost = 0, max_threads = 0;
    std::int64_t records = 0, off_loop = 0;
    for (const auto& r : all) {
      work = work && r.started == bots && r.table_ops == ops;
      reported = reported && r.records == 2 * ops;
      one_thread = one_thread && r.off_loop == 0 && r.max_threads == 1;
      same = same && r.knives == all[0].knives && r.forks == all[0].forks;
      lost += r.intact() ? 0 : 1;
      max_threads = std::max(max_threads, r.max_threads);
      records = r.records, off_loop += r.off_loop;
    }
    g.check("every bot did all its work", work,
            fmt::format("{} runs of {} bots x {} tables, {} table operations expected each", runs, bots, tables, ops),
            "a bot stopped early: change() must finish (co_return) for every call");
    g.check("every change is reported to the audit log", reported,
            fmt::format("{} reports in the last run for {} changes", records, 2 * ops),
            "the audit log must hear of every change: keep the co_await log.record(...) in change(), once per call");
    g.check("one thread: the loop's", one_thread,
            fmt::format("at most {} thread(s) in the process, {} change(s) made off the loop's thread", max_threads,
                        off_loop),
            "this exercise is about the event loop alone: no std::thread, no thread pool; one thread runs every bot, "
            "and that is why the fix needs no lock");
    const auto& first = all[0];
    g.check(fmt::format("no lost update in {} runs", runs), lost == 0,
            lost == 0 ? fmt::format("the kitchen ended with 100 knives and 100 forks in all {} runs", runs)
                      : fmt::format("lost cutlery in {} of {} runs, ending with {} knives and {} forks{}", lost, runs,
                                    first.knives, first.forks, same ? ", the same every run" : ""),
            "the bot suspended at the co_await between reading the counts and writing them back, the loop ran the "
            "other bots, and they read the same old counts. On one thread nothing can come between two co_awaits: "
            "do the whole read-add-write with no co_await inside it, then await the audit log.");
    return g.finish();
  });
}
