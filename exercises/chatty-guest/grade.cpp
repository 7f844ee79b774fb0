// Grader of exercise chatty-guest (README.md): the LoopBot restaurant with the student's
// let_guest_talk(), against the same restaurant with no chatty guest, in the same run.
#include <guest.hpp>  // <>: the copy being graded (student or solution/), not the one beside this file

#include <algorithm>
#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "asyncloop/restaurant_chat.hpp"
#include "chatty_guest.hpp"
#include "grade.hpp"
#include "measure/stats.hpp"

namespace {

using namespace tvl::restaurant;

tvl::restaurant::Params params(bool chatty) {
  Params p;
  p.model = "asyncloop";
  p.tables = 100;
  p.turns = 3;
  p.chatty = chatty ? Chatty::block : Chatty::none;  // "block" names the guests; let_guest_talk() decides how they talk
  p.chatty_ms = 20;
  p.chatty_every = 10;
  return p;
}

double p99_ms(const Result& r) { return static_cast<double>(r.lateness_ns.percentile(99)) / 1e6; }

}  // namespace

int main() {
  return tvl::exercise::run_grader([] {
    tvl::exercise::Grader g("chatty-guest", "book ch. 3, docs/restaurant.md", TVL_EXERCISE_DIR "/guest.hpp");
    constexpr int kPairs = 3;  // baseline and student runs, alternating; medians compared
    boost::asio::thread_pool helpers(2);
    tvl::exercise::TalkCount talks;
    const auto loop_thread = std::this_thread::get_id();  // run_asyncloop_with_chat runs the loop here
    const auto talk_for = std::chrono::microseconds(static_cast<std::int64_t>(params(true).chatty_ms * 1000));
    // The restaurant's own talk (its second argument) is replaced by the guest's, which also counts.
    const ChatFn chat = [&](boost::asio::any_io_executor loop, std::function<void()>) {
      return let_guest_talk(loop, tvl::exercise::Guest(talk_for, talks, loop_thread), helpers);
    };

    std::vector<double> base, mine;
    std::int64_t meals = 0;
    std::string runs;
    for (int i = 0; i < kPairs; ++i) {
      base.push_back(p99_ms(run_asyncloop(params(false))));
      const Result r = run_asyncloop_with_chat(params(true), chat);
      mine.push_back(p99_ms(r));
      meals += r.meals;
      runs += fmt::format("{}{:.2f}/{:.2f}", i ? ", " : "", base.back(), mine.back());
    }
    const Params p = params(true);
    int chatty_guests = 0;
    for (int t = 0; t < p.tables; ++t)
      for (int turn = 0; turn < p.turns; ++turn) chatty_guests += is_chatty(p, t, turn) ? 1 : 0;

    g.check("every diner was served", meals == std::int64_t{kPairs} * p.tables * p.turns,
            fmt::format("{} meals paid in {} runs of {} tables x {} diners", meals, kPairs, p.tables, p.turns),
            "some diners never paid: let_guest_talk() must complete (co_return, or finish its co_await) every time, "
            "so that the GreetBot goes on");
    g.check("every chatty guest talked", talks.total.load() == kPairs * chatty_guests,
            fmt::format("{} talks for {} chatty guests", talks.total.load(), kPairs * chatty_guests),
            "call guest.talk() exactly once per chatty guest: the guest must still be heard, just not on the loop");
    g.check(
        "the talks ran off the loop's thread", talks.on_loop.load() == 0,
        fmt::format("{} of {} talks held the loop's thread", talks.on_loop.load(), talks.total.load()),
        "guest.talk() ran on the loop's one thread, so for 20 ms no timer fired and no other bot moved. Run it on "
        "`helpers` instead: co_spawn a small coroutine that calls guest.talk() on the pool and co_await it; the bot "
        "resumes on the loop when the talk is over (the book's run_in_executor).");
    // Within 2x of the baseline, or within a tenth of a talk above it: handing the talk to the
    // pool and back costs a wake-up of each thread, and on a busy 2-core machine that alone can
    // double a sub-millisecond p99. A talk held on the loop adds the whole talk, 20 ms.
    const double b = tvl::stats::median(base), m = tvl::stats::median(mine);
    const double slack_ms = params(true).chatty_ms / 10, limit = std::max(2 * b, b + slack_ms);
    g.check("the other tables' timers stay on time", m <= limit,
            fmt::format("timer lateness p99, median of {} runs: {:.2f} ms with the chatty guests, {:.2f} ms without "
                        "(at most 2x, or {:.0f} ms more: {:.2f} ms; runs without/with: {} ms)",
                        kPairs, m, b, slack_ms, limit, runs),
            "while one guest talks, every other table's timer fires late: the loop cannot run anything while its "
            "thread is held. Move the talk off the loop.");
    return g.finish();
  });
}
