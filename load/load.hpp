// Inside the fan-out load generator (load/loadgen.hpp is its interface): the state one run
// shares between its files.
//
//   conductor.cpp   start the load threads, confirm the subscriptions, run the schedule, drain, stop
//   subscriber.cpp  read each subscriber's socket, date each receipt, check every delivery
//   publisher.cpp   the open-loop schedule, sent in gathered writes
//   verify.cpp      merge what the threads counted; counts that cannot be true
//
// Load threads, an io_context each, share the connections round-robin; the conductor (the
// caller's thread) talks to them only by posting to their io_contexts and through a few counters
// that change once per connection, batch or read, never per message.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "load/loadgen.hpp"
#include "load/wire.hpp"
#include "measure/histogram.hpp"
#include "measure/metrics.hpp"
#include "measure/thread_time.hpp"

namespace tvl::load::detail {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

inline constexpr std::uint32_t kProbe = 0xFFFFFFFF;     // publisher id of the subscription probes
inline constexpr std::size_t kBatchBytes = 256 * 1024;  // one publisher write carries at most this much
inline constexpr std::size_t kMaxReadChunk = 65536;     // one read takes at most this much
inline constexpr std::size_t kMinReadChunk = 4096;
inline constexpr std::size_t kReadBuffers = std::size_t{64}
                                            << 20;  // all subscribers' buffers, unless messages are longer

// Before the schedule starts, publisher 0 probes the subscriptions (a message to every
// subscriber) this often: every 5 ms, less often where that would make more than 20,000
// deliveries a second. On loopback a delivery costs the sender some 10 us of kernel time at
// 10,000 subscribers (the receiver's ACK is processed on its CPU), so at 100,000 deliveries a
// second the probes alone took the whole core of a one-core broker, and it accepted the last
// subscribers' connections seconds late. At 20,000 a second they take about a fifth of it.
inline constexpr auto kProbeEveryAtLeast = std::chrono::milliseconds(5);
inline constexpr double kProbeDeliveriesPerSecond = 20'000;
inline Clock::duration probe_every(int subscribers) {
  const auto by_rate = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(subscribers / kProbeDeliveriesPerSecond));
  return std::max<Clock::duration>(kProbeEveryAtLeast, by_rate);
}

// At most this many connections are made and not yet confirmed (a subscriber that received a
// probe or its subscription's reply, an echo connection answered): the rest wait their turn. A
// server slower to accept than the load connects would otherwise overflow its listen backlog
// (somaxconn, 4,096 here): the kernel drops the SYNs of the rest and retries them 1, 3, 7, 15,
// 31 s later, so that a threaded broker on one core confirmed 9,855 of 10,000 subscriptions in
// 40 s. One opener per load thread starts its connections in turn, polling the window.
inline constexpr std::int64_t kConnectWindow = 2'000;
inline constexpr auto kConnectPoll = std::chrono::milliseconds(1);

inline Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

struct Worker;
struct Sub;

struct Pub {
  Worker* w = nullptr;
  tcp::socket* socket = nullptr;
  asio::steady_timer* timer = nullptr;     // while the publisher waits on it
  std::atomic<std::int64_t> published{0};  // messages written (stored once per batch)
};

// One load thread's share: its io_context and connections, and everything it counts. While it
// runs only its own thread touches the tallies; the conductor posts to its io_context, and
// reads the tallies once the thread has been joined.
struct Worker {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(io);
  std::deque<tcp::socket> sockets;  // every connection (stable addresses), closed at the end
  std::vector<Pub*> pubs;
  // The subscribers' sockets, in an epoll set of this thread's own: one wake-up of the
  // io_context hands over every subscriber that has something to read (subscriber.cpp).
  std::optional<asio::posix::stream_descriptor> ready;
  Clock::time_point t0;
  bool go = false, stop_publishing = false, stopping = false;
  std::int64_t delivered = 0, gaps = 0, duplicates_or_reordered = 0, last_delivery_ns = 0;
  Histogram from_intended_ns, from_sent_ns, user_from_intended_ns;
  std::int64_t unstamped = 0;             // deliveries whose read carried no kernel stamp
  std::vector<std::vector<bool>> seen;    // queue channels: per publisher, which seq arrived here
  std::vector<std::uint64_t> queue_next;  // queue channels: per publisher, the highest seq + 1
  std::int64_t late = 0;                  // deliveries later than Params::late_ns
  // `delivered` less `duplicates_or_reordered`, stored once per read: a broker that delivers twice
  // must not end the drain before every message arrived once
  alignas(64) std::atomic<std::int64_t> distinct_so_far{0};
  std::atomic<std::int64_t> late_so_far{0};  // `late`, stored once per read
  metrics::ThreadTime at_go, at_sent, at_end;
  std::exception_ptr error;
  std::thread thread;
};

struct alignas(64) Sub {  // aligned: subscribers side by side belong to different threads
  Worker* w = nullptr;
  tcp::socket* socket = nullptr;        // once connected and subscribed
  std::vector<std::uint64_t> next_seq;  // per publisher: the sequence number expected next
  std::int64_t received = 0;
  bool confirmed = false;
  // The read buffer: a message cut short by the end of a read waits at its front for its rest.
  std::unique_ptr<char[]> buf;
  std::size_t size = 0, kept = 0;
};

// When one read's bytes arrived, in ns since t0 on the steady clock: as the kernel stamped them
// (the user time when it did not), and as the generator read them.
struct Receipt {
  std::int64_t kernel_ns = 0, user_ns = 0;
  bool stamped = false;
};

class Load {
 public:
  explicit Load(const Params& p);
  Result run();  // conductor.cpp

 private:
  struct Failed {};  // a load thread failed: its error is rethrown once every thread has stopped

  // conductor.cpp
  template <typename Awaitable>
  void spawn(Worker& w, Awaitable a);
  void fail(Worker& w, std::exception_ptr e);
  template <typename F>
  void on_each(F f);
  template <typename F>
  bool wait_until(F done, Clock::time_point deadline);
  void conduct(Result& r);
  void confirm_subscriptions(Result& r);
  Clock::time_point start_schedule();
  void finish_publishing(Result& r, Clock::time_point t0);
  void wait_for_deliveries(Result& r);
  void read_broker_usage(Result& r, const std::optional<metrics::Usage>& before) const;
  void finish();
  asio::awaitable<void> opener(Worker& w, std::vector<std::function<void()>> starts);

  // subscriber.cpp
  asio::awaitable<tcp::socket*> connect(Worker& w, bool stamped);
  void confirm(Sub& sub);
  void on_message(Sub& sub, std::string_view payload, const Receipt& at);
  std::size_t take(Sub& sub, std::string_view data, const Receipt& at);
  asio::awaitable<void> subscriber(Sub& sub);
  void watch(Sub& sub, tcp::socket& s);
  asio::awaitable<void> read_ready(Worker& w);
  bool drain(Sub& sub);
  asio::awaitable<void> slow_subscriber(Worker& w);
  std::string subscribe_request() const;

  // publisher.cpp
  // Publisher j's message `seq` is meant to go at t0 + (seq + phase(j)) / its rate. On an echo
  // server the connections' schedules are staggered (phase j / publishers), so that C clients
  // send one request every 1 / rate between them rather than C at once every C / rate: the
  // server is judged on the rate, not on bursts as wide as the connection count. The fan-out's
  // publishers all start at 0.
  double phase(int j) const;
  std::int64_t intended_ns(std::int64_t seq, int j) const;
  std::int64_t due_by(std::int64_t now_ns, int j) const;  // messages of publisher j meant to go by now_ns
  asio::awaitable<void> publisher(Pub& pub, int j);
  asio::awaitable<void> probe_until_go(Pub& pub, int j, std::string& batch, asio::steady_timer& timer);
  asio::awaitable<void> discard_replies(tcp::socket& s);
  bool connecting_blocked() const;

  // verify.cpp
  void tally(Result& r);
  std::string impossible(const Result& r) const;

  const Params& p_;
  // resp_: redis-server's RESP. lines_: an echo server's lines, where every connection both
  // sends (publisher j) and reads its answers (subscriber j, on the same socket).
  const bool resp_, lines_, queue_;
  const wire::Publish wire_;
  const int threads_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<Sub> subs_;
  std::vector<Pub> pubs_;
  double per_publisher_rate_ = 0;
  std::int64_t tick_ns_ = 0;    // Params::tick_s
  std::int64_t warmup_ns_ = 0;  // Params::warmup_s
  std::int64_t per_publisher_count_ = 0;
  std::size_t max_batch_ = 1, read_chunk_ = kMaxReadChunk;
  // Changed once per connection or publisher, never per message.
  std::atomic<int> connected_{0}, publishers_done_{0}, publishers_finished_{0};
  std::atomic<Clock::rep> t0_ns_{0};  // when the schedule started (steady clock), for the subscribers
  std::atomic<std::int64_t> confirmed_{0};
  std::atomic<std::int64_t> opened_{0};  // confirmable connections started by the openers (kConnectWindow)
  std::atomic<bool> failed_{false};
};

// The number of load threads a run uses: Params::threads, or one per load CPU when it is 0.
int load_threads(const Params& p);

}  // namespace tvl::load::detail
