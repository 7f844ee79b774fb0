// The asyncloop broker in-process: fan-out, round-robin, hostile clients, slow subscribers,
// shutdown. Each test runs the broker on its own thread, on a free port, and stops it the way
// `tvl broker` does: a byte down a pipe.
//
// Built twice (tests/CMakeLists.txt): as fanout.asyncloop.* against one event loop, and with
// TVL_FANOUT_MT as fanout.asyncloop_mt.* against two (run_asyncloop_mt_broker, loops = 2), where
// the clients of one test land on both loops. The mt broker has the improved design only.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <memory>
#include <random>
#include <thread>

#include "scenarios/fanout.hpp"
#include "tests/fanout_client.hpp"

using namespace tvl::fanout;
using tvl::testing::Client;
using namespace std::chrono_literals;

#ifdef TVL_FANOUT_MT
#define TVL_MODEL asyncloop_mt
constexpr BrokerFn kRun = run_asyncloop_mt_broker;
constexpr int kLoops = 2;
const std::vector<std::string> kDesigns = {"improved"};
#else
#define TVL_MODEL asyncloop
constexpr BrokerFn kRun = run_asyncloop_broker;
constexpr int kLoops = 0;
const std::vector<std::string> kDesigns = {"naive", "improved"};
#endif

namespace {

// A broker on its own thread. The port comes back through Control::listening.
class Running {
 public:
  explicit Running(const BrokerConfig& c) {
    if (pipe(stop_) != 0) throw std::runtime_error("pipe failed");
    auto bound = port_promise_.get_future();
    thread_ = std::thread([this, c] {
      Control ctl;
      ctl.stop_fd = stop_[0];
      ctl.listening = [this](std::uint16_t p) { listening_ = true, port_promise_.set_value(p); };
      try {
        stats_ = kRun(c, ctl);
      } catch (...) {
        if (!listening_)
          port_promise_.set_exception(std::current_exception());
        else
          error_ = std::current_exception();
      }
    });
    if (bound.wait_for(10s) != std::future_status::ready) throw std::runtime_error("the broker never listened");
    try {
      port_ = bound.get();
    } catch (...) {
      thread_.join();
      close_pipe();
      throw;
    }
  }
  ~Running() {
    if (thread_.joinable()) stop_now();
  }

  std::uint16_t port() const { return port_; }

  // Tells the broker to stop and returns at once (it may still be flushing).
  void signal_stop() { [[maybe_unused]] const auto n = write(stop_[1], "x", 1); }

  // Waits for the broker to finish and returns its counters.
  BrokerStats join() {
    thread_.join();
    close_pipe();
    if (error_) std::rethrow_exception(error_);
    return stats_;
  }
  BrokerStats stop() { return signal_stop(), join(); }

 private:
  void stop_now() {
    signal_stop();
    thread_.join();
    close_pipe();
  }
  void close_pipe() {
    for (int& fd : stop_)
      if (fd >= 0) ::close(fd), fd = -1;
  }

  int stop_[2] = {-1, -1};
  std::promise<std::uint16_t> port_promise_;
  bool listening_ = false;  // only the broker's thread reads and writes it
  std::uint16_t port_ = 0;
  std::thread thread_;
  BrokerStats stats_;
  std::exception_ptr error_;
};

BrokerConfig config(const std::string& design) {
  BrokerConfig c;
  c.design = design;
  c.loops = kLoops;
  return c;
}

using Clients = std::vector<std::unique_ptr<Client>>;

Clients connect(std::uint16_t port, int n) {
  Clients out;
  for (int i = 0; i < n; ++i) out.push_back(std::make_unique<Client>(port));
  return out;
}

bool is_sync(const std::string& f) { return f.starts_with("sync-"); }

// The next frame that is not a sync (see subscribe_all), or nothing within the limit.
std::optional<std::string> next_data(Client& c, std::chrono::milliseconds limit = 2000ms) {
  for (;;) {
    auto f = c.read_frame(limit);
    if (!f || !is_sync(*f)) return f;
  }
}

// Subscribes the clients one after another, and returns once the broker has registered each:
// client i then publishes "sync-i" to the channel, and wherever that arrives, its subscribe
// frame (earlier on the same connection) has been handled. On a topic, client i's sync reaches
// clients 0..i (i + 1 deliveries); on a queue, one of them. next_data() skips syncs.
void subscribe_all(Clients& subs, const std::string& channel) {
  for (std::size_t i = 0; i < subs.size(); ++i) {
    const std::string sync = "sync-" + std::to_string(i);
    subs[i]->subscribe(channel);
    subs[i]->publish(channel, sync);
    bool seen = false;
    for (int round = 0; round < 200 && !seen; ++round)
      for (std::size_t j = 0; j <= i && !seen; ++j) seen = subs[j]->read_frame(10ms) == sync;
    ASSERT_TRUE(seen) << "subscription " << i << " to " << channel << " never confirmed";
  }
}

std::int64_t topic_sync_deliveries(std::int64_t k) { return k * (k + 1) / 2; }

std::string payload(const std::string& tag, int i, std::size_t size) {
  std::string p = tag + std::to_string(i) + ":";
  p.resize(std::max(size, p.size()), '.');
  return p;
}

// The message's number in a payload built by payload().
int number(const std::string& p, std::size_t tag_size) { return std::stoi(p.substr(tag_size)); }

void expect_all_closed(const BrokerStats& s) {
  EXPECT_EQ(s.closed, s.accepted);
  EXPECT_EQ(s.unflushed, 0);
}

// Two publishers to a topic with three subscribers: each subscriber gets every message, each
// publisher's in order (in the naive design the two readers take turns at every subscriber).
void topic_fanout(const std::string& design) {
  Running b(config(design));
  Clients subs = connect(b.port(), 3);
  subscribe_all(subs, "/topic/news");
  Client p1(b.port()), p2(b.port());
  p1.subscribe("/null"), p2.subscribe("/null");
  constexpr int n = 100;
  for (int i = 0; i < n; ++i) {
    p1.publish("/topic/news", payload("a", i, 100));
    p2.publish("/topic/news", payload("b", i, 100));
  }
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
  const auto s = b.stop();
  EXPECT_EQ(s.messages_in, 2 * n + 3);
  EXPECT_EQ(s.deliveries, 3 * 2 * n + topic_sync_deliveries(3));
  EXPECT_EQ(s.subscribers, 5);
  EXPECT_EQ(s.accepted, 5);
  expect_all_closed(s);
}

// Each message to exactly one subscriber, in turn.
void queue_round_robin(const std::string& design) {
  Running b(config(design));
  Clients subs = connect(b.port(), 3);
  subscribe_all(subs, "/queue/jobs");
  Client p(b.port());
  p.subscribe("/null");
  constexpr int n = 300;
  for (int i = 0; i < n; ++i) p.publish("/queue/jobs", payload("job", i, 16));
  std::vector<int> times_seen(n, 0), per_subscriber(subs.size(), 0), last(subs.size(), -1);
  int total = 0;
  for (int round = 0; round < 500 && total < n; ++round)
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

// One subscriber that stops reading, two that keep up; the publisher goes in step with the
// two, so only the slow one's socket buffers and queue can fill.
void slow_subscriber(const std::string& policy) {
  BrokerConfig c = config("improved");
  c.queue_depth = 4, c.slow_policy = policy, c.flush_timeout_s = 0.2;
  Running b(c);
  Clients subs = connect(b.port(), 3);  // subs[0] is the slow one
  subscribe_all(subs, "/topic/big");
  Client p(b.port());
  p.subscribe("/null");
  constexpr int n = 400;  // 25 MiB: more than the kernel buffers of one connection hold
  for (int i = 0; i < n; ++i) {
    p.publish("/topic/big", payload("m", i, 64 * 1024));
    for (std::size_t j = 1; j < subs.size(); ++j) {
      const auto f = next_data(*subs[j]);
      ASSERT_TRUE(f) << "fast subscriber " << j << " lost message " << i;
      ASSERT_EQ(number(*f, 1), i);
    }
  }
  if (policy == "disconnect") {
    EXPECT_TRUE(subs[0]->closed_by_peer());
  }
  const auto s = b.stop();
  EXPECT_EQ(s.messages_in, n + 3);
  EXPECT_EQ(s.closed, s.accepted);
  if (policy == "drop") {
    EXPECT_GT(s.dropped, 0);
    EXPECT_EQ(s.slow_disconnects, 0);
    EXPECT_EQ(s.unflushed, 4);  // the slow queue, full when the flush time ran out
    EXPECT_EQ(s.deliveries + s.dropped + s.unflushed, 3 * n + topic_sync_deliveries(3));
  } else {
    EXPECT_EQ(s.slow_disconnects, 1);
    EXPECT_EQ(s.dropped, 0);
    EXPECT_EQ(s.unflushed, 0);
  }
}

// Shutdown flushes what is queued, closes everyone, and its counters add up to what was sent.
// improved: subscriber B reads nothing until the stop is signalled, so its queue holds most of
// the run when the broker is told to stop. naive: nothing is queued; both read in step.
void graceful_shutdown(const std::string& design) {
  BrokerConfig c = config(design);
  c.flush_timeout_s = 10;    // a bound, never reached: B drains as soon as it reads
  c.queue_bytes = 64 << 20;  // B's queue holds the whole run (12.5 MiB)
  Running b(c);
  Clients subs = connect(b.port(), 2);
  subscribe_all(subs, "/topic/g");
  Client p(b.port());
  p.subscribe("/null");
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
  b.signal_stop();
  if (b_waits)
    for (int i = 0; i < n; ++i) {
      const auto f = next_data(*subs[1]);
      ASSERT_TRUE(f) << "message " << i << " was not flushed";
      ASSERT_EQ(number(*f, 1), i);
    }
  for (auto& s : subs) EXPECT_TRUE(s->closed_by_peer());
  EXPECT_TRUE(p.closed_by_peer());
  const auto s = b.join();
  EXPECT_EQ(s.accepted, 3);
  EXPECT_EQ(s.subscribers, 3);
  EXPECT_EQ(s.messages_in, n + 2);
  EXPECT_EQ(s.deliveries, 2 * n + topic_sync_deliveries(2));
  EXPECT_EQ(s.dropped, 0);
  expect_all_closed(s);
  const auto sent = [](const std::string& f) { return static_cast<std::int64_t>(4 + f.size()); };
  EXPECT_EQ(s.bytes_in, 2 * (2 * sent("/topic/g") + sent("sync-0")) + sent("/null") +
                            n * (sent("/topic/g") + static_cast<std::int64_t>(4 + size)));
  EXPECT_EQ(s.bytes_out, 2 * n * static_cast<std::int64_t>(4 + size) + topic_sync_deliveries(2) * sent("sync-0"));
}

// One subscriber, one publisher: a message goes through (the broker still works).
void traffic_flows(std::uint16_t port, const std::string& channel = "/topic/ok") {
  Clients subs = connect(port, 1);
  subscribe_all(subs, channel);
  Client p(port);
  p.subscribe("/null");
  p.publish(channel, "still here");
  EXPECT_EQ(next_data(*subs[0]), "still here");
}

int open_descriptors() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

}  // namespace

#ifndef TVL_FANOUT_MT
TEST(TVL_MODEL, naive_topic_reaches_every_subscriber_in_order) { topic_fanout("naive"); }
#endif
TEST(TVL_MODEL, improved_topic_reaches_every_subscriber_in_order) { topic_fanout("improved"); }
#ifndef TVL_FANOUT_MT
TEST(TVL_MODEL, naive_queue_is_round_robin) { queue_round_robin("naive"); }
#endif
TEST(TVL_MODEL, improved_queue_is_round_robin) { queue_round_robin("improved"); }

#ifndef TVL_FANOUT_MT
// naive: two publishers' readers write large messages to one subscriber at once. A write
// that the socket takes only in part must not let the other publisher's bytes in between.
TEST(TVL_MODEL, naive_publishers_take_turns_at_a_subscriber) {
  Running b(config("naive"));
  Clients subs = connect(b.port(), 1);
  subscribe_all(subs, "/topic/x");
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
#endif

// A subscriber that disappears mid-run is closed and forgotten; the others carry on.
void subscriber_killed(const std::string& design) {
  Running b(config(design));
  Clients subs = connect(b.port(), 2);
  subscribe_all(subs, "/topic/k");
  Client p(b.port());
  p.subscribe("/null");
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

#ifndef TVL_FANOUT_MT
TEST(TVL_MODEL, naive_subscriber_killed_mid_run) { subscriber_killed("naive"); }
#endif
TEST(TVL_MODEL, improved_subscriber_killed_mid_run) { subscriber_killed("improved"); }

TEST(TVL_MODEL, max_frame_passes_and_one_byte_more_closes_only_that_client) {
  BrokerConfig c = config("improved");
  c.max_frame = 1024;
  Running b(c);
  Clients subs = connect(b.port(), 1);
  subscribe_all(subs, "/topic/t");
  Client p(b.port());
  p.subscribe("/null");
  p.publish("/topic/t", std::string(1024, 'x'));
  EXPECT_EQ(next_data(*subs[0]), std::string(1024, 'x'));
  Client bad(b.port());
  bad.subscribe("/null");
  bad.send_raw(frame("/topic/t") + frame(std::string(1025, 'y')));
  EXPECT_TRUE(bad.closed_by_peer());
  p.publish("/topic/t", "after");
  EXPECT_EQ(next_data(*subs[0]), "after");
  const auto s = b.stop();
  EXPECT_EQ(s.protocol_errors, 1);
  EXPECT_EQ(s.messages_in, 3);
  expect_all_closed(s);
}

TEST(TVL_MODEL, truncated_frame_then_close_is_a_plain_disconnect) {
  Running b(config("improved"));
  {
    Client t(b.port());
    t.subscribe("/null");
    t.send_raw(frame("/topic/ok") + frame(std::string(100, 'z')).substr(0, 10));
  }
  traffic_flows(b.port());
  const auto s = b.stop();
  EXPECT_EQ(s.protocol_errors, 0);
  EXPECT_EQ(s.messages_in, 2);  // the sync and "still here"
  expect_all_closed(s);
}

TEST(TVL_MODEL, random_bytes_hurt_nobody_else) {
  for (const auto& design : kDesigns) {
    Running b(config(design));
    std::mt19937 rng(42);
    Clients stay;  // half close at once, half stay connected until the end
    for (int i = 0; i < 40; ++i) {
      auto c = std::make_unique<Client>(b.port());
      std::string junk(1 + rng() % 4096, '\0');
      for (char& ch : junk) ch = static_cast<char>(rng());
      if (i % 4 == 0) junk = frame("/null") + junk;  // a valid subscribe first, then garbage
      c->send_raw(junk);
      if (i % 2 == 0) stay.push_back(std::move(c));
    }
    traffic_flows(b.port());
    const auto s = b.stop();
    EXPECT_GT(s.protocol_errors, 0) << design;
    EXPECT_EQ(s.accepted, 42) << design;
    expect_all_closed(s);
  }
}

TEST(TVL_MODEL, silent_client_holds_nothing_up) {
  Running b(config("improved"));
  Client silent(b.port());
  traffic_flows(b.port());
  const auto s = b.stop();
  EXPECT_TRUE(silent.closed_by_peer());
  EXPECT_EQ(s.accepted, 3);
  EXPECT_EQ(s.subscribers, 2);
  expect_all_closed(s);
}

TEST(TVL_MODEL, thousand_connect_disconnect_cycles_then_traffic) {
  Running b(config("improved"));
  for (int i = 0; i < 1000; ++i) {
    Client c(b.port());
    if (i % 2) c.subscribe("/topic/churn");
  }
  traffic_flows(b.port(), "/topic/churn");
  const auto s = b.stop();
  EXPECT_EQ(s.accepted, 1002);
  expect_all_closed(s);
}

TEST(TVL_MODEL, slow_subscriber_drop_policy_drops_for_it_alone) { slow_subscriber("drop"); }
TEST(TVL_MODEL, slow_subscriber_disconnect_policy_closes_it_alone) { slow_subscriber("disconnect"); }
#ifndef TVL_FANOUT_MT
TEST(TVL_MODEL, naive_graceful_shutdown_counts_what_was_sent) { graceful_shutdown("naive"); }
#endif
TEST(TVL_MODEL, improved_graceful_shutdown_flushes_and_counts_what_was_sent) { graceful_shutdown("improved"); }

TEST(TVL_MODEL, every_descriptor_is_closed_after_shutdown) {
  for (const auto& design : kDesigns) {
    const int before = open_descriptors();
    {
      Running b(config(design));
      Client silent(b.port()), bad(b.port());
      bad.send_raw(std::string(8, '\xff'));
      traffic_flows(b.port());
      EXPECT_TRUE(bad.closed_by_peer());
      b.stop();
    }
    EXPECT_EQ(open_descriptors(), before) << design;
  }
}

TEST(TVL_MODEL, bad_configuration_and_busy_port_throw_before_listening) {
  BrokerConfig c = config("sloppy");
  EXPECT_THROW(Running{c}, std::invalid_argument);
  c = config("improved"), c.slow_policy = "ignore";
  EXPECT_THROW(Running{c}, std::invalid_argument);
  c = config("improved"), c.queue_bytes = 0;
  EXPECT_THROW(Running{c}, std::invalid_argument);
#ifdef TVL_FANOUT_MT
  c = config("naive");  // the book's prototype runs on one loop only
  EXPECT_THROW(Running{c}, std::invalid_argument);
#endif
  Running b(config("improved"));
  c = config("improved"), c.port = b.port();
  EXPECT_THROW(Running{c}, std::runtime_error);  // address in use: a boost::system::system_error
}

// A subscriber that never reads, and messages far bigger than its socket buffers hold: its
// queue stops at queue_bytes (queue_depth, in messages, is far away), the rest is dropped and
// counted, and the one that keeps up gets everything.
TEST(TVL_MODEL, queue_bytes_bounds_a_silent_subscriber) {
  BrokerConfig c = config("improved");
  c.queue_depth = 100'000, c.queue_bytes = 256 * 1024, c.flush_timeout_s = 0.2;
  Running b(c);
  Clients subs = connect(b.port(), 2);  // subs[0] stops reading once subscribed
  subscribe_all(subs, "/topic/bytes");
  Client p(b.port());
  p.subscribe("/null");
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
  // Queued when the flush time ran out: what fits in queue_bytes, and one frame partly written.
  EXPECT_LE(s.unflushed, static_cast<std::int64_t>(c.queue_bytes / (4 + size) + 1));
  EXPECT_EQ(s.deliveries + s.dropped + s.unflushed, 2 * n + topic_sync_deliveries(2));
  EXPECT_EQ(s.closed, s.accepted);
}

// Six subscribers of a queue and two publishers (with two loops: spread over both): every job
// reaches exactly one subscriber, and each publisher's jobs arrive in order.
TEST(TVL_MODEL, queue_delivers_each_message_exactly_once) {
  Running b(config("improved"));
  Clients subs = connect(b.port(), 6);
  subscribe_all(subs, "/queue/once");
  Clients pubs = connect(b.port(), 2);
  constexpr int n = 500;
  for (auto& p : pubs) p->subscribe("/null");
  for (int i = 0; i < n; ++i)
    for (std::size_t k = 0; k < pubs.size(); ++k)
      pubs[k]->publish("/queue/once", payload(std::string(1, static_cast<char>('a' + k)), i, 32));
  std::vector<int> times_seen(2 * n, 0);
  int total = 0;
  for (int round = 0; round < 500 && total < 2 * n; ++round)
    for (auto& sub : subs) {
      int last[2] = {-1, -1};
      while (auto f = next_data(*sub, 10ms)) {
        const int k = (*f)[0] - 'a', i = number(*f, 1);
        ++times_seen[static_cast<std::size_t>(k * n + i)], ++total;
        EXPECT_GT(i, last[k]) << "out of order";
        last[k] = i;
      }
    }
  for (int j = 0; j < 2 * n; ++j) EXPECT_EQ(times_seen[static_cast<std::size_t>(j)], 1) << "job " << j;
  const auto s = b.stop();
  EXPECT_EQ(s.messages_in, 2 * n + 6);
  EXPECT_EQ(s.deliveries, 2 * n + 6);
  expect_all_closed(s);
}
