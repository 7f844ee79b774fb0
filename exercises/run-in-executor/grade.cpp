// Grader of exercise run-in-executor (README.md): the student's echo server, one event loop with
// an executor beside it, under an open-loop load that one core cannot carry and two can.
//
// The server runs as a child process: this very program, started as `<grader> serve echo ...`,
// runs the student's run_server() the way `tvl serve echo` runs the project's echo servers, and
// load/echo_point.cpp drives it as `tvl run echo` does: the project's load generator, requests
// sent on a schedule over several connections, each answer checked, latency measured from when
// each request was meant to go. A server that hangs or crashes costs a failed check, not the
// grader.
//
// The rate is set from this machine's own cost of one request's work W (the fastest of several
// trials, cpu_work.hpp): 70% of two cores' worth, 1.4 / W. One core serves at most 1 / W, so a
// server that does the work on its loop falls behind by 0.4 / W every second and its queue grows
// for the whole run; one that moves the work to its executor spreads it over both cores.
//
//   1  every answer that came back was right: upper-cased, once, in order;
//   2  the work ran off the loop's thread: the CPU time of the thread that ran the loop, per
//      request, is well under W (the whole W when the work ran on it) — true or false on a busy
//      machine as on an idle one;
//   3  the server kept up: every request answered, and the p99 from the intended send within the
//      work of 100 requests. This one needs two free cores: if other programs used more than a
//      tenth of a core during the run, or two threads spinning for a moment before and after it
//      got less than 1.8 cores between them, a server that passed 2 and fell behind is not
//      graded (exit 2, "the machine was busy").
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>

#include "grade.hpp"
#include "load/echo_point.hpp"
#include "measure/process.hpp"
#include "serve_echo.hpp"

namespace tvl::exercise {
namespace {

constexpr std::chrono::microseconds kWork{1000};  // W: each request's CPU work
constexpr std::size_t kCores = 2;                 // the load is sized for two cores, even on a machine with more
constexpr double kLoadShare = 0.7;                // of those two cores' worth: 1,400 requests/s at W = 1 ms
constexpr int kConnections = 8;
constexpr double kSeconds = 4;          // the schedule; an inline loop ends it 0.4 x 4 = 1.6 s behind
constexpr double kWarmupSeconds = 0.5;  // connections starting up, left out of the latency
constexpr double kDrainSeconds = 6;     // enough for an inline loop to answer everything, late
constexpr double kBoundInWorks = 100;   // the p99 bound: 100 requests' work (100 ms at W = 1 ms)
// The loop's thread may spend at most a fifth of a request's work per request: a loop that only
// reads, hands over and writes spends a few hundredths of it, one that does the work all of it.
constexpr double kOffLoopShare = 0.2;
// Before and after the run, two threads spin for a moment: if they got less than this many
// cores, or other programs used more than kOthersCores on average during the run, something else
// was running, and a server that fell behind is not graded.
constexpr double kFreeCoresNeeded = 1.8;
constexpr double kOthersCores = 0.1;
constexpr double kFreeCoresProbeSeconds = 0.3;
constexpr int kNotGraded = 2;  // grade.hpp's exit status for "could not be graded"

constexpr const char* kLoopLesson =
    "the loop is one thread: the work of every request ran on it, so every connection's requests were served one "
    "after another, one core's worth at most, however many cores the machine has. Move the work off the loop: "
    "co_await boost::asio::co_spawn(executor, <a coroutine that does the work>, use_awaitable) runs it on the "
    "pool's threads, which the other cores can run, and resumes on the loop to answer (the book's "
    "loop.run_in_executor).";

// What else ran: two spinning threads' share of the cores before and after the run (the lower),
// and the cores other programs used during it, on average.
struct Machine {
  double free_cores = 0;
  double others_cores = 0;
  bool busy() const { return free_cores < kFreeCoresNeeded || others_cores > kOthersCores; }
};

struct Load {
  double work_s = 0;  // W as measured here
  double rate = 0;    // requests per second, all connections together
  double bound_s = 0;
};

echo_point::Point run(const Load& l) {
  echo_point::Target t;
  t.model = "asyncloop";  // echo_point's argument; this program's server is the student's
  t.work_us = static_cast<double>(kWork.count());
  t.threads = static_cast<int>(process::allowed_cpus().size());
  load::Params lp;
  lp.publishers = kConnections;
  lp.rate = l.rate;
  lp.duration_s = kSeconds;
  lp.warmup_s = kWarmupSeconds;
  lp.drain_s = kDrainSeconds;
  lp.threads = 1;
  return echo_point::run_point(t, lp);
}

// The loop's thread's CPU per request: a whole W when the work ran on it, a small part of one when
// the loop only read, handed over and wrote. It does not depend on what else the machine runs.
bool check_off_loop(Grader& g, const Load& l, const echo_point::Point& p) {
  const auto& stats = p.server_stats;
  const double loop_cpu_s = stats.is_object() ? stats.value("loop_cpu_s", -1.0) : -1.0;
  const auto requests = stats.is_object() ? stats.value("requests", std::int64_t{0}) : 0;
  const double per_request_s = requests > 0 && loop_cpu_s >= 0 ? loop_cpu_s / static_cast<double>(requests) : -1;
  return g.check(
      "the work ran off the loop's thread", per_request_s >= 0 && per_request_s < kOffLoopShare * l.work_s,
      fmt::format("the loop's thread spent {:.0f} µs of CPU per request, of the {:.0f} µs each request's "
                  "work takes (less than {:.0f}% of it passes)",
                  per_request_s * 1e6, l.work_s * 1e6, kOffLoopShare * 100),
      per_request_s < 0 ? "the server printed no counters: it crashed, or did not stop when told" : kLoopLesson);
}

// What the check that the server kept up found: passed, failed, or could not be judged because
// something else on the machine took a core the server needed.
enum class KeptUp { yes, no, machine_busy };

KeptUp check_kept_up(Grader& g, const Load& l, const echo_point::Point& p, bool off_loop, const Machine& m) {
  const load::Result& r = p.result;
  const double p99_s = static_cast<double>(r.from_intended_ns.percentile(99)) / 1e9;
  const double answered_per_s = r.seconds > 0 ? static_cast<double>(r.delivered) / r.seconds : 0;
  const double cores = r.broker_cpu_s > 0 && r.seconds > 0 ? r.broker_cpu_s / r.seconds : 0;
  const bool kept_up = p.check.empty() && p99_s <= l.bound_s;
  const std::string measured = fmt::format(
      "p99 {:.1f} ms from the intended send (the bound: {:.0f} requests' work, {:.0f} ms); {} of {} requests "
      "answered, at {:.0f}/s of the {:.0f}/s offered (one core serves at most {:.0f}/s); the server used {:.2f} "
      "cores, other programs {:.2f}",
      p99_s * 1e3, kBoundInWorks, l.bound_s * 1e3, r.delivered, r.expected, answered_per_s, l.rate, 1 / l.work_s, cores,
      m.others_cores);
  if (!kept_up && off_loop && m.busy()) {
    g.skip(
        "the server kept up",
        fmt::format("{}; but the machine was busy: other programs used {:.2f} cores during the run, and two spinning "
                    "threads got {:.2f} cores between them beside it (top shows what else runs). Not graded: grade "
                    "again when it is idle",
                    measured, m.others_cores, m.free_cores));
    return KeptUp::machine_busy;
  }
  g.check("the server kept up: p99 within the bound", kept_up, measured,
          off_loop ? "the work ran off the loop, and still the server fell behind. Look for a wait that holds the "
                     "loop's thread while the pool works (a future's get(), a sleep), or a pool with one thread."
                   : "one core's worth at most: the requests the loop could not serve queued, and the queue grew "
                     "for the whole run (see the check above).");
  return kept_up ? KeptUp::yes : KeptUp::no;
}

// Every answer that came back was right: upper-cased, once, in order. Answers still missing
// when the grader stopped waiting count against keeping up, below.
void check_answers(Grader& g, const echo_point::Point& p) {
  const load::Result& r = p.result;
  const bool right = r.impossible.empty() && r.gaps == 0 && r.duplicates_or_reordered == 0 && r.delivered > 0 &&
                     p.server_stats.is_object() && p.server_stats.value("requests", std::int64_t{0}) >= r.delivered;
  g.check("every answer was right: upper-cased, once, in order", right,
          right ? fmt::format("{} answers over {} connections", r.delivered, kConnections) : p.check,
          "every line must come back upper-cased, once, in the order its connection sent it: await the work, then "
          "append the answer to `out` before the connection writes it");
}

int grade() {
  Grader g("run-in-executor", "book ch. 3, Example 3-23; docs/crossover.md", TVL_EXERCISE_DIR "/server.cpp");
  const std::size_t cpus = process::allowed_cpus().size();
  if (cpus < kCores) {
    g.note(
        fmt::format("this exercise needs at least two CPUs, and this machine has {}: with one core, moving "
                    "work off the loop cannot make it go faster. Skipped.",
                    cpus));
    return g.finish();
  }
  Load l;
  l.work_s = CpuWork::calibrated(kWork).seconds();
  l.rate = kLoadShare * static_cast<double>(kCores) / l.work_s;
  l.bound_s = kBoundInWorks * l.work_s;
  Machine m;
  m.free_cores = free_cores(kCores, kFreeCoresProbeSeconds);
  const double machine_before = machine_cpu_s(), own_before = own_cpu_s();
  const auto t0 = std::chrono::steady_clock::now();
  const echo_point::Point p = run(l);  // the server is a child, ended (and counted in own_cpu_s) when it returns
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  m.others_cores = ((machine_cpu_s() - machine_before) - (own_cpu_s() - own_before)) / wall;
  m.free_cores = std::min(m.free_cores, free_cores(kCores, kFreeCoresProbeSeconds));
  check_answers(g, p);
  const bool off_loop = check_off_loop(g, l, p);
  const KeptUp kept_up = check_kept_up(g, l, p, off_loop, m);
  const int status = g.finish();
  if (kept_up == KeptUp::machine_busy && status == 0) {
    fmt::print("exercise run-in-executor: the machine was busy, so the latency could not be graded\n");
    return kNotGraded;
  }
  return status;
}

}  // namespace
}  // namespace tvl::exercise

int main(int argc, char** argv) {
  if (argc > 2 && std::strcmp(argv[1], "serve") == 0)
    return tvl::exercise::run_grader([&] { return tvl::exercise::serve_echo(argc, argv); });
  return tvl::exercise::run_grader(tvl::exercise::grade);
}
