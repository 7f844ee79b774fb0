// The publishers: an open-loop schedule (message k of a publisher is *meant* to go at
// t0 + k / rate, whatever happened to message k - 1). A publisher that falls behind sends what
// is due in gathered writes, rewriting only the stamps of a batch laid out once. Before the
// schedule starts, publisher 0 probes the subscriptions: a subscriber that received a probe is
// confirmed.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <fmt/format.h>

#include "load/load.hpp"

namespace tvl::load::detail {

using asio::use_awaitable;

namespace {
constexpr std::size_t kRepliesChunk = 65536;  // redis-server's replies to PUBLISH, read and dropped
}  // namespace

double Load::phase(int j) const { return lines_ ? static_cast<double>(j) / p_.publishers : 0.0; }

std::int64_t Load::intended_ns(std::int64_t seq, int j) const {
  return static_cast<std::int64_t>((static_cast<double>(seq) + phase(j)) / per_publisher_rate_ * 1e9);
}

std::int64_t Load::due_by(std::int64_t now_ns, int j) const {
  const double k = static_cast<double>(now_ns) / 1e9 * per_publisher_rate_ - phase(j);
  return k < 0 ? 0 : static_cast<std::int64_t>(k) + 1;
}

asio::awaitable<void> Load::publisher(Pub& pub, int j) {
  Worker& w = *pub.w;
  tcp::socket& s = *co_await connect(w, lines_);
  pub.socket = &s;
  if (lines_) {  // its answers come back on this socket: its subscriber reads them
    watch(subs_[static_cast<std::size_t>(j)], s);
  } else if (resp_) {
    co_spawn(w.io, discard_replies(s), asio::detached);
  } else {
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
  co_await probe_until_go(pub, j, batch, timer);
  boost::system::error_code ec;
  std::int64_t sent = 0;
  while (w.go && !w.stop_publishing && !w.stopping && sent < per_publisher_count_) {
    const std::int64_t now = (Clock::now() - w.t0).count();
    const auto due = std::min<std::int64_t>(per_publisher_count_, due_by(now, j));
    if (due <= sent) {  // a staggered connection's first request is not due yet
      timer.expires_at(w.t0 + std::chrono::nanoseconds(intended_ns(sent, j)));
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
      continue;
    }
    const auto n = static_cast<std::size_t>(std::min<std::int64_t>(due - sent, static_cast<std::int64_t>(max_batch_)));
    wire_.lay_out(batch, n);
    for (std::size_t i = 0; i < n; ++i) {
      const auto seq = sent + static_cast<std::int64_t>(i);
      wire_.stamp(batch, i, {static_cast<std::uint32_t>(j), static_cast<std::uint64_t>(seq), intended_ns(seq, j), now});
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
      timer.expires_at(w.t0 + std::chrono::nanoseconds(std::max(intended_ns(sent, j), now + tick_ns_)));
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    }
  }
  if (!w.go) co_return;  // stopped before the schedule began
  if (sent == per_publisher_count_) publishers_done_.fetch_add(1);
  publishers_finished_.fetch_add(1);
}

// Until the conductor says go, publisher 0 probes the subscriptions whenever the subscribers
// cannot connect further: all have started, or the connect window (kConnectWindow) is full of
// unconfirmed ones. A probe costs the broker a delivery to every subscriber it has: probing
// while connections are still being made would take the broker's time from accepting them. On
// an echo server each connection sends itself one probe and waits for its answer.
asio::awaitable<void> Load::probe_until_go(Pub& pub, int j, std::string& batch, asio::steady_timer& timer) {
  Worker& w = *pub.w;
  const Sub* own = lines_ ? &subs_[static_cast<std::size_t>(j)] : nullptr;
  boost::system::error_code ec;
  // An echo server answers every request it reads: one probe is enough, and more would queue
  // up behind a slow server (each costs the request's work) until it never catches up.
  bool echo_probed = false;
  while (!w.go && !w.stopping) {
    if (own != nullptr ? !own->confirmed && !echo_probed : j == 0 && connecting_blocked()) {
      wire_.stamp(batch, 0, {kProbe, 0, 0, 0});
      co_await asio::async_write(*pub.socket, asio::buffer(batch.data(), wire_.size()), use_awaitable);
      echo_probed = own != nullptr;
    }
    timer.expires_after(probe_every(p_.subscribers));
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

bool Load::connecting_blocked() const {
  const std::int64_t opened = opened_.load(), confirmed = confirmed_.load();
  if (confirmed >= p_.subscribers) return false;
  return opened >= p_.subscribers || opened - confirmed >= kConnectWindow;
}

asio::awaitable<void> Load::discard_replies(tcp::socket& s) {
  std::vector<char> chunk(kRepliesChunk);
  boost::system::error_code ec;
  while (!ec) co_await s.async_read_some(asio::buffer(chunk), asio::redirect_error(use_awaitable, ec));
}

}  // namespace tvl::load::detail
