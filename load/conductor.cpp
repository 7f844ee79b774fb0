// The conductor: starts the load threads, confirms every subscription, starts the schedule,
// waits for the deliveries and stops. It runs on the caller's thread and talks to the load
// threads only by posting to their io_contexts and through counters that change once per
// connection, batch or read.
#include <sys/epoll.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

#include "load/load.hpp"
#include "measure/metrics.hpp"
#include "measure/process.hpp"
#include "scenarios/fanout.hpp"

namespace tvl::load::detail {

using namespace std::chrono_literals;

namespace {
constexpr auto kPollEvery = 2ms;       // how often the conductor looks at the threads' counters
constexpr auto kProbesSettle = 50ms;   // subscription probes still in flight arrive, ignored (at least)
constexpr auto kPublishersStop = 10s;  // publishers told to stop must have stopped by then
}  // namespace

int load_threads(const Params& p) {
  if (p.threads > 0) return p.threads;
  return std::max<int>(1, static_cast<int>(p.cpus.size()));  // one per load CPU (one when not pinned)
}

Load::Load(const Params& p)
    : p_(p),
      resp_(p.protocol == fanout::Protocol::resp),
      lines_(p.protocol == fanout::Protocol::lines),
      queue_(!lines_ && fanout::is_queue(p.channel)),
      wire_(p.protocol, p.channel, p.payload),
      threads_(load_threads(p)),
      subs_(static_cast<std::size_t>(p.subscribers)),
      pubs_(static_cast<std::size_t>(p.publishers)) {
  if (lines_ && (p.subscribers != p.publishers || p.slow_subscribers != 0))
    throw std::invalid_argument(
        "load: an echo server's connections each send and read: as many subscribers as "
        "publishers, and no slow ones");
  per_publisher_rate_ = p.rate / p.publishers;
  tick_ns_ = static_cast<std::int64_t>(p.tick_s * 1e9);
  warmup_ns_ = static_cast<std::int64_t>(p.warmup_s * 1e9);
  per_publisher_count_ = static_cast<std::int64_t>(std::floor(p.duration_s * per_publisher_rate_));
  max_batch_ = std::max<std::size_t>(1, kBatchBytes / wire_.size());
  // With many subscribers a read takes less, so that their buffers stay within kReadBuffers.
  read_chunk_ = std::clamp<std::size_t>(kReadBuffers / subs_.size(), kMinReadChunk, kMaxReadChunk);
  const auto publishers = static_cast<std::size_t>(p.publishers);
  for (auto& s : subs_) s.next_seq.assign(lines_ ? 1 : publishers, 0);  // echo: its own publisher only
  for (int t = 0; t < threads_; ++t) {
    auto& w = *workers_.emplace_back(std::make_unique<Worker>());
    if (queue_) {
      w.seen.assign(publishers, std::vector<bool>(static_cast<std::size_t>(per_publisher_count_), false));
      w.queue_next.assign(publishers, 0);
    }
  }
}

Result Load::run() {
  std::size_t next = 0;  // every connection goes to the next thread in turn
  auto turn = [&] { return next++ % workers_.size(); };
  for (auto& w : workers_) {
    const int ready = ::epoll_create1(EPOLL_CLOEXEC);
    if (ready < 0) throw std::runtime_error(fmt::format("load: epoll_create1: {}", std::strerror(errno)));
    w->ready.emplace(w->io, ready);
    spawn(*w, read_ready(*w));
  }
  // The connections confirmed one by one (subscribers; on an echo server every connection)
  // start within the connect window, in turn, by their thread's opener.
  std::vector<std::vector<std::function<void()>>> starts(workers_.size());
  if (!lines_)
    for (auto& s : subs_) {
      const std::size_t t = turn();
      Worker& w = *(s.w = workers_[t].get());
      starts[t].push_back([this, &w, &s] { spawn(w, subscriber(s)); });
    }
  for (int j = 0; j < p_.publishers; ++j) {
    const std::size_t t = turn();
    Pub& pub = pubs_[static_cast<std::size_t>(j)];
    pub.w = workers_[t].get();
    if (lines_) subs_[static_cast<std::size_t>(j)].w = pub.w;  // the same connection
    pub.w->pubs.push_back(&pub);
    if (lines_)
      starts[t].push_back([this, &pub, j] { spawn(*pub.w, publisher(pub, j)); });
    else
      spawn(*pub.w, publisher(pub, j));
  }
  for (std::size_t t = 0; t < workers_.size(); ++t) spawn(*workers_[t], opener(*workers_[t], std::move(starts[t])));
  for (int k = 0; k < p_.slow_subscribers; ++k) {
    Worker& w = *workers_[turn()];
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

template <typename Awaitable>
void Load::spawn(Worker& w, Awaitable a) {
  co_spawn(w.io, std::move(a), [this, &w](std::exception_ptr e) {
    if (e) fail(w, e);
  });
}

void Load::fail(Worker& w, std::exception_ptr e) {
  if (w.stopping) return;  // the end of the run closed what it was using
  if (!w.error) w.error = e;
  failed_.store(true);
}

// Starts a thread's confirmable connections in turn, each once fewer than kConnectWindow are
// started and not yet confirmed, over all threads.
asio::awaitable<void> Load::opener(Worker& w, std::vector<std::function<void()>> starts) {
  asio::steady_timer poll(w.io);
  boost::system::error_code ec;
  for (auto& start : starts) {
    while (!w.stopping && opened_.load() - confirmed_.load() >= kConnectWindow) {
      poll.expires_after(kConnectPoll);
      co_await poll.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (w.stopping) co_return;
    opened_.fetch_add(1);
    start();
  }
}

// Runs `f` on every load thread, in its own io_context.
template <typename F>
void Load::on_each(F f) {
  for (auto& w : workers_) asio::post(w->io, [f, &w = *w] { f(w); });
}

// Polls `done` until it holds or `deadline` passes; says which.
template <typename F>
bool Load::wait_until(F done, Clock::time_point deadline) {
  for (;;) {
    if (failed_.load()) throw Failed{};
    if (done()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollEvery);
  }
}

// Connect, confirm every subscription, start the schedule, wait for the deliveries.
void Load::conduct(Result& r) {
  confirm_subscriptions(r);
  std::optional<metrics::Usage> broker_before;
  if (p_.broker_pid > 0) broker_before = metrics::usage_of(p_.broker_pid);
  const auto t0 = start_schedule();
  finish_publishing(r, t0);
  // What is in flight still arrives, stalled publishers or not; no longer than drain_s (and
  // not at all for a run cut short: it has failed already).
  if (r.cut_short_s == 0) wait_for_deliveries(r);
  if (broker_before) read_broker_usage(r, broker_before);
}

void Load::confirm_subscriptions(Result& r) {
  const int connections = lines_ ? p_.publishers : p_.subscribers + p_.publishers + p_.slow_subscribers;
  if (!wait_until([&] { return confirmed_.load() >= p_.subscribers; }, Clock::now() + seconds(p_.confirm_s)))
    throw std::runtime_error(
        fmt::format("only {} of {} {} ({} of {} connected) within {} s", confirmed_.load(), p_.subscribers,
                    lines_ ? "connections answered their first request" : "subscriptions confirmed", connected_.load(),
                    connections, p_.confirm_s));
  r.subscribers_confirmed = confirmed_.load();
  wait_until([] { return false; },
             Clock::now() + std::max<Clock::duration>(kProbesSettle, 2 * probe_every(p_.subscribers)));
}

// Every thread knows t0 before any thread may send: a publisher learns it before it is told
// to go (both posted to its thread, in that order); a subscriber reads it from t0_ns_ at each
// read, since a thread busy in a handler when t0 was posted could read a message before it
// ran what was posted to it.
Clock::time_point Load::start_schedule() {
  const auto t0 = Clock::now();
  t0_ns_.store(t0.time_since_epoch().count(), std::memory_order_release);
  on_each([t0](Worker& w) {
    w.t0 = t0;
    w.at_go = metrics::thread_time();
  });
  on_each([](Worker& w) {
    w.go = true;
    for (Pub* pub : w.pubs)
      if (pub->timer) pub->timer->cancel();
  });
  return t0;
}

// Waits for the publishers to finish their schedule. A broker that stops reading its
// publishers (the naive design behind a slow subscriber) must not hang the load: after the
// schedule and the drain time, they stop where they stand.
void Load::finish_publishing(Result& r, Clock::time_point t0) {
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
  on_each([](Worker& w) { w.at_sent = metrics::thread_time(); });
  if (!sent) {
    on_each([](Worker& w) {
      w.stop_publishing = true;
      boost::system::error_code ignored;
      for (Pub* pub : w.pubs) {
        if (pub->socket) pub->socket->cancel(ignored);  // a stuck write ends, telling how far it got
        if (pub->timer) pub->timer->cancel();
      }
    });
    if (!wait_until([&] { return publishers_finished_.load() == p_.publishers; }, Clock::now() + kPublishersStop))
      throw std::runtime_error("load: the publishers did not stop");
  }
  r.publishers_stalled = p_.publishers - publishers_done_.load();
  for (const auto& pub : pubs_) r.published += pub.published.load();
  r.expected = queue_ || lines_ ? r.published : r.published * p_.subscribers;
}

void Load::wait_for_deliveries(Result& r) {
  wait_until(
      [&] {
        std::int64_t distinct = 0;
        for (const auto& w : workers_) distinct += w->distinct_so_far.load(std::memory_order_relaxed);
        return distinct >= r.expected;
      },
      Clock::now() + seconds(p_.drain_s));
}

void Load::read_broker_usage(Result& r, const std::optional<metrics::Usage>& before) const {
  if (const auto after = metrics::usage_of(p_.broker_pid)) {
    const auto d = *after - *before;
    r.broker_cpu_s = d.user_s + d.sys_s;
    r.broker_vcsw = d.vcsw;
    r.broker_ivcsw = d.ivcsw;
  }
  if (const auto m = metrics::memory(p_.broker_pid)) {
    r.broker_rss_kib = m->rss_kib;
    r.broker_hwm_kib = m->hwm_kib;
  }
}

// Stops every load thread (closing its connections) and joins it.
void Load::finish() {
  on_each([](Worker& w) {
    w.at_end = metrics::thread_time();
    w.stopping = true;
    boost::system::error_code ignored;
    for (Pub* pub : w.pubs)
      if (pub->timer) pub->timer->cancel();
    for (auto& s : w.sockets) s.close(ignored);
    if (w.ready) w.ready->close(ignored);
    w.guard.reset();
  });
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
}

}  // namespace tvl::load::detail
