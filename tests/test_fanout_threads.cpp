// The threaded broker (threads/fanout.cpp) over real sockets: the protocol under both designs,
// the slow-subscriber policies, hostile clients, and a shutdown that leaves nothing behind.
// Each test runs the broker in-process on a free port and stops it by writing to a pipe, as
// `tvl broker` does on SIGTERM. No test depends on timing; every wait has a bound.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <memory>
#include <random>
#include <set>
#include <thread>

#include "scenarios/fanout.hpp"
#include "tests/fanout_client.hpp"

using namespace tvl::fanout;
using namespace std::chrono_literals;
using tvl::testing::Client;

namespace {

// A broker on its own thread, on a port of its own, until stop().
class Running {
 public:
  explicit Running(BrokerConfig c) {
    c.model = "threads";
    if (pipe2(stop_, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    ctl_.stop_fd = stop_[0];
    ctl_.listening = [this](std::uint16_t port) { bound_.set_value(port); };
    auto port = bound_.get_future();
    thread_ = std::thread([this, c] {
      try {
        stats_ = run_threads_broker(c, ctl_);
      } catch (...) {
        error_ = std::current_exception();
        try {
          bound_.set_exception(error_);
        } catch (const std::future_error&) {  // it was already listening
        }
      }
    });
    try {
      if (port.wait_for(10s) == std::future_status::ready) port_ = port.get();
    } catch (...) {  // the broker failed: rethrown below
    }
    if (port_ == 0) {  // it failed, or hangs: stop it and say why
      halt();
      ::close(stop_[0]), ::close(stop_[1]);
      if (error_) std::rethrow_exception(error_);
      throw std::runtime_error("the broker did not start listening");
    }
  }
  Running(const Running&) = delete;
  ~Running() {
    halt();
    ::close(stop_[0]), ::close(stop_[1]);
  }

  std::uint16_t port() const { return port_; }

  BrokerStats stop() {
    halt();
    if (error_) std::rethrow_exception(error_);
    return stats_;
  }

 private:
  void halt() {
    if (!thread_.joinable()) return;
    [[maybe_unused]] const auto n = ::write(stop_[1], "x", 1);
    thread_.join();
  }

  int stop_[2] = {-1, -1};
  Control ctl_;
  std::promise<std::uint16_t> bound_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  BrokerStats stats_;
  std::exception_ptr error_;
};

BrokerConfig config(const char* design) {
  BrokerConfig c;
  c.design = design;
  c.flush_timeout_s = 0.5;
  return c;
}

int open_fds() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// n subscribers whose subscriptions the broker surely holds. Subscriber k then publishes
// "probe-k" to its own channel: a connection's frames are handled in order, so whoever
// receives probe-k proves that subscriber k is registered. Probe j reaches j+1 subscribers
// of a topic and one of a queue.
std::vector<std::unique_ptr<Client>> subscribers(std::uint16_t port, const std::string& channel, int n) {
  std::vector<std::unique_ptr<Client>> subs;
  for (int k = 0; k < n; ++k) {
    subs.push_back(std::make_unique<Client>(port));
    subs.back()->subscribe(channel);
    const std::string probe = "probe-" + std::to_string(k);
    subs.back()->publish(channel, probe);
    bool seen = false;
    const auto give_up = std::chrono::steady_clock::now() + 20s;  // a sanitizer build starts threads slowly
    while (!seen && std::chrono::steady_clock::now() < give_up)
      for (auto& s : subs)
        if (const auto f = s->read_frame(20ms); f && *f == probe) {
          seen = true;
          break;
        }
    if (!seen) throw std::runtime_error("subscription " + std::to_string(k) + " to " + channel + " not confirmed");
  }
  return subs;
}

// The next frame that is not a probe.
std::optional<std::string> next_data(Client& c, std::chrono::milliseconds limit = 5s) {
  for (;;)
    if (auto f = c.read_frame(limit); !f || !f->starts_with("probe-")) return f;
}

// Traffic still flows: a fresh subscriber gets a fresh message.
void still_works(std::uint16_t port) {
  auto subs = subscribers(port, "/topic/alive", 1);
  Client pub(port);
  pub.subscribe("/null");
  pub.publish("/topic/alive", "still here");
  EXPECT_EQ(next_data(*subs[0]), "still here");
}

void every_connection_closed(const BrokerStats& s) {
  EXPECT_GT(s.accepted, 0);
  EXPECT_EQ(s.closed, s.accepted);
}

}  // namespace

// Topics: every subscriber gets every message, in order; another channel's subscriber gets none.
TEST(threads, topic_fans_out_every_message_in_order) {
  for (const char* design : {"naive", "improved"}) {
    SCOPED_TRACE(design);
    Running broker(config(design));
    auto subs = subscribers(broker.port(), "/topic/news", 3);
    auto other = subscribers(broker.port(), "/topic/other", 1);
    Client pub(broker.port());
    pub.subscribe("/null");
    for (int i = 0; i < 200; ++i) pub.publish("/topic/news", "m" + std::to_string(i));
    pub.publish("/topic/other", "only this");
    for (auto& s : subs)
      for (int i = 0; i < 200; ++i) ASSERT_EQ(next_data(*s), "m" + std::to_string(i));
    EXPECT_EQ(next_data(*other[0]), "only this");
    every_connection_closed(broker.stop());
  }
}

// Queues: each message to exactly one subscriber, round-robin, so evenly spread.
TEST(threads, queue_round_robins_each_message_to_one_subscriber) {
  for (const char* design : {"naive", "improved"}) {
    SCOPED_TRACE(design);
    Running broker(config(design));
    auto subs = subscribers(broker.port(), "/queue/jobs", 3);
    Client pub(broker.port());
    pub.subscribe("/null");
    for (int i = 0; i < 300; ++i) pub.publish("/queue/jobs", std::to_string(i));
    std::set<int> seen;
    for (auto& s : subs) {
      int last = -1;
      for (int got = 0; got < 100; ++got) {  // round-robin: exactly a third each
        const auto f = next_data(*s);
        ASSERT_TRUE(f);
        const int i = std::stoi(*f);
        EXPECT_GT(i, last);  // in order within one subscriber
        EXPECT_TRUE(seen.insert(last = i).second) << "message " << i << " delivered twice";
      }
    }
    EXPECT_EQ(seen.size(), 300u);
    every_connection_closed(broker.stop());
  }
}

// A frame of exactly max_frame passes; max_frame + 1 closes that connection only, and counts it.
TEST(threads, max_frame_passes_and_one_more_byte_closes_that_connection) {
  BrokerConfig c = config("improved");
  c.max_frame = 1024;
  Running broker(c);
  auto subs = subscribers(broker.port(), "/topic/big", 2);
  Client pub(broker.port());
  pub.subscribe("/null");
  pub.publish("/topic/big", std::string(1024, 'x'));
  for (auto& s : subs) EXPECT_EQ(next_data(*s), std::string(1024, 'x'));

  Client bad_data(broker.port());
  bad_data.subscribe("/null");
  bad_data.send_raw(frame("/topic/big") + frame(std::string(1025, 'y')));
  EXPECT_TRUE(bad_data.closed_by_peer());
  Client bad_channel(broker.port());
  bad_channel.send_raw(frame(std::string(1025, '/')));
  EXPECT_TRUE(bad_channel.closed_by_peer());

  pub.publish("/topic/big", "after");
  for (auto& s : subs) EXPECT_EQ(next_data(*s), "after");
  const BrokerStats s = broker.stop();
  EXPECT_EQ(s.protocol_errors, 2);
  every_connection_closed(s);
}

TEST(threads, truncated_frame_then_close_is_just_a_close) {
  Running broker(config("improved"));
  {
    Client half_channel(broker.port());
    half_channel.send_raw(frame("/topic/t").substr(0, 6));
    Client half_data(broker.port());
    half_data.subscribe("/null");
    half_data.send_raw(frame("/topic/t") + frame("data").substr(0, 5));
  }
  still_works(broker.port());
  const BrokerStats s = broker.stop();
  EXPECT_EQ(s.protocol_errors, 0);
  every_connection_closed(s);
}

TEST(threads, random_bytes_never_crash_it) {
  Running broker(config("improved"));
  std::mt19937 rng(42);
  for (int i = 0; i < 20; ++i) {
    std::string junk(std::uniform_int_distribution<std::size_t>(1, 4096)(rng), '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    Client client(broker.port());
    try {
      client.send_raw(junk);
    } catch (const std::runtime_error&) {  // the broker may close first
    }
  }
  still_works(broker.port());
  every_connection_closed(broker.stop());
}

// A client that connects and never sends holds nothing up, not even the shutdown.
TEST(threads, silent_client_holds_nothing_up) {
  Running broker(config("improved"));
  Client silent(broker.port());
  still_works(broker.port());
  every_connection_closed(broker.stop());
  EXPECT_TRUE(silent.closed_by_peer());
}

TEST(threads, thousand_connect_disconnect_cycles_then_traffic) {
  Running broker(config("improved"));
  for (int i = 0; i < 1000; ++i) {
    Client c(broker.port());
    if (i % 2 == 0) c.subscribe("/topic/churn");
  }
  still_works(broker.port());
  const BrokerStats s = broker.stop();
  EXPECT_EQ(s.accepted, 1000 + 2);
  every_connection_closed(s);
}

// One subscriber stops reading while two keep up, message by message. With 64 KiB messages its
// socket buffers fill, then its queue of 8: the policy applies to it alone.
BrokerStats slow_subscriber(const char* policy, int messages) {
  BrokerConfig c = config("improved");
  c.queue_depth = 8, c.slow_policy = policy, c.flush_timeout_s = 0.2;
  Running broker(c);
  auto subs = subscribers(broker.port(), "/topic/firehose", 3);  // subs[2] never reads again
  Client pub(broker.port());
  pub.subscribe("/null");
  const std::string padding(64 * 1024, 'p');
  for (int i = 0; i < messages; ++i) {
    pub.publish("/topic/firehose", std::to_string(i) + ":" + padding);
    for (int k = 0; k < 2; ++k) {
      const auto f = next_data(*subs[static_cast<std::size_t>(k)]);
      EXPECT_TRUE(f && f->starts_with(std::to_string(i) + ":")) << "subscriber " << k << ", message " << i;
      if (!f) return broker.stop();
    }
  }
  if (std::string(policy) == "disconnect") {
    EXPECT_TRUE(subs[2]->closed_by_peer(5s));
  }
  return broker.stop();
}

constexpr int kFirehose = 400;  // 25 MiB: far more than a silent reader's socket buffers hold

TEST(threads, slow_subscriber_drop_policy_drops_for_it_alone) {
  const BrokerStats s = slow_subscriber("drop", kFirehose);
  EXPECT_GT(s.dropped, 0);
  EXPECT_EQ(s.slow_disconnects, 0);
  EXPECT_GT(s.unflushed, 0);  // its writer is stuck mid-batch when the flush timeout ends
  // Every copy is written, dropped or left unflushed; the probes went to 1 + 2 + 3 subscribers.
  EXPECT_EQ(s.deliveries + s.dropped + s.unflushed, 3 * kFirehose + 6);
  every_connection_closed(s);
}

TEST(threads, slow_subscriber_disconnect_policy_disconnects_it_alone) {
  const BrokerStats s = slow_subscriber("disconnect", kFirehose);
  EXPECT_EQ(s.slow_disconnects, 1);
  EXPECT_EQ(s.dropped, 0);
  every_connection_closed(s);
}

// Naive: a subscriber that stops reading stalls the publisher and everyone else (the book's
// lesson); shutdown still wakes the stuck sender within the flush timeout.
TEST(threads, naive_slow_subscriber_stalls_everyone_until_shutdown) {
  BrokerConfig c = config("naive");
  c.flush_timeout_s = 0.2;
  Running broker(c);
  auto subs = subscribers(broker.port(), "/topic/firehose", 2);  // subs[1] never reads again
  Client pub(broker.port());
  pub.subscribe("/null");
  std::thread publisher([&pub] {
    const std::string padding(64 * 1024, 'p');
    try {
      for (int i = 0; i < kFirehose; ++i) pub.publish("/topic/firehose", padding);
    } catch (const std::runtime_error&) {  // the broker closed it at shutdown
    }
  });
  int got = 0;
  while (next_data(*subs[0], 500ms)) ++got;  // until the stall
  EXPECT_LT(got, kFirehose);
  const BrokerStats s = broker.stop();
  publisher.join();
  every_connection_closed(s);
}

// Graceful shutdown: the counters are exactly what the clients did.
TEST(threads, graceful_shutdown_counters_match_the_traffic) {
  for (const char* design : {"naive", "improved"}) {
    SCOPED_TRACE(design);
    Running broker(config(design));
    const std::string topic = "/topic/count";
    auto subs = subscribers(broker.port(), topic, 2);
    std::int64_t in = 0, out = 0;
    for (int k = 0; k < 2; ++k) {
      const std::string probe = "probe-" + std::to_string(k);
      in += 3 * 4 + 2 * static_cast<std::int64_t>(topic.size()) + static_cast<std::int64_t>(probe.size());
      out += (k + 1) * (4 + static_cast<std::int64_t>(probe.size()));
    }
    Client pub(broker.port());
    pub.subscribe("/null");
    in += 4 + 5;
    constexpr int kMessages = 100;
    for (int i = 0; i < kMessages; ++i) {
      const std::string m = "msg-" + std::to_string(i);
      pub.publish(topic, m);
      in += 8 + static_cast<std::int64_t>(topic.size() + m.size());
      out += 2 * (4 + static_cast<std::int64_t>(m.size()));
    }
    for (auto& sub : subs)
      for (int i = 0; i < kMessages; ++i) ASSERT_EQ(next_data(*sub), "msg-" + std::to_string(i));
    pub.send_raw(frame(""));  // the empty channel ends its sends: the broker closes it
    in += 4;
    EXPECT_TRUE(pub.closed_by_peer());

    const BrokerStats s = broker.stop();
    EXPECT_EQ(s.accepted, 3);
    EXPECT_EQ(s.closed, 3);
    EXPECT_EQ(s.subscribers, 3);
    EXPECT_EQ(s.messages_in, kMessages + 2);
    EXPECT_EQ(s.deliveries, 2 * kMessages + 1 + 2);
    EXPECT_EQ(s.bytes_in, in);
    EXPECT_EQ(s.bytes_out, out);
    EXPECT_EQ(s.dropped + s.slow_disconnects + s.protocol_errors + s.unflushed, 0);
    for (auto& sub : subs) EXPECT_TRUE(sub->closed_by_peer());
  }
}

// After the broker returns, the process has exactly the descriptors it had before: clients
// gone, slow, silent or still connected at shutdown.
TEST(threads, closes_every_descriptor) {
  for (const char* design : {"naive", "improved"}) {
    SCOPED_TRACE(design);
    const int before = open_fds();
    {
      BrokerConfig c = config(design);
      c.flush_timeout_s = 0.2, c.max_frame = 1024;
      Running broker(c);
      auto subs = subscribers(broker.port(), "/topic/fd", 2);
      Client silent(broker.port());
      {
        Client bad(broker.port());
        bad.send_raw(frame(std::string(2000, 'x')));
        EXPECT_TRUE(bad.closed_by_peer());
        Client gone(broker.port());
        gone.subscribe("/topic/fd");
      }
      Client pub(broker.port());
      pub.subscribe("/null");
      for (int i = 0; i < 50; ++i) pub.publish("/topic/fd", std::string(900, 'd'));
      EXPECT_EQ(next_data(*subs[0]), std::string(900, 'd'));
      every_connection_closed(broker.stop());
    }
    EXPECT_EQ(open_fds(), before);
  }
}

TEST(threads, unknown_design_or_policy_is_refused) {
  BrokerConfig c = config("clever");
  EXPECT_THROW(run_threads_broker(c, Control{}), std::invalid_argument);
  c = config("improved");
  c.slow_policy = "ignore";
  EXPECT_THROW(run_threads_broker(c, Control{}), std::invalid_argument);
  EXPECT_THROW(run_threads_broker(config("improved"), Control{}), std::invalid_argument);  // no stop_fd
  c = config("improved");
  c.queue_bytes = 0;
  EXPECT_THROW(run_threads_broker(c, Control{}), std::invalid_argument);
}

// A subscriber that never reads, and messages far bigger than its socket buffers hold: its
// queue stops at queue_bytes (queue_depth, in messages, is far away), the rest is dropped and
// counted, and the one that keeps up gets everything.
TEST(threads, queue_bytes_bounds_a_silent_subscriber) {
  BrokerConfig c = config("improved");
  c.queue_depth = 100'000, c.queue_bytes = 256 * 1024, c.flush_timeout_s = 0.2;
  Running broker(c);
  auto subs = subscribers(broker.port(), "/topic/bytes", 2);  // subs[1] never reads again
  Client pub(broker.port());
  pub.subscribe("/null");
  constexpr int n = 400;  // 25 MiB
  const std::string padding(64 * 1024, 'p');
  for (int i = 0; i < n; ++i) {
    pub.publish("/topic/bytes", std::to_string(i) + ":" + padding);
    const auto f = next_data(*subs[0]);
    ASSERT_TRUE(f && f->starts_with(std::to_string(i) + ":")) << "message " << i;
  }
  const BrokerStats s = broker.stop();
  EXPECT_GT(s.dropped, 0);
  EXPECT_EQ(s.slow_disconnects, 0);
  // Held when the flush time ran out (buffered, or in the writer's hands): what queue_bytes allows.
  const auto frame = static_cast<std::int64_t>(4 + 4 + padding.size());  // at most "399:" + padding
  EXPECT_LE(s.unflushed * (frame - 3), static_cast<std::int64_t>(c.queue_bytes));
  EXPECT_EQ(s.deliveries + s.dropped + s.unflushed, 2 * n + 3);  // the probes went to 1 + 2 subscribers
  every_connection_closed(s);
}
