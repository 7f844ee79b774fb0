// Grader of exercise slow-consumer (README.md): the student's broker.cpp under the book's
// protocol, then under one subscriber that never reads.
//
// The broker runs as a child process: this very program with `broker` as its first argument
// runs the student's run_broker() the way `tvl broker` runs the project's brokers (it prints
// where it listens, and its counters after SIGTERM). A broker that hangs or crashes then costs
// a failed check, not the grader; every wait here has a bound.
//
//   1-4  the book's protocol, ported from tests/test_fanout_broker.cpp with the same test client
//        (tests/fanout_client.hpp): topic fan-out, /queue round-robin, the empty channel, the
//        oversized frame; each against a fresh broker, whose counters must agree;
//   5-8  the slow consumer: the project's load generator (load/loadgen.hpp) drives 4 fast
//        subscribers with 16 KiB messages at 1,000/s for 2 s while a fifth subscriber, the
//        grader's own, never reads: the publisher must never be held up, the fast subscribers
//        must lose nothing, what the slow one missed must be the broker's drop count, and the
//        broker's memory must stay far below what was sent to the slow one.
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "broker_child.hpp"
#include "broker_clients.hpp"
#include "grade.hpp"
#include "load/loadgen.hpp"
#include "measure/metrics.hpp"
#include "measure/process.hpp"
#include "serve_broker.hpp"
#include "slow_consumer_broker.hpp"
#include "tests/fanout_client.hpp"

namespace tvl::exercise {
namespace {

using namespace std::chrono_literals;

// How long a check waits for all its deliveries, each look at one subscriber, and how long for
// a connection the broker should close to show it closed.
constexpr auto kAllDeliveredWait = 5s;
constexpr auto kLookEach = 10ms;
constexpr auto kCloseWait = 3s;
// The broker child gets this long to flush its queues at shutdown (serve_broker's --flush-timeout).
constexpr const char* kFlushTimeoutSeconds = "0.5";

// The student's broker as a child (serve_broker.hpp), with these extra options.
std::unique_ptr<BrokerChild> start_broker(const std::vector<std::string>& options = {}) {
  std::vector<std::string> argv{process::self_exe(), "broker", "--port", "0", "--flush-timeout", kFlushTimeoutSeconds};
  argv.insert(argv.end(), options.begin(), options.end());
  return std::make_unique<BrokerChild>(argv);
}

// What a check saw: passed or not, and the measured line either way.
struct Seen {
  bool ok = false;
  std::string measured;
};
Seen fails(std::string why) { return {false, std::move(why)}; }

// Runs a check's body; a broker that would not start or a client that could not connect fails
// the check with the reason instead of ending the grader.
Seen attempt(const std::function<Seen()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return fails(std::string("could not finish: ") + e.what());
  }
}

// The broker's counters at shutdown, against what the clients did.
std::string counted(const nlohmann::json& s, std::int64_t messages_in, std::int64_t deliveries) {
  if (s.is_null()) return "the broker printed no counters at shutdown (it crashed, or hung and was killed)";
  if (stat(s, "messages_in") != messages_in || stat(s, "deliveries") != deliveries)
    return fmt::format("the broker counted {} messages in and {} deliveries; the clients sent {} and received {}",
                       stat(s, "messages_in"), stat(s, "deliveries"), messages_in, deliveries);
  if (stat(s, "closed") != stat(s, "accepted"))
    return fmt::format("the broker closed {} of its {} connections at shutdown", stat(s, "closed"),
                       stat(s, "accepted"));
  return {};
}

// ---- 1-4: the book's protocol ---------------------------------------------------------------

// Two publishers to a topic with three subscribers: each gets every message, each publisher's
// in order; the subscriber of another channel gets none of them.
Seen topic_fan_out() {
  auto b = start_broker();
  Clients subs = subscribers(b->port(), "/topic/news", 3);
  Clients other = subscribers(b->port(), "/topic/other", 1);
  Client p1(b->port(), "/null"), p2(b->port(), "/null");
  constexpr int n = 100;
  for (int i = 0; i < n; ++i) {
    p1.publish("/topic/news", payload("a", i, 100));
    p2.publish("/topic/news", payload("b", i, 100));
  }
  p1.publish("/topic/other", "only this");
  for (std::size_t j = 0; j < subs.size(); ++j) {
    int next[2] = {0, 0};
    for (int got = 0; got < 2 * n; ++got) {
      const auto f = next_data(*subs[j]);
      if (!f) return fails(fmt::format("subscriber {} received {} of the {} messages", j, got, 2 * n));
      const int from = (*f)[0] - 'a';
      if (f->size() != 100 || (from != 0 && from != 1) || number(*f, 1) != next[from])
        return fails(
            fmt::format("subscriber {} received '{}' where a{} or b{} was due", j, f->substr(0, 8), next[0], next[1]));
      ++next[from];
    }
  }
  if (const auto f = next_data(*other[0]); f != "only this")
    return fails(fmt::format("the subscriber of /topic/other received '{}', not its one message",
                             f ? f->substr(0, 8) : "nothing"));
  const auto s = b->stop();
  if (auto bad = counted(s, 2 * n + 3 + 1 + 1, 3 * 2 * n + topic_sync_deliveries(3) + 1 + 1); !bad.empty())
    return fails(bad);
  return {true, fmt::format("3 subscribers received all {} messages of 2 publishers, each publisher's in order; "
                            "/topic/other got only its own; the broker counted {} in, {} delivered",
                            2 * n, stat(s, "messages_in"), stat(s, "deliveries"))};
}

// Each message to exactly one subscriber, in turn: evenly spread, in order at each.
Seen queue_round_robin() {
  auto b = start_broker();
  Clients subs = subscribers(b->port(), "/queue/jobs", 3);
  Client p(b->port(), "/null");
  constexpr int n = 300;
  for (int i = 0; i < n; ++i) p.publish("/queue/jobs", payload("job", i, 16));
  std::vector<int> times_seen(n, 0), per_subscriber(subs.size(), 0), last(subs.size(), -1);
  int total = 0, out_of_order = 0;
  for (const auto give_up = std::chrono::steady_clock::now() + kAllDeliveredWait;
       total < n && std::chrono::steady_clock::now() < give_up;)
    for (std::size_t j = 0; j < subs.size(); ++j)
      while (auto f = next_data(*subs[j], kLookEach)) {
        const int i = number(*f, 3);
        if (i < 0 || i >= n) return fails(fmt::format("subscriber {} received '{}', which nobody sent", j, *f));
        ++times_seen[static_cast<std::size_t>(i)];
        ++per_subscriber[j];
        ++total;
        if (i <= last[j]) ++out_of_order;
        last[j] = i;
      }
  const auto s = b->stop();
  const int once = static_cast<int>(std::count(times_seen.begin(), times_seen.end(), 1));
  const std::string spread =
      fmt::format("{}, {} and {} per subscriber", per_subscriber[0], per_subscriber[1], per_subscriber[2]);
  // The three syncs took one turn each, so the jobs start again at the first subscriber.
  const bool even = std::all_of(per_subscriber.begin(), per_subscriber.end(), [](int c) { return c == n / 3; });
  if (once != n || out_of_order > 0 || !even)
    return fails(
        fmt::format("of {} jobs {} arrived exactly once ({}), {} out of order; each should reach one "
                    "subscriber, in turn",
                    n, once, spread, out_of_order));
  if (auto bad = counted(s, n + 3, n + 3); !bad.empty()) return fails(bad);
  return {true, fmt::format("{} jobs: {}, each exactly once and in order", n, spread)};
}

// A client's empty channel frame ends its sends: what it sends after it is not delivered.
Seen empty_channel_ends_sends() {
  auto b = start_broker();
  Clients subs = subscribers(b->port(), "/topic/t", 1);
  Client p(b->port(), "/null");
  p.publish("/topic/t", "before the end");
  p.send_raw(fanout::frame("") + fanout::frame("/topic/t") + fanout::frame("after the end"));
  ::shutdown(p.fd(), SHUT_WR);
  const bool closed = p.closed_by_peer(kCloseWait);  // the broker saw the whole stream
  Client q(b->port(), "/null");
  q.publish("/topic/t", "from another client");
  const auto first = next_data(*subs[0]), second = next_data(*subs[0]);
  const auto s = b->stop();
  if (first != "before the end" || second != "from another client")
    return fails(
        fmt::format("the subscriber received '{}' then '{}'; expected 'before the end' then 'from another "
                    "client' ('after the end' came after the empty channel)",
                    first.value_or("nothing"), second.value_or("nothing")));
  if (!closed) return fails("the broker did not close the connection once its stream ended");
  if (auto bad = counted(s, 1 + 1 + 1, 1 + 1 + 1); !bad.empty()) return fails(bad);
  return {true, "what came after the empty channel was not delivered, and the client was closed at its end"};
}

// A frame of exactly max_frame passes; one byte more, as data or as the channel, closes that
// client only, and counts it.
Seen oversized_frame_closes_only_its_client() {
  auto b = start_broker({"--max-frame", "1024"});
  Clients subs = subscribers(b->port(), "/topic/t", 2);
  Client p(b->port(), "/null");
  p.publish("/topic/t", std::string(1024, 'x'));
  for (auto& s : subs)
    if (next_data(*s) != std::string(1024, 'x')) return fails("a frame of exactly --max-frame was not delivered");
  Client bad_data(b->port(), "/null");
  bad_data.send_raw(fanout::frame("/topic/t") + fanout::frame(std::string(1025, 'y')));
  const bool data_closed = bad_data.closed_by_peer(kCloseWait);
  Client bad_channel(b->port());
  bad_channel.send_raw(fanout::frame(std::string(1025, '/')));
  const bool channel_closed = bad_channel.closed_by_peer(kCloseWait);
  p.publish("/topic/t", "after");
  int after = 0;
  for (auto& s : subs) after += next_data(*s) == "after";
  const auto s = b->stop();
  if (!data_closed || !channel_closed)
    return fails(
        fmt::format("a client that sent a frame of max_frame + 1 bytes was {}closed (data), {}closed (channel)",
                    data_closed ? "" : "not ", channel_closed ? "" : "not "));
  if (after != 2)
    return fails(fmt::format("after the bad clients, {} of 2 subscribers received the next message", after));
  if (stat(s, "protocol_errors") != 2)
    return fails(fmt::format("the broker counted {} protocol errors, not 2", stat(s, "protocol_errors")));
  if (auto bad = counted(s, 2 + 2, topic_sync_deliveries(2) + 2 * 2); !bad.empty()) return fails(bad);
  return {true, "1024 bytes passed, 1025 (as data, as channel) closed only that client; 2 protocol errors counted"};
}

// ---- 5-8: the slow consumer -----------------------------------------------------------------

constexpr int kFast = 4;
constexpr std::size_t kPayload = 16 * 1024;
constexpr double kRate = 1000;
constexpr double kSeconds = 2;
constexpr std::size_t kQueueBytes = 1 << 20;
// A frame on the wire: its length prefix, then its bytes.
constexpr std::size_t kLengthPrefixBytes = 4;
// The broker's peak RSS may grow by at most a quarter of what was sent to the slow subscriber.
constexpr std::int64_t kMemoryShareDivisor = 4;
// How long the last deliveries may take, and the subscriptions to be confirmed.
constexpr double kDrainSeconds = 1;
constexpr double kConfirmSeconds = 5;
// After the stop, the slow subscriber reads for at most this long, each frame within the second.
constexpr auto kSlowReadFor = 5s;
constexpr auto kSlowFrameWait = 1s;

// What the slow-consumer run left to check: the load's result, the broker's counters at
// shutdown, what the slow subscriber read after the stop, and the broker's RSS before the load.
struct SlowRun {
  load::Result r;
  nlohmann::json s;
  std::int64_t slow_got = 0;
  std::optional<metrics::Memory> before;
};

SlowRun run_slow_consumer() {
  SlowRun run;
  auto b = start_broker({"--queue-bytes", std::to_string(kQueueBytes)});
  // The slow subscriber is the grader's own, so that what it received can be counted: subscribed
  // and confirmed (its sync is the one message it reads), then it reads nothing until the stop.
  Clients slow = subscribers(b->port(), "/topic/load", 1);
  run.before = metrics::memory(b->pid());
  load::Params lp;
  lp.port = b->port();
  lp.broker_pid = b->pid();
  lp.subscribers = kFast;
  lp.publishers = 1;
  lp.payload = kPayload;
  lp.rate = kRate;
  lp.duration_s = kSeconds;
  lp.drain_s = kDrainSeconds;
  lp.confirm_s = kConfirmSeconds;
  lp.channel = "/topic/load";
  run.r = load::run(lp);

  // Stop the broker, and read what the slow subscriber was sent: its socket buffers, then its
  // queue, which the broker flushes now that it reads.
  b->signal_stop();
  for (const auto give_up = std::chrono::steady_clock::now() + kSlowReadFor;
       std::chrono::steady_clock::now() < give_up;) {
    if (!slow[0]->read_frame(kSlowFrameWait)) break;
    ++run.slow_got;
  }
  run.s = b->stop();
  return run;
}

// 5: the publisher kept its pace. Returns whether it stalled.
bool check_publisher(Grader& g, const load::Result& r) {
  const auto planned = static_cast<std::int64_t>(kRate * kSeconds);
  const bool stalled = r.publishers_stalled > 0 || r.published < planned;
  g.check("the publisher is never held up by a subscriber that never reads", !stalled,
          fmt::format("the publisher sent {} of {} messages of {} KiB at {:.0f}/s ({} stalled)", r.published, planned,
                      kPayload / 1024, kRate, stalled ? "it" : "none"),
          "the publisher stalled: the broker awaited a write to a subscriber that never reads, stopped reading the "
          "publisher meanwhile, and every other subscriber waited too. Give each subscriber its own bounded queue "
          "and its own writer coroutine, so that publish() only appends to queues and never co_awaits a socket.");
  return stalled;
}

// 6: the fast subscribers lost nothing.
void check_fast_subscribers(Grader& g, const load::Result& r, bool stalled) {
  const bool lossless = r.lost == 0 && r.gaps == 0 && r.duplicates_or_reordered == 0 && r.expected > 0;
  g.check(fmt::format("zero loss for the {} fast subscribers", kFast), lossless,
          fmt::format("they received {} of {} deliveries, {} gaps, {} duplicated or reordered; p99 {:.1f} ms from the "
                      "intended send",
                      r.delivered, r.expected, r.gaps, r.duplicates_or_reordered,
                      static_cast<double>(r.from_intended_ns.percentile(99)) / 1e6),
          stalled ? "the fast subscribers starved behind the slow one (see above): in the naive design everything "
                    "moves at the pace of the slowest subscriber"
                  : "a subscriber that keeps up lost messages: drop only for a subscriber whose own queue is full, "
                    "and let its writer write everything queued, in order");
}

// 7: every message the slow subscriber missed was dropped, and counted.
void check_drops(Grader& g, const SlowRun& run) {
  const auto& s = run.s;
  const std::int64_t slow_got = run.slow_got;
  // Every message after its sync went to the slow subscriber's queue, or was dropped, counted.
  const std::int64_t for_slow = stat(s, "messages_in") - 1;
  const std::int64_t missed = for_slow - slow_got - stat(s, "unflushed");
  const std::int64_t dropped = stat(s, "dropped");
  g.check("what the slow subscriber missed is dropped, and counted", !s.is_null() && dropped > 0 && dropped == missed,
          fmt::format("{} messages were for the slow subscriber: it read {} after the stop (its socket buffers and "
                      "queue), {} were left unflushed, {} missed; the broker counted {} dropped",
                      for_slow, slow_got, stat(s, "unflushed"), missed, dropped),
          s.is_null() ? "the broker printed no counters at shutdown: it crashed, or did not stop within 5 s"
          : dropped == 0
              ? "nothing was dropped, so a queue never filled (or there is none): an unbounded queue never drops, "
                "it grows. Bound each subscriber's queue by c.queue_depth messages and c.queue_bytes bytes, and "
                "count every message that does not fit in stats_.dropped"
              : "the drop counter is not what the slow subscriber missed: count each message that a full queue "
                "refuses once, and only those");
}

// 8: the broker's memory stayed far below what was sent to the slow subscriber.
void check_memory(Grader& g, const SlowRun& run) {
  const auto& r = run.r;
  const auto& before = run.before;
  const std::int64_t for_slow = stat(run.s, "messages_in") - 1;
  const std::int64_t grew_kib = r.broker_hwm_kib - (before ? before->rss_kib : 0);
  const std::int64_t sent_kib = for_slow * static_cast<std::int64_t>(kLengthPrefixBytes + kPayload) / 1024;
  g.check("the broker's memory stays bounded",
          before && r.broker_hwm_kib > 0 && grew_kib * kMemoryShareDivisor < sent_kib,
          fmt::format("its peak RSS grew by {:.1f} MiB while {:.1f} MiB was sent to the slow subscriber (a quarter of "
                      "that is the limit; the queue bound is {:.1f} MiB)",
                      static_cast<double>(grew_kib) / 1024, static_cast<double>(sent_kib) / 1024,
                      static_cast<double>(kQueueBytes) / (1 << 20)),
          "the broker held what the slow subscriber did not read: its queue is not bounded (the book's "
          "mq_server_plus has this flaw). Refuse a message once the queue holds c.queue_depth messages or "
          "c.queue_bytes bytes");
}

void slow_consumer(Grader& g) {
  const SlowRun run = run_slow_consumer();
  const bool stalled = check_publisher(g, run.r);
  check_fast_subscribers(g, run.r, stalled);
  check_drops(g, run);
  if (stalled) {
    g.skip("the broker's memory stays bounded",
           "the broker stopped reading, so it held nothing: bounded only because everything stood still");
    return;
  }
  check_memory(g, run);
}

int grade() {
  Grader g("slow-consumer", "book ch. 4, docs/fanout.md", TVL_EXERCISE_DIR "/broker.cpp");
  const struct {
    const char* what;
    Seen (*run)();
    const char* lesson;
  } protocol[] = {
      {"topic: every subscriber gets every message, in order", topic_fan_out,
       "on a channel that does not start with /queue, every subscriber gets every message, and each publisher's "
       "messages in the order it sent them"},
      {"/queue: each message to one subscriber, round-robin", queue_round_robin,
       "a channel starting with /queue delivers each message to exactly one subscriber, taking them in turn"},
      {"an empty channel ends a client's sends", empty_channel_ends_sends,
       "after a client sends an empty channel frame, nothing more it sends is a message"},
      {"a frame over --max-frame closes only its client", oversized_frame_closes_only_its_client,
       "a length above c.max_frame is a protocol error: close that connection, count it in protocol_errors, and "
       "carry on for everyone else"},
  };
  for (const auto& c : protocol) {
    const Seen seen = attempt(c.run);
    g.check(c.what, seen.ok, seen.measured, c.lesson);
  }
  try {
    slow_consumer(g);
  } catch (const std::exception& e) {
    g.check("the slow-consumer load ran", false, e.what(),
            "the load generator could not run against the broker: it must accept connections and confirm "
            "subscriptions (see the checks above)");
  }
  return g.finish();
}

}  // namespace
}  // namespace tvl::exercise

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "broker") == 0)
    return tvl::exercise::run_grader([&] { return tvl::exercise::serve_broker(argc, argv); });
  return tvl::exercise::run_grader(tvl::exercise::grade);
}
