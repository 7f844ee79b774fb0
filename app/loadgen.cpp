// The fan-out load generator. One io_context on one thread drives every connection: subscribers
// read large chunks and parse every complete message in them; publishers follow an open-loop
// schedule (message k of a publisher is *meant* to go at t0 + k / rate), and when they fall
// behind they send everything that is due in one gathered write. Latency is measured from the
// intended time (what a user waiting for the message sees) and from the actual send.
#include "app/loadgen.hpp"

#include <sys/resource.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cmath>
#include <deque>
#include <stdexcept>

#include <fmt/format.h>

#include "bench/metrics.hpp"
#include "scenarios/fanout.hpp"

namespace tvl::load {
namespace {

namespace asio = boost::asio;
using asio::use_awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
constexpr std::uint32_t kProbe = 0xFFFFFFFF;  // publisher id of the subscription probes

// RESP (redis) is parsed just far enough for PUBLISH/SUBSCRIBE: arrays of bulk strings and
// integers. Returns the elements of the next complete reply, consuming it.
std::optional<std::vector<std::string>> next_resp(std::string& buf, std::size_t& off) {
  std::size_t at = off;
  auto line = [&](std::string& out) {
    const auto end = buf.find("\r\n", at);
    if (end == std::string::npos) return false;
    out = buf.substr(at, end - at);
    at = end + 2;
    return true;
  };
  std::string head;
  if (!line(head) || head.empty()) return std::nullopt;
  std::vector<std::string> items;
  const long n = head[0] == '*' ? std::stol(head.substr(1)) : 1;
  for (long i = 0; i < n; ++i) {
    std::string h = head;
    if (head[0] == '*' && !line(h)) return std::nullopt;
    if (h[0] == '$') {
      const auto len = static_cast<std::size_t>(std::stol(h.substr(1)));
      if (buf.size() < at + len + 2) return std::nullopt;
      items.push_back(buf.substr(at, len));
      at += len + 2;
    } else {
      items.push_back(h.substr(1));  // :integer, +simple, -error
    }
  }
  off = at;
  if (off > 1 << 20) buf.erase(0, off), off = 0;
  return items;
}

std::string resp_command(std::initializer_list<std::string_view> args) {
  std::string out = fmt::format("*{}\r\n", args.size());
  for (auto a : args) out += fmt::format("${}\r\n{}\r\n", a.size(), a);
  return out;
}

class Load {
 public:
  Load(const Params& p, asio::io_context& io) : p_(p), io_(io), subs_(static_cast<std::size_t>(p.subscribers)) {
    per_publisher_rate_ = p.rate / p.publishers;
    per_publisher_count_ = static_cast<std::int64_t>(std::floor(p.duration_s * per_publisher_rate_));
    for (auto& s : subs_) s.next_seq.assign(static_cast<std::size_t>(p.publishers), 0);
    if (fanout::is_queue(p.channel))
      seen_.assign(static_cast<std::size_t>(p.publishers),
                   std::vector<bool>(static_cast<std::size_t>(per_publisher_count_), false));
  }

  Result run() {
    for (int i = 0; i < p_.subscribers; ++i) co_spawn(io_, subscriber(i), rethrow);
    for (int j = 0; j < p_.publishers; ++j) co_spawn(io_, publisher(j), rethrow);
    for (int k = 0; k < p_.slow_subscribers; ++k) co_spawn(io_, slow_subscriber(), rethrow);
    co_spawn(io_, conductor(), rethrow);
    io_.run();
    return std::move(r_);
  }

 private:
  struct Sub {
    std::vector<std::uint64_t> next_seq;  // per publisher: the sequence number expected next
    bool confirmed = false;
  };

  static void rethrow(std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  }

  std::int64_t now_ns() const { return (Clock::now() - t0_).count(); }

  // A new connection, owned by the Load (closed by stop(), whoever still uses it).
  asio::awaitable<tcp::socket*> connect() {
    tcp::socket& s = sockets_.emplace_back(io_);
    co_await s.async_connect({asio::ip::make_address(p_.host), p_.port}, use_awaitable);
    s.set_option(tcp::no_delay(true));
    co_return &s;
  }

  void on_message(Sub& sub, std::string_view payload) {
    const auto stamp = fanout::decode_stamp(payload);
    if (!stamp) return;
    if (stamp->publisher == kProbe) {
      if (!sub.confirmed) sub.confirmed = true, ++r_.subscribers_confirmed;
      return;
    }
    if (stamp->publisher >= static_cast<std::uint32_t>(p_.publishers)) return;
    const std::int64_t now = now_ns();
    r_.from_intended_ns.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, now - stamp->intended_ns)));
    r_.from_sent_ns.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, now - stamp->sent_ns)));
    ++r_.delivered;
    last_delivery_ns_ = now;
    if (!seen_.empty()) {  // a queue: each message once, to any subscriber
      auto& seen = seen_[stamp->publisher];
      if (stamp->seq < seen.size() && seen[stamp->seq]) ++r_.duplicates_or_reordered;
      if (stamp->seq < seen.size()) seen[stamp->seq] = true;
      return;
    }
    auto& next = sub.next_seq[stamp->publisher];  // a topic: every message, in order
    if (stamp->seq == next)
      ++next;
    else if (stamp->seq > next)
      r_.gaps += static_cast<std::int64_t>(stamp->seq - next), next = stamp->seq + 1;
    else
      ++r_.duplicates_or_reordered;
  }

  asio::awaitable<void> subscriber(int i) {
    Sub& sub = subs_[static_cast<std::size_t>(i)];
    tcp::socket& s = *co_await connect();
    const bool resp = p_.protocol == "resp";
    const std::string hello = subscribe_request();
    co_await asio::async_write(s, asio::buffer(hello), use_awaitable);
    ++connected_;
    fanout::FrameParser frames(UINT32_MAX);
    std::string buf;
    std::size_t off = 0;
    std::vector<char> chunk(65536);
    boost::system::error_code ec;
    for (;;) {
      const std::size_t n = co_await s.async_read_some(asio::buffer(chunk), asio::redirect_error(use_awaitable, ec));
      if (ec) break;  // closed at the end of the run, or by the broker
      if (resp) {
        buf.append(chunk.data(), n);
        while (auto reply = next_resp(buf, off)) {
          if (reply->size() == 3 && (*reply)[0] == "subscribe" && !sub.confirmed)
            sub.confirmed = true, ++r_.subscribers_confirmed;
          if (reply->size() == 3 && (*reply)[0] == "message") on_message(sub, (*reply)[2]);
        }
      } else {
        frames.feed(std::string_view(chunk.data(), n));
        while (auto f = frames.next()) on_message(sub, *f);
      }
    }
  }

  // GCC 12 cannot keep a braced list alive across a co_await: build requests outside one.
  std::string subscribe_request() const {
    return p_.protocol == "resp" ? resp_command({"SUBSCRIBE", p_.channel}) : fanout::frame(p_.channel);
  }

  // A subscriber that stops reading: its socket buffers fill, and the broker must cope.
  asio::awaitable<void> slow_subscriber() {
    tcp::socket& s = *co_await connect();
    const std::string hello = subscribe_request();
    co_await asio::async_write(s, asio::buffer(hello), use_awaitable);
    ++connected_;
  }

  std::string message(std::uint32_t publisher, std::uint64_t seq, std::int64_t intended, std::int64_t sent) {
    const auto payload = fanout::encode_stamp({publisher, seq, intended, sent}, p_.payload);
    return p_.protocol == "resp" ? resp_command({"PUBLISH", p_.channel, payload})
                                 : fanout::frame(p_.channel) + fanout::frame(payload);
  }

  asio::awaitable<void> publisher(int j) {
    tcp::socket& s = *co_await connect();
    if (p_.protocol == "resp")
      co_spawn(io_, discard_replies(s), asio::detached);
    else {
      const std::string hello = fanout::frame(fmt::format("/tvl/load/publisher/{}", j));
      co_await asio::async_write(s, asio::buffer(hello), use_awaitable);
    }
    ++connected_;
    asio::steady_timer timer(io_);
    while (!go_) {  // until the conductor says go; publisher 0 probes the subscriptions meanwhile
      if (j == 0 && connected_ == p_.subscribers + p_.publishers + p_.slow_subscribers) {
        const std::string probe = message(kProbe, 0, 0, 0);
        co_await asio::async_write(s, asio::buffer(probe), use_awaitable);
      }
      timer.expires_after(5ms);
      co_await timer.async_wait(use_awaitable);
    }
    std::int64_t sent = 0;
    std::string batch;
    while (sent < per_publisher_count_) {
      const std::int64_t now = now_ns();
      const auto due = std::min<std::int64_t>(
          per_publisher_count_, static_cast<std::int64_t>(static_cast<double>(now) / 1e9 * per_publisher_rate_) + 1);
      batch.clear();
      const std::int64_t first = sent;
      for (; sent < due; ++sent)
        batch += message(static_cast<std::uint32_t>(j), static_cast<std::uint64_t>(sent),
                         static_cast<std::int64_t>(static_cast<double>(sent) / per_publisher_rate_ * 1e9), now);
      boost::system::error_code ec;
      co_await asio::async_write(s, asio::buffer(batch), asio::redirect_error(use_awaitable, ec));
      if (ec) break;  // stopped by the conductor (a broker that stopped reading), or closed by the broker
      published_ += due - first;
      if (sent < per_publisher_count_) {
        timer.expires_at(t0_ + std::chrono::nanoseconds(
                                   static_cast<std::int64_t>(static_cast<double>(sent) / per_publisher_rate_ * 1e9)));
        co_await timer.async_wait(use_awaitable);
      }
    }
    ++publishers_done_;
  }

  asio::awaitable<void> discard_replies(tcp::socket& s) {
    std::vector<char> chunk(65536);
    boost::system::error_code ec;
    while (!ec) co_await s.async_read_some(asio::buffer(chunk), asio::redirect_error(use_awaitable, ec));
  }

  // Connect, confirm every subscription, start the load, wait for the deliveries, stop.
  asio::awaitable<void> conductor() {
    asio::steady_timer timer(io_);
    const auto confirm_by =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(p_.confirm_s));
    while (r_.subscribers_confirmed < p_.subscribers) {
      if (Clock::now() > confirm_by) {
        stop();
        throw std::runtime_error(fmt::format("only {} of {} subscriptions confirmed ({} of {} connected) within {} s",
                                             r_.subscribers_confirmed, p_.subscribers, connected_,
                                             p_.subscribers + p_.publishers + p_.slow_subscribers, p_.confirm_s));
      }
      timer.expires_after(2ms);
      co_await timer.async_wait(use_awaitable);
    }
    timer.expires_after(50ms);  // probes still in flight arrive and are ignored
    co_await timer.async_wait(use_awaitable);
    std::optional<metrics::Usage> broker_before;
    if (p_.broker_pid > 0) broker_before = metrics::usage_of(p_.broker_pid);
    t0_ = Clock::now();
    go_ = true;
    // A broker that stops reading its publishers (the naive design behind a slow subscriber)
    // must not hang the load: after the schedule and the drain time, stop where it stands.
    const auto give_up = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(p_.duration_s + p_.drain_s));
    while (publishers_done_ < p_.publishers && Clock::now() < give_up) {
      timer.expires_after(5ms);
      co_await timer.async_wait(use_awaitable);
    }
    if (publishers_done_ < p_.publishers) {
      r_.publishers_stalled = p_.publishers - publishers_done_;
      stop();  // ends the stuck writes; what was not written is not counted as published
    }
    r_.published = published_;
    r_.expected = seen_.empty() ? r_.published * p_.subscribers : r_.published;
    const auto drain_by =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(p_.drain_s));
    while (r_.delivered < r_.expected && Clock::now() < drain_by && r_.publishers_stalled == 0) {
      timer.expires_after(2ms);
      co_await timer.async_wait(use_awaitable);
    }
    r_.seconds = static_cast<double>(std::max<std::int64_t>(last_delivery_ns_, 1)) / 1e9;
    r_.lost = std::max<std::int64_t>(0, r_.expected - r_.delivered);
    if (broker_before) {
      if (const auto after = metrics::usage_of(p_.broker_pid)) {
        const auto d = *after - *broker_before;
        r_.broker_cpu_s = d.user_s + d.sys_s, r_.broker_vcsw = d.vcsw, r_.broker_ivcsw = d.ivcsw;
      }
      if (const auto m = metrics::memory(p_.broker_pid)) r_.broker_rss_kib = m->rss_kib, r_.broker_hwm_kib = m->hwm_kib;
    }
    stop();
  }

  void stop() {
    for (auto& s : sockets_) {
      boost::system::error_code ignored;
      s.close(ignored);
    }
  }

  const Params& p_;
  asio::io_context& io_;
  std::vector<Sub> subs_;
  std::vector<std::vector<bool>> seen_;  // queue channels: per publisher, which seq arrived
  std::deque<tcp::socket> sockets_;      // every connection (stable addresses), closed at the end
  Result r_;
  Clock::time_point t0_ = Clock::now();
  double per_publisher_rate_ = 0;
  std::int64_t per_publisher_count_ = 0, published_ = 0, last_delivery_ns_ = 0;
  int connected_ = 0, publishers_done_ = 0;
  bool go_ = false;
};

}  // namespace

std::int64_t raise_fd_limit(std::int64_t needed) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_max != RLIM_INFINITY && static_cast<std::int64_t>(lim.rlim_max) < needed)
    throw std::runtime_error(fmt::format(
        "{} descriptors needed, the open-files hard limit is {}: this point cannot be reached", needed, lim.rlim_max));
  return static_cast<std::int64_t>(lim.rlim_cur);
}

Result run(const Params& p) {
  if (p.subscribers < 1 || p.publishers < 1 || p.rate <= 0 || p.duration_s <= 0)
    throw std::invalid_argument("load: need subscribers, publishers, a rate and a duration");
  if (p.payload < fanout::kStampBytes)
    throw std::invalid_argument(fmt::format("load: payload must be at least {} bytes", fanout::kStampBytes));
  const auto fds = raise_fd_limit(p.subscribers + p.slow_subscribers + p.publishers + 64);
  asio::io_context io(1);
  Result r = Load(p, io).run();
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
      {"rss_kib", static_cast<double>(r.broker_rss_kib)},
      {"broker_hwm_kib", static_cast<double>(r.broker_hwm_kib)},
      {"broker_cpu_s", r.broker_cpu_s},
      {"vcsw", static_cast<double>(r.broker_vcsw)},
      {"ivcsw", static_cast<double>(r.broker_ivcsw)},
      {"fd_limit", static_cast<double>(r.fd_limit)},
  };
}

}  // namespace tvl::load
