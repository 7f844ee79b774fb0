// The fan-out brokers over real sockets, one suite for all of them: the protocol under both
// designs, the slow-subscriber policies, hostile clients, and a shutdown that leaves nothing
// behind. Each behaviour is written once, as a function of the broker under test, and becomes
// a test for every broker that has it: fanout.threads.*, fanout.asyncloop.* and
// fanout.asyncloop_mt.* (an event loop per core; two here, so the clients of one test land on
// both loops). The naive design runs on one loop only, so its tests have no asyncloop_mt case.
//
// Each test runs the broker in-process on its own thread, on a free port, and stops it the way
// `tvl broker` does on SIGTERM: a byte down a pipe. No test depends on timing; every wait has
// a bound.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <future>
#include <memory>
#include <random>
#include <thread>

#include "scenarios/fanout.hpp"
#include "tests/fanout_client.hpp"

using namespace tvl::fanout;
using namespace std::chrono_literals;
using tvl::testing::Client;

namespace {

// What differs between the brokers under test.
struct Broker {
  std::string model;  // as `tvl broker --model` names it
  BrokerFn run;
  int loops;                         // asyncloop-mt: two, so that one test's clients use both
  std::vector<std::string> designs;  // the designs it has
  // threads: a writer holds its whole batch against the queue's bounds until all of it is
  // written. An event loop frees a frame's room as soon as that frame is written, so a queue
  // that overflows is exactly full when the flush time runs out.
  bool frees_room_per_frame;
};

const Broker kThreads{"threads", run_threads_broker, 0, {"naive", "improved"}, false};
const Broker kAsyncloop{"asyncloop", run_asyncloop_broker, 0, {"naive", "improved"}, true};
// The book's prototype, naive, is one loop's design: asyncloop-mt refuses it.
const Broker kAsyncloopMt{"asyncloop-mt", run_asyncloop_mt_broker, 2, {"improved"}, true};

// A broker on its own thread, on a port of its own, until stop().
class Running {
 public:
  Running(const Broker& broker, const BrokerConfig& c) {
    if (pipe2(stop_, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    Control ctl;
    ctl.stop_fd = stop_[0];
    ctl.listening = [this](std::uint16_t port) { bound_.set_value(port); };
    auto port = bound_.get_future();
    thread_ = std::thread([this, run = broker.run, c, ctl] {
      try {
        stats_ = run(c, ctl);
      } catch (...) {
        error_ = std::current_exception();
        try {
          bound_.set_exception(error_);
        } catch (const std::future_error&) {  // it was already listening: join() rethrows
        }
      }
    });
    try {
      if (port.wait_for(20s) == std::future_status::ready) port_ = port.get();
    } catch (...) {  // the broker failed: rethrown below
    }
    if (port_ == 0) {  // it failed, or hangs: stop it and say why
      signal_stop();
      thread_.join();
      close_pipe();
      if (error_) std::rethrow_exception(error_);
      throw std::runtime_error("the broker did not start listening");
    }
  }
  Running(const Running&) = delete;
  ~Running() {
    if (thread_.joinable()) signal_stop(), thread_.join();
    close_pipe();
  }

  std::uint16_t port() const { return port_; }

  // Tells the broker to stop and returns at once (it may still be flushing).
  void signal_stop() { [[maybe_unused]] const auto n = ::write(stop_[1], "x", 1); }

  // Waits for the broker to finish and returns its counters.
  BrokerStats join() {
    thread_.join();
    if (error_) std::rethrow_exception(error_);
    return stats_;
  }
  BrokerStats stop() { return signal_stop(), join(); }

 private:
  void close_pipe() {
    for (int& fd : stop_)
      if (fd >= 0) ::close(fd), fd = -1;
  }

  int stop_[2] = {-1, -1};
  std::promise<std::uint16_t> bound_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  BrokerStats stats_;
  std::exception_ptr error_;
};

BrokerConfig config(const Broker& broker, const std::string& design) {
  BrokerConfig c;
  c.model = broker.model;
  c.design = parse_design(design);
  c.loops = broker.loops;
  c.flush_timeout_s = 0.5;
  return c;
}

using Clients = std::vector<std::unique_ptr<Client>>;

Clients connect(std::uint16_t port, int n) {
  Clients out;
  for (int i = 0; i < n; ++i) out.push_back(std::make_unique<Client>(port));
  return out;
}

bool is_sync(const std::string& f) { return f.starts_with("sync-"); }

// The next frame that is not a sync (see subscribers), or nothing within the limit.
std::optional<std::string> next_data(Client& c, std::chrono::milliseconds limit = 5s) {
  for (;;)
    if (auto f = c.read_frame(limit); !f || !is_sync(*f)) return f;
}

// n clients, connected first (with two loops they land on both), then subscribed one after
// another, each confirmed held by the broker: client i publishes "sync-i" to the channel, and
// wherever that arrives, its subscribe frame (earlier on the same connection) has been handled.
// On a topic, sync-i reaches clients 0..i (i + 1 deliveries); on a queue, one of them.
Clients subscribers(std::uint16_t port, const std::string& channel, int n) {
  Clients subs = connect(port, n);
  for (std::size_t i = 0; i < subs.size(); ++i) {
    const std::string sync = "sync-" + std::to_string(i);
    subs[i]->subscribe(channel);
    subs[i]->publish(channel, sync);
    bool seen = false;
    const auto give_up = std::chrono::steady_clock::now() + 20s;  // a sanitizer build starts slowly
    while (!seen && std::chrono::steady_clock::now() < give_up)
      for (std::size_t j = 0; j <= i && !seen; ++j) seen = subs[j]->read_frame(10ms) == sync;
    if (!seen) throw std::runtime_error("subscription " + std::to_string(i) + " to " + channel + " not confirmed");
  }
  return subs;
}

std::int64_t topic_sync_deliveries(std::int64_t k) { return k * (k + 1) / 2; }

std::string payload(const std::string& tag, int i, std::size_t size) {
  std::string p = tag + std::to_string(i) + ":";
  p.resize(std::max(size, p.size()), '.');
  return p;
}

// The message's number in a payload built by payload().
int number(const std::string& p, std::size_t tag_size) { return std::stoi(p.substr(tag_size)); }

// One subscriber, one publisher: a message goes through (the broker still works).
void traffic_flows(std::uint16_t port, const std::string& channel = "/topic/ok") {
  Clients subs = subscribers(port, channel, 1);
  Client p(port, "/null");
  p.publish(channel, "still here");
  EXPECT_EQ(next_data(*subs[0]), "still here");
}

void expect_all_closed(const BrokerStats& s) {
  EXPECT_GT(s.accepted, 0);
  EXPECT_EQ(s.closed, s.accepted);
  EXPECT_EQ(s.unflushed, 0);
}

int open_descriptors() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

}  // namespace

// EVERY_BROKER(what) { ... } defines TEST(threads, what), TEST(asyncloop, what) and
// TEST(asyncloop_mt, what), each running the body with `broker` the one under test.
// SINGLE_LOOP_BROKERS(what) leaves out asyncloop_mt: for the naive design, which it refuses.
#define TVL_BROKER_TEST(model, what, under_test) \
  TEST(model, what) { what(under_test); }
#define SINGLE_LOOP_BROKERS(what)              \
  static void what(const Broker& broker);      \
  TVL_BROKER_TEST(threads, what, kThreads)     \
  TVL_BROKER_TEST(asyncloop, what, kAsyncloop) \
  static void what(const Broker& broker)
#define EVERY_BROKER(what)                          \
  static void what(const Broker& broker);           \
  TVL_BROKER_TEST(threads, what, kThreads)          \
  TVL_BROKER_TEST(asyncloop, what, kAsyncloop)      \
  TVL_BROKER_TEST(asyncloop_mt, what, kAsyncloopMt) \
  static void what(const Broker& broker)

// Two publishers to a topic with three subscribers: each subscriber gets every message, each
// publisher's in order (in the naive design the two readers take turns at every subscriber);
// the subscriber of another channel gets none of them.
static void topic_fanout(const Broker& broker, const std::string& design) {
  Running b(broker, config(broker, design));
  Clients subs = subscribers(b.port(), "/topic/news", 3);
  Clients other = subscribers(b.port(), "/topic/other", 1);
  Client p1(b.port(), "/null"), p2(b.port(), "/null");
  constexpr int n = 100;
  for (int i = 0; i < n; ++i) {
    p1.publish("/topic/news", payload("a", i, 100));
    p2.publish("/topic/news", payload("b", i, 100));
  }
  p1.publish("/topic/other", "only this");
  for (auto& s : subs) {
    int next_a = 0, next_b = 0;
    for (int got = 0; got < 2 * n; ++got) {
      const auto f = next_data(*s);
      ASSERT_TRUE(f) << "after " << got;
      ASSERT_EQ(f->size(), 100u);
      if ((*f)[0] == 'a')
        EXPECT_EQ(number(*f, 1), next_a++);
      else
        EXPECT_EQ(number(*f, 1), next_b++);
    }
  }
  EXPECT_EQ(next_data(*other[0]), "only this");
  const auto s = b.stop();
  EXPECT_EQ(s.messages_in, 2 * n + 3 + 1 + 1);
  EXPECT_EQ(s.deliveries, 3 * 2 * n + topic_sync_deliveries(3) + 1 + 1);
  EXPECT_EQ(s.subscribers, 6);
  EXPECT_EQ(s.accepted, 6);
  expect_all_closed(s);
}
SINGLE_LOOP_BROKERS(naive_topic_reaches_every_subscriber_in_order) { topic_fanout(broker, "naive"); }
EVERY_BROKER(improved_topic_reaches_every_subscriber_in_order) { topic_fanout(broker, "improved"); }

// Each message to exactly one subscriber, in turn, so evenly spread; in order at each.
static void queue_round_robin(const Broker& broker, const std::string& design) {
  Running b(broker, config(broker, design));
  Clients subs = subscribers(b.port(), "/queue/jobs", 3);
  Client p(b.port(), "/null");
  constexpr int n = 300;
  for (int i = 0; i < n; ++i) p.publish("/queue/jobs", payload("job", i, 16));
  std::vector<int> times_seen(n, 0), per_subscriber(subs.size(), 0), last(subs.size(), -1);
  int total = 0;
  for (const auto give_up = std::chrono::steady_clock::now() + 20s;
       total < n && std::chrono::steady_clock::now() < give_up;)
    for (std::size_t j = 0; j < subs.size(); ++j)
      while (auto f = next_data(*subs[j], 10ms)) {
        const int i = number(*f, 3);
        ++times_seen[static_cast<std::size_t>(i)], ++per_subscriber[j], ++total;
        EXPECT_GT(i, last[j]) << "subscriber " << j << " got jobs out of order";
        last[j] = i;
      }
  for (int i = 0; i < n; ++i) EXPECT_EQ(times_seen[static_cast<std::size_t>(i)], 1) << "job " << i;
  // The three syncs took one turn each, so the jobs start again at the first subscriber.
  for (int c : per_subscriber) EXPECT_EQ(c, n / 3);
  const auto s = b.stop();
  EXPECT_EQ(s.messages_in, n + 3);
  EXPECT_EQ(s.deliveries, n + 3);
  expect_all_closed(s);
}
SINGLE_LOOP_BROKERS(naive_queue_is_round_robin) { queue_round_robin(broker, "naive"); }
EVERY_BROKER(improved_queue_is_round_robin) { queue_round_robin(broker, "improved"); }

// naive: two publishers' readers write large messages to one subscriber at once. A write
// that the socket takes only in part must not let the other publisher's bytes in between.
SINGLE_LOOP_BROKERS(naive_publishers_take_turns_at_a_subscriber) {
  Running b(broker, config(broker, "naive"));
  Clients subs = subscribers(b.port(), "/topic/x", 1);
  Clients pubs = connect(b.port(), 2);
  constexpr int n = 50;
  constexpr std::size_t size = 256 * 1024;
  std::vector<std::thread> senders;
  for (std::size_t j = 0; j < pubs.size(); ++j) {
    pubs[j]->subscribe("/null");
    senders.emplace_back([&p = *pubs[j], tag = std::string(1, static_cast<char>('a' + j))] {
      for (int i = 0; i < n; ++i) p.publish("/topic/x", payload(tag, i, size));
    });
  }
  int next[2] = {0, 0};
  for (int got = 0; got < 2 * n; ++got) {
    const auto f = next_data(*subs[0]);
    ASSERT_TRUE(f) << "after " << got;
    ASSERT_EQ(f->size(), size);
    ASSERT_TRUE((*f)[0] == 'a' || (*f)[0] == 'b');
    ASSERT_EQ(number(*f, 1), next[(*f)[0] - 'a']++);
    ASSERT_EQ(f->find_first_not_of('.', f->find(':') + 1), std::string::npos) << "frames interleaved";
  }
  for (auto& t : senders) t.join();
  const auto s = b.stop();
  EXPECT_EQ(s.deliveries, 2 * n + 1);
  expect_all_closed(s);
}

// A subscriber that disappears mid-run is closed and forgotten; the others carry on.
static void subscriber_killed(const Broker& broker, const std::string& design) {
  Running b(broker, config(broker, design));
  Clients subs = subscribers(b.port(), "/topic/k", 2);
  Client p(b.port(), "/null");
  for (int i = 0; i < 20; ++i) {
    if (i == 10) subs[0]->close();
    p.publish("/topic/k", payload("m", i, 1000));
    const auto f = next_data(*subs[1]);
    ASSERT_TRUE(f);
    EXPECT_EQ(number(*f, 1), i);
  }
  const auto s = b.stop();
  EXPECT_EQ(s.messages_in, 22);
  expect_all_closed(s);
}
SINGLE_LOOP_BROKERS(naive_subscriber_killed_mid_run) { subscriber_killed(broker, "naive"); }
EVERY_BROKER(improved_subscriber_killed_mid_run) { subscriber_killed(broker, "improved"); }

// A frame of exactly max_frame passes; max_frame + 1, as data or as the channel, closes that
// connection only, and counts it.
EVERY_BROKER(max_frame_passes_and_one_byte_more_closes_only_that_client) {
  BrokerConfig c = config(broker, "improved");
  c.max_frame = 1024;
  Running b(broker, c);
  Clients subs = subscribers(b.port(), "/topic/t", 2);
  Client p(b.port(), "/null");
  p.publish("/topic/t", std::string(1024, 'x'));
  for (auto& s : subs) EXPECT_EQ(next_data(*s), std::string(1024, 'x'));

  Client bad_data(b.port(), "/null");
  bad_data.send_raw(frame("/topic/t") + frame(std::string(1025, 'y')));
  EXPECT_TRUE(bad_data.closed_by_peer());
  Client bad_channel(b.port());
  bad_channel.send_raw(frame(std::string(1025, '/')));
  EXPECT_TRUE(bad_channel.closed_by_peer());

  p.publish("/topic/t", "after");
  for (auto& s : subs) EXPECT_EQ(next_data(*s), "after");
  const auto s = b.stop();
  EXPECT_EQ(s.protocol_errors, 2);
  EXPECT_EQ(s.messages_in, 2 + 2);  // the syncs, the big one and "after"
  expect_all_closed(s);
}

// A frame cut off by a close, in the channel or in the data, is a close, not an error.
EVERY_BROKER(truncated_frame_then_close_is_a_plain_disconnect) {
  Running b(broker, config(broker, "improved"));
  {
    Client half_channel(b.port());
    half_channel.send_raw(frame("/topic/ok").substr(0, 6));
    Client half_data(b.port(), "/null");
    half_data.send_raw(frame("/topic/ok") + frame(std::string(100, 'z')).substr(0, 10));
  }
  traffic_flows(b.port());
  const auto s = b.stop();
  EXPECT_EQ(s.protocol_errors, 0);
  EXPECT_EQ(s.messages_in, 2);  // the sync and "still here"
  expect_all_closed(s);
}

// An empty channel frame ends the client's sends (SPEC §6, docs/fanout.md): every broker, in
// every design, delivers what came before it, closes that connection as a normal goodbye (no
// protocol error) and reads nothing after it. Every other client goes on.
EVERY_BROKER(empty_channel_frame_closes_that_client_as_a_goodbye) {
  for (const auto& design : broker.designs) {
    SCOPED_TRACE(design);
    Running b(broker, config(broker, design));
    Clients subs = subscribers(b.port(), "/topic/bye", 1);
    Client leaving(b.port(), "/null");
    leaving.send_raw(frame("/topic/bye") + frame("last words") + frame("") + frame("/topic/bye") + frame("never"));
    EXPECT_EQ(next_data(*subs[0]), "last words");
    EXPECT_TRUE(leaving.closed_by_peer());
    traffic_flows(b.port(), "/topic/after");
    const auto s = b.stop();
    EXPECT_EQ(s.protocol_errors, 0);
    EXPECT_EQ(s.messages_in, 1 + 1 + 2);  // the sync, "last words", then traffic_flows' sync and message
    EXPECT_EQ(s.deliveries, 1 + 1 + 2);
    expect_all_closed(s);
  }
}

EVERY_BROKER(random_bytes_hurt_nobody_else) {
  for (const auto& design : broker.designs) {
    SCOPED_TRACE(design);
    Running b(broker, config(broker, design));
    std::mt19937 rng(42);
    Clients stay;  // half close at once, half stay connected until the end
    for (int i = 0; i < 40; ++i) {
      auto c = std::make_unique<Client>(b.port());
      std::string junk(1 + rng() % 4096, '\0');
      for (char& ch : junk) ch = static_cast<char>(rng());
      if (i % 4 == 0) junk = frame("/null") + junk;  // a valid subscribe first, then garbage
      try {
        c->send_raw(junk);
      } catch (const std::runtime_error&) {  // the broker may close first
      }
      if (i % 2 == 0) stay.push_back(std::move(c));
    }
    traffic_flows(b.port());
    const auto s = b.stop();
    EXPECT_GT(s.protocol_errors, 0);
    EXPECT_EQ(s.accepted, 42);
    expect_all_closed(s);
  }
}

// A client that connects and never sends holds nothing up, not even the shutdown.
EVERY_BROKER(silent_client_holds_nothing_up) {
  Running b(broker, config(broker, "improved"));
  Client silent(b.port());
  traffic_flows(b.port());
  const auto s = b.stop();
  EXPECT_TRUE(silent.closed_by_peer());
  EXPECT_EQ(s.accepted, 3);
  EXPECT_EQ(s.subscribers, 2);
  expect_all_closed(s);
}

EVERY_BROKER(thousand_connect_disconnect_cycles_then_traffic) {
  Running b(broker, config(broker, "improved"));
  for (int i = 0; i < 1000; ++i) {
    Client c(b.port());
    if (i % 2) c.subscribe("/topic/churn");
  }
  traffic_flows(b.port(), "/topic/churn");
  const auto s = b.stop();
  EXPECT_EQ(s.accepted, 1000 + 2);
  expect_all_closed(s);
}

// One subscriber stops reading while two keep up, message by message. With 64 KiB messages its
// socket buffers fill, then its queue: the policy applies to it alone.
static void slow_subscriber(const Broker& broker, const std::string& policy) {
  BrokerConfig c = config(broker, "improved");
  c.queue_depth = 8, c.slow_policy = parse_slow_policy(policy), c.flush_timeout_s = 0.2;
  Running b(broker, c);
  Clients subs = subscribers(b.port(), "/topic/big", 3);  // subs[0] never reads again
  Client p(b.port(), "/null");
  constexpr int n = 400;  // 25 MiB: far more than a silent reader's socket buffers hold
  for (int i = 0; i < n; ++i) {
    p.publish("/topic/big", payload("m", i, 64 * 1024));
    for (std::size_t j = 1; j < subs.size(); ++j) {
      const auto f = next_data(*subs[j]);
      ASSERT_TRUE(f) << "fast subscriber " << j << " lost message " << i;
      ASSERT_EQ(number(*f, 1), i);
    }
  }
  if (policy == "disconnect") {
    EXPECT_TRUE(subs[0]->closed_by_peer(5s));
  }
  const auto s = b.stop();
  EXPECT_EQ(s.messages_in, n + 3);
  EXPECT_EQ(s.closed, s.accepted);
  if (policy == "drop") {
    EXPECT_GT(s.dropped, 0);
    EXPECT_EQ(s.slow_disconnects, 0);
    // The slow queue, full when the flush time ran out; a threads writer may have written part
    // of the batch it holds.
    EXPECT_GT(s.unflushed, 0);
    if (broker.frees_room_per_frame)
      EXPECT_EQ(s.unflushed, static_cast<std::int64_t>(c.queue_depth));
    else
      EXPECT_LE(s.unflushed, static_cast<std::int64_t>(c.queue_depth));
    // Every copy is written, dropped or left unflushed.
    EXPECT_EQ(s.deliveries + s.dropped + s.unflushed, 3 * n + topic_sync_deliveries(3));
  } else {
    EXPECT_EQ(s.slow_disconnects, 1);
    EXPECT_EQ(s.dropped, 0);
    EXPECT_EQ(s.unflushed, 0);
  }
}
EVERY_BROKER(slow_subscriber_drop_policy_drops_for_it_alone) { slow_subscriber(broker, "drop"); }
EVERY_BROKER(slow_subscriber_disconnect_policy_closes_it_alone) { slow_subscriber(broker, "disconnect"); }

// naive: a subscriber that stops reading stalls the publisher and everyone else (the book's
// lesson); shutdown still wakes the stuck sender within the flush timeout.
SINGLE_LOOP_BROKERS(naive_slow_subscriber_stalls_everyone_until_shutdown) {
  BrokerConfig c = config(broker, "naive");
  c.flush_timeout_s = 0.2;
  Running b(broker, c);
  Clients subs = subscribers(b.port(), "/topic/firehose", 2);  // subs[1] never reads again
  Client p(b.port(), "/null");
  constexpr int n = 400;  // 25 MiB
  std::thread publisher([&p] {
    try {
      for (int i = 0; i < n; ++i) p.publish("/topic/firehose", payload("m", i, 64 * 1024));
    } catch (const std::runtime_error&) {  // the broker closed it at shutdown
    }
  });
  int got = 0;
  while (next_data(*subs[0], 500ms)) ++got;  // until the stall
  EXPECT_LT(got, n);
  const auto s = b.stop();
  publisher.join();
  EXPECT_EQ(s.closed, s.accepted);
}

// Shutdown flushes what is queued, closes everyone, and its counters are exactly what the
// clients did. improved: subscriber B reads nothing until the stop is signalled, so its queue
// holds most of the run when the broker is told to stop. naive: nothing is queued; both read
// in step. The publisher ends its sends (the empty channel, then end of stream), and the broker
// closes it.
static void graceful_shutdown(const Broker& broker, const std::string& design) {
  BrokerConfig c = config(broker, design);
  c.flush_timeout_s = 10;    // a bound, never reached: B drains as soon as it reads
  c.queue_bytes = 64 << 20;  // B's queue holds the whole run (12.5 MiB)
  Running b(broker, c);
  Clients subs = subscribers(b.port(), "/topic/g", 2);
  Client p(b.port(), "/null");
  const bool b_waits = design == "improved";
  constexpr int n = 200;
  constexpr std::size_t size = 64 * 1024;
  for (int i = 0; i < n; ++i) {
    p.publish("/topic/g", payload("m", i, size));
    for (std::size_t j = 0; j < (b_waits ? 1u : 2u); ++j) {
      const auto f = next_data(*subs[j]);  // once A has message i, the broker has read it
      ASSERT_TRUE(f);
      ASSERT_EQ(number(*f, 1), i);
    }
  }
  p.end();
  EXPECT_TRUE(p.closed_by_peer());
  b.signal_stop();
  if (b_waits)
    for (int i = 0; i < n; ++i) {
      const auto f = next_data(*subs[1]);
      ASSERT_TRUE(f) << "message " << i << " was not flushed";
      ASSERT_EQ(number(*f, 1), i);
    }
  for (auto& s : subs) EXPECT_TRUE(s->closed_by_peer());
  const auto s = b.join();
  EXPECT_EQ(s.accepted, 3);
  EXPECT_EQ(s.subscribers, 3);
  EXPECT_EQ(s.messages_in, n + 2);
  EXPECT_EQ(s.deliveries, 2 * n + topic_sync_deliveries(2));
  EXPECT_EQ(s.dropped + s.slow_disconnects + s.protocol_errors, 0);
  expect_all_closed(s);
  const auto sent = [](const std::string& f) { return static_cast<std::int64_t>(4 + f.size()); };
  EXPECT_EQ(s.bytes_in, 2 * (2 * sent("/topic/g") + sent("sync-0")) + sent("/null") +
                            n * (sent("/topic/g") + static_cast<std::int64_t>(4 + size)) + sent(""));
  EXPECT_EQ(s.bytes_out, 2 * n * static_cast<std::int64_t>(4 + size) + topic_sync_deliveries(2) * sent("sync-0"));
}
SINGLE_LOOP_BROKERS(naive_graceful_shutdown_counts_what_was_sent) { graceful_shutdown(broker, "naive"); }
EVERY_BROKER(improved_graceful_shutdown_flushes_and_counts_what_was_sent) { graceful_shutdown(broker, "improved"); }

// After the broker returns, the process has exactly the descriptors it had before: clients
// gone, refused, silent, or still connected with data pending at shutdown.
EVERY_BROKER(every_descriptor_is_closed_after_shutdown) {
  for (const auto& design : broker.designs) {
    SCOPED_TRACE(design);
    const int before = open_descriptors();
    {
      BrokerConfig c = config(broker, design);
      c.flush_timeout_s = 0.2, c.max_frame = 1024;
      Running b(broker, c);
      Clients subs = subscribers(b.port(), "/topic/fd", 2);  // subs[1] never reads again
      Client silent(b.port());
      {
        Client bad(b.port());
        bad.send_raw(frame(std::string(2000, 'x')));
        EXPECT_TRUE(bad.closed_by_peer());
        Client gone(b.port());
        gone.subscribe("/topic/fd");
      }
      Client p(b.port(), "/null");
      for (int i = 0; i < 50; ++i) p.publish("/topic/fd", std::string(900, 'd'));
      EXPECT_EQ(next_data(*subs[0]), std::string(900, 'd'));
      const auto s = b.stop();
      EXPECT_EQ(s.closed, s.accepted);
    }
    EXPECT_EQ(open_descriptors(), before);
  }
}

EVERY_BROKER(bad_configuration_and_busy_port_throw_before_listening) {
  // A design or policy no broker has is refused where its name is parsed, naming the valid ones.
  EXPECT_THROW(config(broker, "sloppy"), std::invalid_argument);
  EXPECT_THROW(parse_slow_policy("ignore"), std::invalid_argument);
  try {
    parse_design("sloppy");
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("naive, improved"), std::string::npos) << e.what();
  }
  BrokerConfig c = config(broker, "improved");
  c.queue_depth = 0;
  EXPECT_THROW((Running{broker, c}), std::invalid_argument);
  c = config(broker, "improved"), c.queue_bytes = 0;
  EXPECT_THROW((Running{broker, c}), std::invalid_argument);
  EXPECT_THROW(broker.run(config(broker, "improved"), Control{}), std::invalid_argument);  // no stop_fd
  if (broker.model == "asyncloop-mt") {
    c = config(broker, "naive");  // the book's prototype runs on one loop only
    EXPECT_THROW((Running{broker, c}), std::invalid_argument);
    c = config(broker, "improved"), c.loops = -1;
    EXPECT_THROW((Running{broker, c}), std::invalid_argument);
  }
  Running b(broker, config(broker, "improved"));
  c = config(broker, "improved"), c.port = b.port();
  EXPECT_THROW((Running{broker, c}), std::runtime_error);  // address in use: a std::system_error
}

// A subscriber that never reads, and messages far bigger than its socket buffers hold: its
// queue stops at queue_bytes (queue_depth, in messages, is far away), the rest is dropped and
// counted, and the one that keeps up gets everything.
EVERY_BROKER(queue_bytes_bounds_a_silent_subscriber) {
  BrokerConfig c = config(broker, "improved");
  c.queue_depth = 100'000, c.queue_bytes = 256 * 1024, c.flush_timeout_s = 0.2;
  Running b(broker, c);
  Clients subs = subscribers(b.port(), "/topic/bytes", 2);  // subs[0] never reads again
  Client p(b.port(), "/null");
  constexpr int n = 400;  // 25 MiB
  constexpr std::size_t size = 64 * 1024;
  for (int i = 0; i < n; ++i) {
    p.publish("/topic/bytes", payload("m", i, size));
    const auto f = next_data(*subs[1]);
    ASSERT_TRUE(f) << "message " << i;
    ASSERT_EQ(number(*f, 1), i);
  }
  const auto s = b.stop();
  EXPECT_GT(s.dropped, 0);
  EXPECT_EQ(s.slow_disconnects, 0);
  // Held when the flush time ran out: what fits in queue_bytes; in an event loop, one frame
  // more, partly written (only its unwritten rest counts against the bound).
  const auto fits = static_cast<std::int64_t>(c.queue_bytes / (4 + size));
  EXPECT_LE(s.unflushed, broker.frees_room_per_frame ? fits + 1 : fits);
  EXPECT_EQ(s.deliveries + s.dropped + s.unflushed, 2 * n + topic_sync_deliveries(2));
  EXPECT_EQ(s.closed, s.accepted);
}

// Six subscribers of a queue and two publishers (with two loops: spread over both): every job
// reaches exactly one subscriber, and each publisher's jobs arrive in order.
EVERY_BROKER(queue_delivers_each_message_exactly_once) {
  Running b(broker, config(broker, "improved"));
  Clients subs = subscribers(b.port(), "/queue/once", 6);
  Clients pubs = connect(b.port(), 2);
  constexpr int n = 500;
  for (auto& p : pubs) p->subscribe("/null");
  for (int i = 0; i < n; ++i)
    for (std::size_t k = 0; k < pubs.size(); ++k)
      pubs[k]->publish("/queue/once", payload(std::string(1, static_cast<char>('a' + k)), i, 32));
  std::vector<int> times_seen(2 * n, 0);
  std::vector<std::array<int, 2>> last(subs.size(), {-1, -1});
  int total = 0;
  for (const auto give_up = std::chrono::steady_clock::now() + 20s;
       total < 2 * n && std::chrono::steady_clock::now() < give_up;)
    for (std::size_t j = 0; j < subs.size(); ++j)
      while (auto f = next_data(*subs[j], 10ms)) {
        const int k = (*f)[0] - 'a', i = number(*f, 1);
        ++times_seen[static_cast<std::size_t>(k * n + i)], ++total;
        EXPECT_GT(i, last[j][static_cast<std::size_t>(k)]) << "out of order at subscriber " << j;
        last[j][static_cast<std::size_t>(k)] = i;
      }
  for (int j = 0; j < 2 * n; ++j) EXPECT_EQ(times_seen[static_cast<std::size_t>(j)], 1) << "job " << j;
  const auto s = b.stop();
  EXPECT_EQ(s.messages_in, 2 * n + 6);
  EXPECT_EQ(s.deliveries, 2 * n + 6);
  expect_all_closed(s);
}
