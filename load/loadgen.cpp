// The fan-out load generator. Load threads, an io_context each, share the connections
// round-robin; a conductor (the caller's thread) confirms the subscriptions, starts the schedule,
// waits for the drain and stops, talking to the threads only by posting to their io_contexts and
// through a few counters that change once per connection, batch or read, never per message.
//
// Subscribers parse every complete message in place in their read buffer (a message split across
// reads is moved to the front to wait for its rest): no allocation per message. Publishers
// follow an open-loop schedule (message k of a publisher is *meant* to go at t0 + k / rate); when
// they fall behind they send what is due in gathered writes, rewriting only the stamps of a batch
// laid out once. Latency is measured from the intended time (what a user waiting for the message
// sees) and from the actual send.
//
// The generator measures itself: each load thread reads its own schedstat (time on a CPU, time
// runnable but waiting for one) at the start and end of the load phase. A thread busy, or
// starved, for nearly all of it means the run measured the generator, and says so.
#include "load/loadgen.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <cmath>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "load/wire.hpp"
#include "measure/limits.hpp"
#include "measure/metrics.hpp"
#include "measure/process.hpp"
#include "scenarios/fanout.hpp"

namespace tvl::load {
namespace {

namespace asio = boost::asio;
using asio::use_awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using wire::parse_frames, wire::parse_resp, wire::Reply;
constexpr std::uint32_t kProbe = 0xFFFFFFFF;     // publisher id of the subscription probes
constexpr std::size_t kBatchBytes = 256 * 1024;  // one publisher write carries at most this much

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// --- What the load threads cost (where they run: process::pin_this_thread).

// What the calling thread has cost so far: time on a CPU, and time runnable but waiting for one.
struct ThreadTime {
  std::int64_t wall_ns = 0, cpu_ns = 0, wait_ns = 0;
};

ThreadTime thread_time() {
  ThreadTime t;
  t.wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  char buf[128];
  ssize_t n = -1;
  if (const int fd = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC); fd >= 0) {
    n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
  }
  if (n > 0) {  // "ns on a CPU, ns waiting on a runqueue, timeslices"
    const char* end = buf + n;
    auto [p, ec] = std::from_chars(buf, end, t.cpu_ns);
    if (ec == std::errc() && p < end) std::from_chars(p + 1, end, t.wait_ns);
    return t;
  }
  timespec ts{};  // no schedstat (a kernel without CONFIG_SCHED_INFO): CPU time only
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  t.cpu_ns = ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
  return t;
}

double busy_between(const ThreadTime& a, const ThreadTime& b) {
  const auto wall = b.wall_ns - a.wall_ns;
  return wall > 0 ? static_cast<double>(b.cpu_ns - a.cpu_ns + b.wait_ns - a.wait_ns) / static_cast<double>(wall) : 0;
}

// --- The wire, written and read in place.

template <typename T>
char* put_le(T v, char* p) {
  for (std::size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<char>(static_cast<std::uint64_t>(v) >> (8 * i));
  return p + sizeof(T);
}

std::string resp_command(std::initializer_list<std::string_view> args) {
  std::string out = fmt::format("*{}\r\n", args.size());
  for (auto a : args) out += fmt::format("${}\r\n{}\r\n", a.size(), a);
  return out;
}

// One publish as it goes on the wire. Every message of a run has the same size, so a batch is
// laid out once and only its stamps are rewritten, and a count of bytes written says how many
// messages went out.
class Wire {
 public:
  explicit Wire(const Params& p) {
    const std::string payload = fanout::encode_stamp({}, p.payload);  // the padding is fixed
    one_ = p.protocol == "resp" ? resp_command({"PUBLISH", p.channel, payload})
                                : fanout::frame(p.channel) + fanout::frame(payload);
    stamp_at_ = one_.size() - payload.size() - (p.protocol == "resp" ? 2 : 0);
  }

  std::size_t size() const { return one_.size(); }

  // Makes `batch` hold at least n messages (their stamps still to be written).
  void lay_out(std::string& batch, std::size_t n) const {
    while (batch.size() < n * one_.size()) batch += one_;
  }

  // Writes the stamp of message i of the batch, byte for byte what fanout::encode_stamp writes.
  void stamp(std::string& batch, std::size_t i, const fanout::Stamp& s) const {
    char* p = batch.data() + i * one_.size() + stamp_at_;
    p = put_le(s.publisher, p);
    p = put_le(s.seq, p);
    p = put_le(s.intended_ns, p);
    put_le(s.sent_ns, p);
  }

 private:
  std::string one_;
  std::size_t stamp_at_ = 0;
};

// --- The load.

using WorkGuard = asio::executor_work_guard<asio::io_context::executor_type>;

struct Worker;

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
  WorkGuard guard = asio::make_work_guard(io);
  std::deque<tcp::socket> sockets;  // every connection (stable addresses), closed at the end
  std::vector<Pub*> pubs;
  Clock::time_point t0;
  bool go = false, stop_publishing = false, stopping = false;
  std::int64_t delivered = 0, gaps = 0, duplicates_or_reordered = 0, last_delivery_ns = 0;
  Histogram from_intended_ns, from_sent_ns;
  std::vector<std::vector<bool>> seen;                        // queue channels: per publisher, which seq arrived here
  std::vector<std::uint64_t> queue_next;                      // queue channels: per publisher, the highest seq + 1
  std::int64_t late = 0;                                      // deliveries later than Params::late_ns
  alignas(64) std::atomic<std::int64_t> delivered_so_far{0};  // `delivered`, stored once per read
  std::atomic<std::int64_t> late_so_far{0};                   // `late`, stored once per read
  ThreadTime at_go, at_sent, at_end;
  std::exception_ptr error;
  std::thread thread;
};

struct alignas(64) Sub {  // aligned: subscribers side by side belong to different threads
  Worker* w = nullptr;
  std::vector<std::uint64_t> next_seq;  // per publisher: the sequence number expected next
  std::int64_t received = 0;
  bool confirmed = false;
};

class Load {
 public:
  explicit Load(const Params& p)
      : p_(p),
        resp_(p.protocol == "resp"),
        queue_(fanout::is_queue(p.channel)),
        wire_(p),
        subs_(static_cast<std::size_t>(p.subscribers)),
        pubs_(static_cast<std::size_t>(p.publishers)) {
    per_publisher_rate_ = p.rate / p.publishers;
    tick_ns_ = static_cast<std::int64_t>(p.tick_s * 1e9);
    warmup_ns_ = static_cast<std::int64_t>(p.warmup_s * 1e9);
    per_publisher_count_ = static_cast<std::int64_t>(std::floor(p.duration_s * per_publisher_rate_));
    max_batch_ = std::max<std::size_t>(1, kBatchBytes / wire_.size());
    // One read takes up to 64 KiB; with many subscribers less, so that their buffers stay
    // within 64 MiB unless messages are longer.
    read_chunk_ = std::clamp<std::size_t>((std::size_t{64} << 20) / subs_.size(), 4096, 65536);
    const auto publishers = static_cast<std::size_t>(p.publishers);
    for (auto& s : subs_) s.next_seq.assign(publishers, 0);
    for (int t = 0; t < p.threads; ++t) {
      auto& w = *workers_.emplace_back(std::make_unique<Worker>());
      if (queue_) {
        w.seen.assign(publishers, std::vector<bool>(static_cast<std::size_t>(per_publisher_count_), false));
        w.queue_next.assign(publishers, 0);
      }
    }
  }

  Result run() {
    std::size_t next = 0;  // every connection goes to the next thread in turn
    auto worker = [&]() -> Worker& { return *workers_[next++ % workers_.size()]; };
    for (auto& s : subs_) spawn(*(s.w = &worker()), subscriber(s));
    for (int j = 0; j < p_.publishers; ++j) {
      Pub& pub = pubs_[static_cast<std::size_t>(j)];
      pub.w = &worker();
      pub.w->pubs.push_back(&pub);
      spawn(*pub.w, publisher(pub, j));
    }
    for (int k = 0; k < p_.slow_subscribers; ++k) {
      Worker& w = worker();
      spawn(w, slow_subscriber(w));
    }
    for (auto& w : workers_)
      w->thread = std::thread([this, &w = *w] {
        try {
          process::pin_this_thread(p_.cpus);
          w.io.run();
        } catch (...) {
          fail(w, std::current_exception());
        }
      });
    Result r;
    try {
      conduct(r);
    } catch (...) {
      finish();
      for (auto& w : workers_)
        if (w->error) std::rethrow_exception(w->error);  // the cause, rather than its consequence
      throw;
    }
    finish();
    for (auto& w : workers_)
      if (w->error) std::rethrow_exception(w->error);
    tally(r);
    return r;
  }

 private:
  struct Failed {};  // a load thread failed: its error is rethrown once every thread has stopped

  template <typename Awaitable>
  void spawn(Worker& w, Awaitable a) {
    co_spawn(w.io, std::move(a), [this, &w](std::exception_ptr e) {
      if (e) fail(w, e);
    });
  }

  void fail(Worker& w, std::exception_ptr e) {
    if (w.stopping) return;  // the end of the run closed what it was using
    if (!w.error) w.error = e;
    failed_.store(true);
  }

  // Runs `f` on every load thread, in its own io_context.
  template <typename F>
  void on_each(F f) {
    for (auto& w : workers_) asio::post(w->io, [f, &w = *w] { f(w); });
  }

  // Polls `done` every 2 ms until it holds or `deadline` passes; says which.
  template <typename F>
  bool wait_until(F done, Clock::time_point deadline) {
    for (;;) {
      if (failed_.load()) throw Failed{};
      if (done()) return true;
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(2ms);
    }
  }

  // Connect, confirm every subscription, start the schedule, wait for the deliveries.
  void conduct(Result& r) {
    const int connections = p_.subscribers + p_.publishers + p_.slow_subscribers;
    if (!wait_until([&] { return confirmed_.load() >= p_.subscribers; }, Clock::now() + seconds(p_.confirm_s)))
      throw std::runtime_error(fmt::format("only {} of {} subscriptions confirmed ({} of {} connected) within {} s",
                                           confirmed_.load(), p_.subscribers, connected_.load(), connections,
                                           p_.confirm_s));
    r.subscribers_confirmed = confirmed_.load();
    wait_until([] { return false; }, Clock::now() + 50ms);  // probes still in flight arrive, ignored
    std::optional<metrics::Usage> broker_before;
    if (p_.broker_pid > 0) broker_before = metrics::usage_of(p_.broker_pid);
    // Every thread knows t0 before any thread may send: a message can then never reach a
    // thread that has not yet learnt when the schedule started.
    const auto t0 = Clock::now();
    on_each([t0](Worker& w) { w.t0 = t0, w.at_go = thread_time(); });
    on_each([](Worker& w) {
      w.go = true;
      for (Pub* pub : w.pubs)
        if (pub->timer) pub->timer->cancel();
    });
    // A broker that stops reading its publishers (the naive design behind a slow subscriber)
    // must not hang the load: after the schedule and the drain time, stop where it stands.
    auto too_late = [&] {
      if (p_.late_limit <= 0) return false;
      std::int64_t late = 0;
      for (const auto& w : workers_) late += w->late_so_far.load(std::memory_order_relaxed);
      return late > p_.late_limit;
    };
    const bool sent = wait_until([&] { return publishers_finished_.load() == p_.publishers || too_late(); },
                                 t0 + seconds(p_.duration_s + p_.drain_s)) &&
                      !too_late();
    if (too_late()) r.cut_short_s = std::chrono::duration<double>(Clock::now() - t0).count();
    on_each([](Worker& w) { w.at_sent = thread_time(); });
    if (!sent) {
      on_each([](Worker& w) {
        w.stop_publishing = true;
        boost::system::error_code ignored;
        for (Pub* pub : w.pubs) {
          if (pub->socket) pub->socket->cancel(ignored);  // a stuck write ends, telling how far it got
          if (pub->timer) pub->timer->cancel();
        }
      });
      if (!wait_until([&] { return publishers_finished_.load() == p_.publishers; }, Clock::now() + 10s))
        throw std::runtime_error("load: the publishers did not stop");
    }
    r.publishers_stalled = p_.publishers - publishers_done_.load();
    for (const auto& pub : pubs_) r.published += pub.published.load();
    r.expected = queue_ ? r.published : r.published * p_.subscribers;
    // What is in flight still arrives, stalled publishers or not; no longer than drain_s (and
    // not at all for a run cut short: it has failed already).
    if (r.cut_short_s == 0)
      wait_until(
          [&] {
            std::int64_t delivered = 0;
            for (const auto& w : workers_) delivered += w->delivered_so_far.load(std::memory_order_relaxed);
            return delivered >= r.expected;
          },
          Clock::now() + seconds(p_.drain_s));
    if (broker_before) {
      if (const auto after = metrics::usage_of(p_.broker_pid)) {
        const auto d = *after - *broker_before;
        r.broker_cpu_s = d.user_s + d.sys_s, r.broker_vcsw = d.vcsw, r.broker_ivcsw = d.ivcsw;
      }
      if (const auto m = metrics::memory(p_.broker_pid)) r.broker_rss_kib = m->rss_kib, r.broker_hwm_kib = m->hwm_kib;
    }
  }

  // Stops every load thread (closing its connections) and joins it.
  void finish() {
    on_each([](Worker& w) {
      w.at_end = thread_time();
      w.stopping = true;
      boost::system::error_code ignored;
      for (Pub* pub : w.pubs)
        if (pub->timer) pub->timer->cancel();
      for (auto& s : w.sockets) s.close(ignored);
      w.guard.reset();
    });
    for (auto& w : workers_)
      if (w->thread.joinable()) w->thread.join();
  }

  // Merges what the threads counted, and says whether the counts can be true.
  void tally(Result& r) {
    r.load_threads = p_.threads;
    for (auto& w : workers_) {
      r.delivered += w->delivered, r.gaps += w->gaps, r.duplicates_or_reordered += w->duplicates_or_reordered;
      r.late += w->late;
      r.from_intended_ns.merge(w->from_intended_ns), r.from_sent_ns.merge(w->from_sent_ns);
      r.seconds = std::max(r.seconds, static_cast<double>(w->last_delivery_ns) / 1e9);
      r.load_cpu_s += static_cast<double>(w->at_end.cpu_ns - w->at_go.cpu_ns) / 1e9;
      r.load_busy = std::max({r.load_busy, busy_between(w->at_go, w->at_sent), busy_between(w->at_go, w->at_end)});
    }
    if (r.seconds <= 0) r.seconds = 1e-9;
    r.load_bound = r.load_busy >= kLoadBoundBusy;
    if (queue_ && workers_.size() > 1) {  // a message that reached two threads was delivered twice
      for (std::size_t j = 0; j < pubs_.size(); ++j)
        for (std::size_t seq = 0; seq < static_cast<std::size_t>(per_publisher_count_); ++seq) {
          int times = 0;
          for (const auto& w : workers_) times += w->seen[j][seq];
          if (times > 1) r.duplicates_or_reordered += times - 1;
        }
    }
    r.lost = std::max<std::int64_t>(0, r.expected - r.delivered);
    r.impossible = impossible(r);
  }

  std::string impossible(const Result& r) const {
    if (r.delivered > r.expected)
      return queue_ ? fmt::format("delivered {} but only {} were published", r.delivered, r.published)
                    : fmt::format("delivered {} but only {} were published to {} subscribers ({} deliveries at most)",
                                  r.delivered, r.published, p_.subscribers, r.expected);
    for (std::size_t i = 0; i < subs_.size() && !queue_; ++i) {
      const Sub& s = subs_[i];
      if (s.received > r.published)
        return fmt::format("subscriber {} received {} messages but only {} were published", i, s.received, r.published);
      for (std::size_t j = 0; j < pubs_.size(); ++j)
        if (static_cast<std::int64_t>(s.next_seq[j]) > pubs_[j].published.load())
          return fmt::format("subscriber {} received message {} of publisher {}, which published only {}", i,
                             s.next_seq[j] - 1, j, pubs_[j].published.load());
    }
    for (const auto& w : workers_)
      for (std::size_t j = 0; j < w->queue_next.size(); ++j)
        if (static_cast<std::int64_t>(w->queue_next[j]) > pubs_[j].published.load())
          return fmt::format("a subscriber received message {} of publisher {}, which published only {}",
                             w->queue_next[j] - 1, j, pubs_[j].published.load());
    return {};
  }

  // A new connection, owned by its thread (closed at the end, whoever still uses it).
  asio::awaitable<tcp::socket*> connect(Worker& w) {
    tcp::socket& s = w.sockets.emplace_back(w.io);
    boost::system::error_code ec;
    co_await s.async_connect({asio::ip::make_address(p_.host), p_.port}, asio::redirect_error(use_awaitable, ec));
    if (ec) throw std::runtime_error(fmt::format("cannot connect to {}:{}: {}", p_.host, p_.port, ec.message()));
    s.set_option(tcp::no_delay(true));
    co_return &s;
  }

  void confirm(Sub& sub) {
    if (!sub.confirmed) sub.confirmed = true, confirmed_.fetch_add(1);
  }

  // `now`: when the read that brought the message returned, since t0.
  void on_message(Sub& sub, std::string_view payload, std::int64_t now) {
    const auto stamp = fanout::decode_stamp(payload);
    if (!stamp) return;
    if (stamp->publisher == kProbe) return confirm(sub);
    if (stamp->publisher >= static_cast<std::uint32_t>(p_.publishers)) return;
    Worker& w = *sub.w;
    if (stamp->intended_ns >= warmup_ns_) {
      w.from_intended_ns.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, now - stamp->intended_ns)));
      w.from_sent_ns.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, now - stamp->sent_ns)));
      if (p_.late_ns > 0 && now - stamp->intended_ns > p_.late_ns) ++w.late;
    }
    ++w.delivered, ++sub.received;
    w.last_delivery_ns = now;
    if (queue_) {  // each message once, to any subscriber
      auto& seen = w.seen[stamp->publisher];
      if (stamp->seq < seen.size() && seen[stamp->seq]) ++w.duplicates_or_reordered;
      if (stamp->seq < seen.size()) seen[stamp->seq] = true;
      w.queue_next[stamp->publisher] = std::max(w.queue_next[stamp->publisher], stamp->seq + 1);
      return;
    }
    auto& next = sub.next_seq[stamp->publisher];  // a topic: every message, in order
    if (stamp->seq == next)
      ++next;
    else if (stamp->seq > next)
      w.gaps += static_cast<std::int64_t>(stamp->seq - next), next = stamp->seq + 1;
    else
      ++w.duplicates_or_reordered;
  }

  // Handles every complete message at the front of `data`, where it lies; returns the bytes used.
  std::size_t take(Sub& sub, std::string_view data) {
    const std::int64_t now = (Clock::now() - sub.w->t0).count();  // one clock read per read
    if (!resp_) return parse_frames(data, [&](std::string_view f) { on_message(sub, f, now); });
    std::size_t used = 0;
    Reply reply;
    while (const std::size_t taken = parse_resp(data.substr(used), reply)) {
      used += taken;
      if (reply.n == 3 && reply.item[0] == "subscribe") confirm(sub);
      if (reply.n == 3 && reply.item[0] == "message") on_message(sub, reply.item[2], now);
    }
    return used;
  }

  // Reads into its own buffer (asio's speculative reads cost one recv() per wake-up), parses
  // in place, and moves a message cut short by the end of a read to the front.
  asio::awaitable<void> subscriber(Sub& sub) {
    Worker& w = *sub.w;
    tcp::socket& s = *co_await connect(w);
    const std::string hello = subscribe_request();
    co_await asio::async_write(s, asio::buffer(hello), use_awaitable);
    connected_.fetch_add(1);
    std::size_t size = read_chunk_, kept = 0;
    auto buf = std::make_unique_for_overwrite<char[]>(size);  // untouched pages cost no memory
    boost::system::error_code ec;
    for (;;) {
      const std::size_t n = co_await s.async_read_some(asio::buffer(buf.get() + kept, size - kept),
                                                       asio::redirect_error(use_awaitable, ec));
      if (ec) break;  // closed at the end of the run, or by the broker
      const std::string_view data(buf.get(), kept + n);
      const std::size_t used = take(sub, data);
      kept = data.size() - used;
      std::memmove(buf.get(), buf.get() + used, kept);
      if (kept * 2 > size) {  // a message longer than half the buffer: make room for it
        auto bigger = std::make_unique_for_overwrite<char[]>(size *= 2);
        std::memcpy(bigger.get(), buf.get(), kept);
        buf = std::move(bigger);
      }
      w.delivered_so_far.store(w.delivered, std::memory_order_relaxed);
      w.late_so_far.store(w.late, std::memory_order_relaxed);
    }
  }

  // GCC 12 cannot keep a braced list alive across a co_await: build requests outside one.
  std::string subscribe_request() const {
    return resp_ ? resp_command({"SUBSCRIBE", p_.channel}) : fanout::frame(p_.channel);
  }

  // A subscriber that stops reading: its socket buffers fill, and the broker must cope.
  asio::awaitable<void> slow_subscriber(Worker& w) {
    tcp::socket& s = *co_await connect(w);
    const std::string hello = subscribe_request();
    co_await asio::async_write(s, asio::buffer(hello), use_awaitable);
    connected_.fetch_add(1);
  }

  std::int64_t intended_ns(std::int64_t seq) const {
    return static_cast<std::int64_t>(static_cast<double>(seq) / per_publisher_rate_ * 1e9);
  }

  asio::awaitable<void> publisher(Pub& pub, int j) {
    Worker& w = *pub.w;
    tcp::socket& s = *co_await connect(w);
    pub.socket = &s;
    if (resp_)
      co_spawn(w.io, discard_replies(s), asio::detached);
    else {
      const std::string hello = fanout::frame(fmt::format("/tvl/load/publisher/{}", j));
      co_await asio::async_write(s, asio::buffer(hello), use_awaitable);
    }
    connected_.fetch_add(1);
    asio::steady_timer timer(w.io);
    pub.timer = &timer;
    struct Forget {  // however the coroutine ends, nobody may cancel the timer after it
      Pub& pub;
      ~Forget() { pub.timer = nullptr; }
    } forget{pub};
    std::string batch;  // laid out once; only the stamps change
    wire_.lay_out(batch, 1);
    boost::system::error_code ec;
    const int connections = p_.subscribers + p_.publishers + p_.slow_subscribers;
    while (!w.go && !w.stopping) {  // until the conductor says go; publisher 0 probes meanwhile
      if (j == 0 && connected_.load() == connections) {
        wire_.stamp(batch, 0, {kProbe, 0, 0, 0});
        co_await asio::async_write(s, asio::buffer(batch.data(), wire_.size()), use_awaitable);
      }
      timer.expires_after(5ms);
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    std::int64_t sent = 0;
    while (w.go && !w.stop_publishing && !w.stopping && sent < per_publisher_count_) {
      const std::int64_t now = (Clock::now() - w.t0).count();
      const auto due = std::min<std::int64_t>(
          per_publisher_count_, static_cast<std::int64_t>(static_cast<double>(now) / 1e9 * per_publisher_rate_) + 1);
      const auto n =
          static_cast<std::size_t>(std::min<std::int64_t>(due - sent, static_cast<std::int64_t>(max_batch_)));
      wire_.lay_out(batch, n);
      for (std::size_t i = 0; i < n; ++i) {
        const auto seq = sent + static_cast<std::int64_t>(i);
        wire_.stamp(batch, i, {static_cast<std::uint32_t>(j), static_cast<std::uint64_t>(seq), intended_ns(seq), now});
      }
      const std::size_t bytes = co_await asio::async_write(s, asio::buffer(batch.data(), n * wire_.size()),
                                                           asio::redirect_error(use_awaitable, ec));
      // A write that fails or is stopped part-way tells how far it got. A message partly
      // written counts as published: the broker may hold its first bytes and have it all if it
      // reads on, so `published` stays an upper bound on what can be delivered.
      sent += static_cast<std::int64_t>((bytes + wire_.size() - 1) / wire_.size());
      pub.published.store(sent, std::memory_order_relaxed);
      if (ec) break;  // stopped by the conductor (a broker that stopped reading), or closed by the broker
      if (sent < per_publisher_count_ && sent >= due) {
        timer.expires_at(w.t0 + std::chrono::nanoseconds(std::max(intended_ns(sent), now + tick_ns_)));
        co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
      }
    }
    if (!w.go) co_return;  // stopped before the schedule began
    if (sent == per_publisher_count_) publishers_done_.fetch_add(1);
    publishers_finished_.fetch_add(1);
  }

  asio::awaitable<void> discard_replies(tcp::socket& s) {
    std::vector<char> chunk(65536);
    boost::system::error_code ec;
    while (!ec) co_await s.async_read_some(asio::buffer(chunk), asio::redirect_error(use_awaitable, ec));
  }

  const Params& p_;
  const bool resp_, queue_;
  const Wire wire_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<Sub> subs_;
  std::vector<Pub> pubs_;
  double per_publisher_rate_ = 0;
  std::int64_t tick_ns_ = 0;    // Params::tick_s
  std::int64_t warmup_ns_ = 0;  // Params::warmup_s
  std::int64_t per_publisher_count_ = 0;
  std::size_t max_batch_ = 1, read_chunk_ = 65536;
  // Changed once per connection or publisher, never per message.
  std::atomic<int> connected_{0}, publishers_done_{0}, publishers_finished_{0};
  std::atomic<std::int64_t> confirmed_{0};
  std::atomic<bool> failed_{false};
};

}  // namespace

std::int64_t raise_fd_limit(std::int64_t needed) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_max != RLIM_INFINITY && static_cast<std::int64_t>(lim.rlim_max) < needed)
    throw limits::LimitReached(
        fmt::format("{} descriptors needed, the open-files hard limit is {}: this point cannot be reached", needed,
                    lim.rlim_max),
        limits::kFdLimit, {{"needed", needed}, {"hard_limit", lim.rlim_max}});
  return static_cast<std::int64_t>(lim.rlim_cur);
}

Result run(const Params& p) {
  if (p.subscribers < 1 || p.publishers < 1 || p.rate <= 0 || p.duration_s <= 0)
    throw std::invalid_argument("load: need subscribers, publishers, a rate and a duration");
  if (p.payload < fanout::kStampBytes)
    throw std::invalid_argument(fmt::format("load: payload must be at least {} bytes", fanout::kStampBytes));
  if (p.threads < 1 || p.threads > 1024) throw std::invalid_argument("load: threads must be between 1 and 1024");
  boost::system::error_code bad_host;
  boost::asio::ip::make_address(p.host, bad_host);
  if (bad_host) throw std::invalid_argument(fmt::format("load: the host must be an IP address; '{}' is not", p.host));
  process::check_cpus(p.cpus);
  const auto fds = raise_fd_limit(p.subscribers + p.slow_subscribers + p.publishers + 64);
  Result r = Load(p).run();
  r.fd_limit = fds;
  return r;
}

std::vector<std::pair<std::string, double>> counters(const Params& p, const Result& r) {
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  return {
      {"items_per_second", r.seconds > 0 ? static_cast<double>(r.delivered) / r.seconds : 0},
      {"published_per_second", static_cast<double>(r.published) / p.duration_s},
      {"published", static_cast<double>(r.published)},
      {"delivered", static_cast<double>(r.delivered)},
      {"expected", static_cast<double>(r.expected)},
      {"lost", static_cast<double>(r.lost)},
      {"gaps", static_cast<double>(r.gaps)},
      {"duplicates_or_reordered", static_cast<double>(r.duplicates_or_reordered)},
      {"publishers_stalled", static_cast<double>(r.publishers_stalled)},
      {"impossible", r.impossible.empty() ? 0.0 : 1.0},
      {"p50_us", us(r.from_intended_ns.percentile(50))},
      {"p90_us", us(r.from_intended_ns.percentile(90))},
      {"p99_us", us(r.from_intended_ns.percentile(99))},
      {"p999_us", us(r.from_intended_ns.percentile(99.9))},
      {"max_us", us(r.from_intended_ns.max())},
      {"sent_p50_us", us(r.from_sent_ns.percentile(50))},
      {"sent_p99_us", us(r.from_sent_ns.percentile(99))},
      {"sent_p999_us", us(r.from_sent_ns.percentile(99.9))},
      {"subscribers", p.subscribers},
      {"publishers", p.publishers},
      {"slow_subscribers", p.slow_subscribers},
      {"payload", static_cast<double>(p.payload)},
      {"rate", p.rate},
      {"duration_s", p.duration_s},
      {"load_threads", r.load_threads},
      {"load_cpu_s", r.load_cpu_s},
      {"load_busy", r.load_busy},
      {"load_bound", r.load_bound ? 1.0 : 0.0},
      {"rss_kib", static_cast<double>(r.broker_rss_kib)},
      {"broker_hwm_kib", static_cast<double>(r.broker_hwm_kib)},
      {"broker_cpu_s", r.broker_cpu_s},
      {"vcsw", static_cast<double>(r.broker_vcsw)},
      {"ivcsw", static_cast<double>(r.broker_ivcsw)},
      {"fd_limit", static_cast<double>(r.fd_limit)},
  };
}

}  // namespace tvl::load
