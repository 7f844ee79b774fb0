// Grader of exercise coordinated-omission (README.md): the student's probe.hpp against a real
// broker (`tvl broker --model asyncloop`, a child process) that the grader pauses with SIGSTOP
// for half a second in the middle of each run.
//
// First a closed-loop reference probe runs (the starter's design: it measures from the actual
// send and sends nothing while it waits), then the student's probe, each for 3 s at 1,000
// requests/s, each with one pause. Every bound is relative to the pause the grader measured,
// never to the machine's speed: the reference must show the pause in its maximum but not in its
// p99.9 (a check of the setup), and the student's probe must make every scheduled request and
// show the pause in its p99.9.
#include <fmt/format.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <probe.hpp>  // <>: the copy being graded (student or solution/), not the one beside this file
#include <stdexcept>
#include <string>
#include <thread>

#include "broker_child.hpp"
#include "grade.hpp"
#include "measure/histogram.hpp"
#include "round_trip.hpp"
#include "tests/fanout_client.hpp"

namespace tvl::exercise {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr double kRate = 1000;  // requests per second
constexpr std::chrono::duration<double> kRun = 3s;
constexpr auto kPause = 500ms;  // SIGSTOP to SIGCONT, in the middle of the run

// One request: publish to the client's own channel and wait until the broker delivers it back.
class BrokerRoundTrip final : public RoundTrip {
 public:
  BrokerRoundTrip(std::uint16_t port, std::string channel, Clock::time_point give_up)
      : client_(port, channel), channel_(std::move(channel)), give_up_(give_up) {
    send_and_wait();  // the subscription is in place once its first message comes back
    calls_ = 0;
  }
  void send_and_wait() override {
    if (Clock::now() > give_up_) throw std::runtime_error("the probe was still sending long after its run should end");
    const std::string request = std::to_string(++sent_);
    client_.publish(channel_, request);
    for (;;) {
      const auto answer = client_.read_frame(std::chrono::milliseconds(5000));
      if (!answer) throw std::runtime_error("no answer from the broker within 5 s");
      if (*answer == request) break;
    }
    ++calls_;
  }
  std::int64_t calls() const { return calls_; }

 private:
  testing::Client client_;
  std::string channel_;
  Clock::time_point give_up_;
  std::int64_t sent_ = 0, calls_ = 0;
};

// The probe everybody writes first: closed loop, the clock started at the actual send.
void closed_loop_reference(RoundTrip& rt, double rate, std::chrono::duration<double> duration, Histogram& latency_ns) {
  const auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1 / rate));
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(duration);
  while (Clock::now() < end) {
    const auto sent = Clock::now();
    rt.send_and_wait();
    latency_ns.record(static_cast<std::uint64_t>(std::chrono::nanoseconds(Clock::now() - sent).count()));
    std::this_thread::sleep_until(sent + interval);
  }
}

struct Run {
  Histogram latency_ns;
  std::int64_t requests = 0;
  double paused_at_s = 0, paused_s = 0;  // when the pause began (from the run's start), how long it lasted
  std::string error;                     // the probe did not finish
};

// Runs a probe against the broker, pausing the broker for kPause halfway through.
template <typename Probe>
Run run_probe(BrokerChild& broker, const std::string& channel, Probe probe) {
  Run run;
  const auto give_up = Clock::now() + 3 * std::chrono::duration_cast<Clock::duration>(kRun) + 10s;
  BrokerRoundTrip rt(broker.port(), channel, give_up);
  const auto start = Clock::now();
  std::atomic<bool> done{false};
  std::thread pauser([&] {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(kRun / 2));
    if (done) return;
    const auto stopped = Clock::now();
    ::kill(broker.pid(), SIGSTOP);
    std::this_thread::sleep_for(kPause);
    ::kill(broker.pid(), SIGCONT);
    run.paused_at_s = std::chrono::duration<double>(stopped - start).count();
    run.paused_s = std::chrono::duration<double>(Clock::now() - stopped).count();
  });
  try {
    probe(rt, kRate, kRun, run.latency_ns);
  } catch (const std::exception& e) {
    run.error = e.what();
  }
  done = true;
  pauser.join();
  run.requests = rt.calls();
  return run;
}

double ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

std::string summary(const Run& r) {
  const Histogram& h = r.latency_ns;
  return fmt::format("{} latencies from {} requests: p50 {:.2f} ms, p99 {:.2f} ms, p99.9 {:.2f} ms, max {:.1f} ms",
                     h.count(), r.requests, ms(h.percentile(50)), ms(h.percentile(99)), ms(h.percentile(99.9)),
                     ms(h.max()));
}

int grade() {
  Grader g("coordinated-omission", "method, docs/metrics.md", TVL_EXERCISE_DIR "/probe.hpp");
  BrokerChild broker({TVL_BINARY, "broker", "--model", "asyncloop", "--port", "0"});
  const Run ref = run_probe(broker, "/topic/closed-loop", closed_loop_reference);
  const Run mine = run_probe(
      broker, "/topic/your-probe",
      [](RoundTrip& rt, double rate, std::chrono::duration<double> d, Histogram& h) { probe(rt, rate, d, h); });
  broker.stop();

  // A pause lasts at least kPause (a sleep never ends early); the bars are fractions of it.
  const auto pause_ns = static_cast<std::uint64_t>(std::chrono::nanoseconds(kPause).count());
  const std::uint64_t half_pause_ns = pause_ns / 2;
  if (!g.check("the broker was paused for half a second mid-run",
               ref.error.empty() && ref.paused_s > 0 && ref.latency_ns.max() >= pause_ns * 4 / 5,
               fmt::format("SIGSTOP {:.2f} s into the run for {:.0f} ms; the closed-loop reference's slowest round "
                           "trip took {:.1f} ms{}",
                           ref.paused_at_s, ref.paused_s * 1e3, ms(ref.latency_ns.max()),
                           ref.error.empty() ? "" : " (" + ref.error + ")"),
               "the pause did not show in the reference's round trips, so this run cannot grade a probe; the "
               "machine may be too busy: run the grader again"))
    return g.finish();
  g.check("the closed-loop reference hides the pause from its p99.9", ref.latency_ns.percentile(99.9) < half_pause_ns,
          "closed loop, from the actual send: " + summary(ref),
          "the reference itself saw more than one long stall, so this run cannot grade a probe; the machine may be "
          "too busy: run the grader again");

  const auto scheduled = static_cast<std::int64_t>(kRate * kRun.count());
  const std::int64_t recorded = static_cast<std::int64_t>(mine.latency_ns.count());
  g.check(
      "your probe made every scheduled request and recorded each",
      mine.error.empty() && recorded >= scheduled * 99 / 100 && recorded <= scheduled + 1 && mine.requests == recorded,
      fmt::format("the schedule ({:.0f}/s for {:.0f} s) has {} requests; your probe made {} and recorded {} "
                  "latencies{}",
                  kRate, kRun.count(), scheduled, mine.requests, recorded,
                  mine.error.empty() ? "" : "; it stopped: " + mine.error),
      "while your probe waited for an answer it sent nothing, so the requests that fell due during the pause "
      "were never made and their waits never recorded. Keep a fixed schedule: request i is due at "
      "start + i / rate, whatever happened before it; when the probe is behind, it sends at once");
  g.check("your probe's p99.9 shows the pause", mine.latency_ns.percentile(99.9) >= half_pause_ns,
          fmt::format("your probe: {}; the pause lasted {:.0f} ms, {:.2f} s into the run (at least half of it is "
                      "the bar); the closed-loop reference's p99.9 was {:.2f} ms",
                      summary(mine), mine.paused_s * 1e3, mine.paused_at_s, ms(ref.latency_ns.percentile(99.9))),
          "coordinated omission: your probe's clock started when a request was actually sent, and it sent nothing "
          "while it waited, so a half-second pause is one slow sample among thousands and vanishes from the "
          "p99.9. A user who arrived on schedule during the pause waited up to half a second. Measure each "
          "latency from the moment the request was due on the fixed schedule (as wrk2 and `tvl load` do)");
  return g.finish();
}

}  // namespace
}  // namespace tvl::exercise

int main() { return tvl::exercise::run_grader(tvl::exercise::grade); }
