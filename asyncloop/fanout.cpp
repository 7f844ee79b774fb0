// The message broker on event loops: the book's mq_server (ch. 4, "Streams").
//
// An io_context run by one thread serves many connections: `asyncloop` runs one, and
// `asyncloop-mt` one per core, the way production event-loop servers use many cores; both are
// this code (one loop is K = 1). Each connection has a reader coroutine that takes large chunks
// and handles every complete frame in place, in the chunk. Two designs:
//   naive     the book's prototype: a publisher's reader writes the message to each subscriber
//             in turn and waits for each write, so every publisher moves at the pace of the
//             slowest subscriber (one loop only);
//   improved  an output buffer per subscriber, as in Redis: the reader appends each message's
//             frame (the very bytes it received, copied from the chunk) to every subscriber's
//             buffer, at most queue_depth messages and queue_bytes bytes, and once the chunk is
//             handled writes each buffer with one non-blocking send; only a socket that is
//             full waits for writability. What does not fit is dropped or disconnects that
//             subscriber. The loop never waits, and a loop busy writing is not reading: TCP
//             slows the publishers down rather than the broker reading what it must drop.
// With several loops, each owns its connections and its registry and they share nothing: a
// loop delivers a chunk to its own subscribers and hands the chunk's messages, in one shared
// buffer, to each other loop with subscribers on their channels (one asio::post per chunk and
// loop). Which loop has subscribers where is itself told by posts, so no lock is taken; within
// a loop nothing runs in parallel, and state changes only between two co_awaits.
//
// Compare with threads/fanout.cpp: the same session parse, registry and buffer rule
// (scenarios/fanout_broker.hpp); only the model changes.
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "asyncloop/loop_task.hpp"
#include "scenarios/fanout.hpp"
#include "scenarios/fanout_broker.hpp"

namespace tvl::fanout {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);  // errors come back as values

constexpr int kHandoffsInFlight = 16;  // a loop's batches posted and not yet handled, at most

// An async mutex (naive): a channel with one slot. Sending takes it, receiving gives it back.
using Lock = asio::experimental::channel<void(error_code)>;

// Every client: each one subscribes with its first frame, and any of them may publish after.
struct Subscriber {
  explicit Subscriber(tcp::socket s) : socket(std::move(s)), turn(socket.get_executor(), 1) {}
  tcp::socket socket;
  std::string channel;
  bool subscribed = false, open = true;
  // improved: the output buffer, whole frames. out[head..] is still to be written; `queued`
  // frames from out[counted] on are not all written yet (the one being written included).
  std::vector<char> out;
  std::size_t head = 0, counted = 0, queued = 0;
  bool dirty = false;    // on the loop's list of buffers to write once the chunk is handled
  bool waiting = false;  // the socket was full: a wait for writability is pending
  Lock turn;             // naive: one publisher at a time writes to this socket
};
using SubscriberPtr = std::shared_ptr<Subscriber>;

// A channel as one loop sees it: its own subscribers (the registry's), and how many each loop
// has; the channel stays while any loop has one.
struct OnLoops {
  std::vector<std::size_t> per_loop;  // this loop's entry is subscribers.size()
  std::size_t total = 0;              // on every loop
  std::size_t next_any = 0;           // /queue: whose turn among all loops (the registry's: here)
  bool held() const { return total > 0; }
};
using Channels = Registry<SubscriberPtr, std::size_t, OnLoops>;
using Channel = Channels::Channel;

// A chunk's messages for other loops, shared by all of them: the (channel, data) pairs as the
// publisher sent them and, for each pair on a /queue channel, the one loop that delivers it.
struct Handoff {
  std::vector<char> pairs;
  std::vector<std::size_t> queue_targets;
};

std::uint32_t length_at(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return std::uint32_t{u[0]} << 24 | std::uint32_t{u[1]} << 16 | std::uint32_t{u[2]} << 8 | std::uint32_t{u[3]};
}

// One event loop: an io_context, the thread that runs it, and everything that thread owns.
class Loop {
 public:
  Loop(const BrokerConfig& c, std::vector<std::unique_ptr<Loop>>& all, std::size_t index)
      : ctx(1),
        c_(c),
        naive_(c.design == "naive"),
        drop_(c.slow_policy == "drop"),
        all_(all),
        index_(index),
        busy_(ctx.get_executor()),
        room_(ctx) {
    room_.expires_at(asio::steady_timer::time_point::max());
  }

  asio::io_context ctx;
  BrokerStats stats;
  std::atomic<int> reported{0};  // shutdown: the last round answered, and whether all was quiet
  std::atomic<bool> quiet{false};

  // The reader: the client's first frame subscribes it, then (channel, data) pairs until an
  // empty channel ends its sends.
  asio::awaitable<void> serve(tcp::socket socket) {
    const auto s = std::make_shared<Subscriber>(std::move(socket));
    connections_.insert(s);
    ++readers_;
    ReadBuffer chunk;
    bool sending = true;
    while (!stopping_ && s->open) {
      if (outstanding_ > kHandoffsInFlight) {  // the other loops are behind: let them catch up
        ++room_waiters_;
        co_await room_.async_wait(use_tuple);
        --room_waiters_;
        continue;
      }
      const auto space = chunk.space();
      auto [ec, n] = co_await s->socket.async_read_some(asio::buffer(space.data(), space.size()), use_tuple);
      if (ec) break;  // end of stream, reset, or closed by us
      stats.bytes_in += static_cast<std::int64_t>(n);
      if (!sending) continue;  // its sends are over: read on only to see it leave
      chunk.filled(n);
      const auto bytes = chunk.bytes();
      Parsed p;
      if (!s->subscribed)
        if (const auto name = p.subscription(bytes, c_.max_frame)) s->channel = *name, subscribe(s);
      if (s->subscribed && !p.bad && naive_)
        co_await publish_in_turn(bytes, p);
      else if (s->subscribed && !p.bad)
        distribute(bytes, p);
      if (p.bad) {  // a frame over max_frame: this connection goes, nobody else notices
        ++stats.protocol_errors;
        close(s);
        break;
      }
      sending = !p.end;
      if (sending)
        chunk.consume(p.used);
      else
        chunk.clear();
    }
    --readers_;
    if (!stopping_) close(s);  // on shutdown finish() closes, once the buffers are flushed
  }

  // Another loop's chunk: deliver what is for this loop's subscribers, then say it is done.
  void receive(const std::shared_ptr<const Handoff>& batch, Loop& from) {
    Parsed p;
    distribute(batch->pairs, p, batch.get());
    asio::post(from.ctx, [&from] { from.handed_back(); });
  }

  // Another loop's subscribers on `name` went up or down by one.
  void count(const std::string& name, std::size_t loop, int delta) {
    Channel& ch = entry(name);
    ch.per_loop[loop] += static_cast<std::size_t>(delta), ch.total += static_cast<std::size_t>(delta);
    channels_.release(name);
  }

  // Shutdown, in three steps: stop reading; answer whether anything is left to write (until
  // all is quiet or the flush time is up); count what is left and close everything.
  void stop_reading() {
    stopping_ = true;
    error_code ignored;  // a pending read returns end of stream; writes go on
    for (const auto& s : connections_) s->socket.shutdown(tcp::socket::shutdown_receive, ignored);
    room_.cancel();
  }
  void report(int round) {
    std::size_t queued = 0;
    for (const auto& s : connections_) queued += s->queued;
    quiet.store(readers_ == 0 && outstanding_ == 0 && queued == 0, std::memory_order_relaxed);
    reported.store(round, std::memory_order_release);
  }
  void finish() {
    for (const auto& s : std::vector<SubscriberPtr>(connections_.begin(), connections_.end())) {
      stats.unflushed += static_cast<std::int64_t>(s->queued);
      close(s);
    }
    room_.cancel();
    busy_.reset();  // with every socket closed the loop runs out of work and run() returns
  }

 private:
  // improved: every complete pair in `bytes` after p.used, from a publisher (batch null) or
  // another loop. A run of messages to one channel is gathered once and appended to each
  // subscriber's buffer in one go; the buffers are written once the whole chunk is handled.
  void distribute(std::span<const char> bytes, Parsed& p, const Handoff* batch = nullptr) {
    std::size_t queue_pairs = 0;
    while (const auto m = p.next(bytes, c_.max_frame)) {
      if (!batch) ++stats.messages_in;
      if (m->channel != run_.channel) end_run(), run_.channel = m->channel, run_to_ = channels_.find(m->channel);
      if (is_queue(m->channel)) {
        const std::size_t target = batch ? batch->queue_targets[queue_pairs++] : index_;
        if (run_to_ && target == index_) deliver_one(*run_to_, *m, batch != nullptr);
      } else if (run_to_) {
        run_.add(m->data);
        if (!batch && run_to_->subscribers.size() < run_to_->total) hand_off(*run_to_, m->whole, std::nullopt);
      }
    }
    end_run();
    run_.channel = {}, run_to_ = nullptr;  // both point into this chunk
    post_handoffs();
    for (const auto& s : slow_)
      if (s->open) ++stats.slow_disconnects, close(s);
    slow_.clear();
    for (const auto& s : dirty_) s->dirty = false, flush(s);
    dirty_.clear();
  }

  void end_run() {
    if (run_to_ && !run_.empty())
      for (const auto& s : run_to_->subscribers) offer(s, run_.frames, run_.ends);
    run_.clear();
  }

  // /queue: one subscriber among all loops' in turn, or this loop's own if another loop chose
  // this one. A loop whose subscribers left meanwhile passes the message on.
  void deliver_one(Channel& ch, const PairView& m, bool handed) {
    std::size_t to = index_;
    if (!handed || ch.subscribers.empty()) {
      std::size_t slot = ch.next_any++ % ch.total;
      for (to = 0; slot >= ch.per_loop[to]; ++to) slot -= ch.per_loop[to];
    }
    if (to != index_) return hand_off(ch, m.whole, to);
    const std::size_t end = m.data.size();
    offer(ch.take_turn(), m.data, std::span(&end, 1));
  }

  // Appends a pair to this chunk's batch for other loops: for one loop (a /queue pair) or for
  // every other loop with subscribers on the channel.
  void hand_off(const Channel& ch, std::span<const char> pair, std::optional<std::size_t> to) {
    if (!pending_) pending_ = std::make_unique<Handoff>(), targets_.assign(all_.size(), false);
    pending_->pairs.insert(pending_->pairs.end(), pair.begin(), pair.end());
    if (to) pending_->queue_targets.push_back(*to), targets_[*to] = true;
    for (std::size_t j = 0; !to && j < all_.size(); ++j)
      targets_[j] = targets_[j] || (j != index_ && ch.per_loop[j] > 0);
  }

  void post_handoffs() {
    if (!pending_) return;
    const std::shared_ptr<const Handoff> batch = std::move(pending_);
    for (std::size_t j = 0; j < all_.size(); ++j)
      if (targets_[j]) {
        ++outstanding_;
        asio::post(all_[j]->ctx, [to = all_[j].get(), from = this, batch] { to->receive(batch, *from); });
      }
  }

  void handed_back() {
    if (--outstanding_ <= kHandoffsInFlight && room_waiters_ > 0) room_.cancel();
  }

  // Appends what fits of a run of frames (frames[.. ends[k]) is the first k + 1 of them) to one
  // subscriber's buffer; the rest follows the slow policy.
  void offer(const SubscriberPtr& s, std::span<const char> frames, std::span<const std::size_t> ends) {
    if (!s->open) return;
    const std::size_t take = fits(c_, ends, s->queued, s->out.size() - s->head);
    if (take > 0) {
      s->out.insert(s->out.end(), frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(ends[take - 1]));
      s->queued += take;
      if (!std::exchange(s->dirty, true)) dirty_.push_back(s);
    }
    if (take == ends.size()) return;
    if (drop_)
      stats.dropped += static_cast<std::int64_t>(ends.size() - take);
    else
      slow_.push_back(s);  // closed once the chunk is handled: closing edits the registry
  }

  // Writes what the socket takes now; waits for writability only when it is full.
  void flush(const SubscriberPtr& s) {
    while (s->open && !s->waiting && s->head < s->out.size()) {
      error_code ec;
      const std::size_t n = s->socket.write_some(asio::buffer(s->out.data() + s->head, s->out.size() - s->head), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        s->waiting = true;
        s->socket.async_wait(tcp::socket::wait_write, [this, s](error_code e) {
          s->waiting = false;
          if (!e) flush(s);
        });
      } else if (ec) {
        close(s);
      } else {
        s->head += n;
        stats.bytes_out += static_cast<std::int64_t>(n);
      }
    }
    if (s->head < s->out.size()) {  // the socket is full: count the frames that did go out
      for (std::size_t end; s->queued > 0 && (end = s->counted + 4 + length_at(&s->out[s->counted])) <= s->head;)
        s->counted = end, --s->queued, ++stats.deliveries;
    } else if (s->head > 0) {  // all of it went (the usual case): no need to walk the frames
      stats.deliveries += static_cast<std::int64_t>(std::exchange(s->queued, 0));
      s->head = s->counted = 0;
      if (s->out.capacity() > kKeepBuffer)
        std::vector<char>().swap(s->out);  // a burst's buffer is not kept for good
      else
        s->out.clear();
    }
  }

  // naive: write each message to each subscriber and wait for each write. An async_write may
  // take several system calls, so two publishers writing to one subscriber at once would
  // interleave their frames: each takes the subscriber's lock first. The pairs stay put in the
  // reader's chunk while it waits.
  asio::awaitable<void> publish_in_turn(std::span<const char> bytes, Parsed& p) {
    while (const auto m = p.next(bytes, c_.max_frame)) {
      ++stats.messages_in;
      Channel* ch = channels_.find(m->channel);
      if (!ch) continue;
      // A copy: subscribers come and go while this reader waits.
      const std::vector<SubscriberPtr> targets = is_queue(m->channel) ? std::vector{ch->take_turn()} : ch->subscribers;
      for (const auto& s : targets) {
        if (!s->open) continue;
        auto [gone] = co_await s->turn.async_send(error_code{}, use_tuple);
        if (gone) continue;  // closed while we waited for our turn
        auto [ec, n] = co_await asio::async_write(s->socket, asio::buffer(m->data.data(), m->data.size()), use_tuple);
        s->turn.try_receive([](error_code) {});
        if (ec) {
          close(s);
          continue;
        }
        ++stats.deliveries;
        stats.bytes_out += static_cast<std::int64_t>(n);
      }
    }
  }

  Channel& entry(const std::string& name) {
    Channel& ch = channels_.entry(name);
    if (ch.per_loop.empty()) ch.per_loop.assign(all_.size(), 0);  // a new channel
    return ch;
  }

  void subscribe(const SubscriberPtr& s) {
    Channel& ch = entry(s->channel);
    ch.subscribers.push_back(s), ++ch.per_loop[index_], ++ch.total;
    s->subscribed = true;
    ++stats.subscribers;
    announce(s->channel, +1);
  }
  void unsubscribe(const SubscriberPtr& s) {
    Channel& ch = *channels_.find(s->channel);
    --ch.per_loop[index_], --ch.total;
    channels_.remove(s->channel, s);
    announce(s->channel, -1);
  }
  // The other loops learn of it in the order things happened here: a post from this loop to
  // another runs before anything this loop posts there later, and before that loop reads what
  // a client sent once it saw the subscription take effect here.
  void announce(const std::string& name, int delta) {
    for (const auto& l : all_)
      if (l.get() != this)
        asio::post(l->ctx, [to = l.get(), name, from = index_, delta] { to->count(name, from, delta); });
  }

  // Once, whoever notices first: the reader, a failed write, a slow queue, or the shutdown.
  void close(const SubscriberPtr& s) {
    if (!s->open) return;
    s->open = false;
    if (s->subscribed) unsubscribe(s);
    error_code ignored;
    s->socket.close(ignored);  // its reads and waits complete with operation_aborted
    s->turn.close();
    connections_.erase(s);
    ++stats.closed;
  }

  const BrokerConfig& c_;
  const bool naive_, drop_;
  std::vector<std::unique_ptr<Loop>>& all_;  // every loop, this one included
  const std::size_t index_;
  asio::executor_work_guard<asio::io_context::executor_type> busy_;  // keeps run() going until finish()
  Channels channels_;
  std::unordered_set<SubscriberPtr> connections_;  // every open connection, subscribed or not
  int readers_ = 0;                                // readers still running (shutdown waits for them)
  bool stopping_ = false;
  // The chunk being distributed: the current run of one channel's frames, the buffers to write
  // once it is done, the subscribers to disconnect, the batch for other loops.
  Run run_;
  Channel* run_to_ = nullptr;  // run_.channel's entry here, if it has one
  std::vector<SubscriberPtr> dirty_, slow_;
  std::unique_ptr<Handoff> pending_;
  std::vector<bool> targets_;
  int outstanding_ = 0;      // batches posted to other loops and not yet handled there
  int room_waiters_ = 0;     // readers waiting for outstanding_ to come down
  asio::steady_timer room_;  // ... here; cancelled when it does
};

class Broker {
 public:
  Broker(const BrokerConfig& c, int stop_fd, std::size_t loops) : c_(c) {
    for (std::size_t i = 0; i < loops; ++i) loops_.push_back(std::make_unique<Loop>(c, loops_, i));
    asio::io_context& first = loops_.front()->ctx;
    acceptor_.emplace(first);
    stop_.emplace(first, own_copy(stop_fd));
    const tcp::endpoint at(asio::ip::make_address(c.host), c.port);
    acceptor_->open(at.protocol());
    acceptor_->set_option(tcp::acceptor::reuse_address(true));
    acceptor_->bind(at);
    acceptor_->listen(asio::socket_base::max_listen_connections);
  }

  std::uint16_t port() const { return acceptor_->local_endpoint().port(); }

  // Loop 0 runs on this thread, the others on threads of their own.
  BrokerStats run() {
    asio::io_context& first = loops_.front()->ctx;
    co_spawn(first, listener(), rethrow);
    co_spawn(first, stop_when_told(), rethrow);
    std::vector<std::exception_ptr> errors(loops_.size());
    std::vector<std::thread> threads;
    const auto run_loop = [this, &errors](std::size_t i) {
      try {
        loops_[i]->ctx.run();
      } catch (...) {
        errors[i] = std::current_exception();
        for (const auto& l : loops_) l->ctx.stop();
      }
    };
    for (std::size_t i = 1; i < loops_.size(); ++i) threads.emplace_back(run_loop, i);
    run_loop(0);
    for (auto& t : threads) t.join();
    for (const auto& e : errors)
      if (e) std::rethrow_exception(e);
    BrokerStats sum;
    for (const auto& l : loops_) {
      const BrokerStats& s = l->stats;
      sum.accepted += s.accepted, sum.closed += s.closed, sum.subscribers += s.subscribers;
      sum.messages_in += s.messages_in, sum.deliveries += s.deliveries, sum.dropped += s.dropped;
      sum.slow_disconnects += s.slow_disconnects, sum.protocol_errors += s.protocol_errors;
      sum.unflushed += s.unflushed, sum.bytes_in += s.bytes_in, sum.bytes_out += s.bytes_out;
    }
    return sum;
  }

 private:
  // The broker closes its descriptors when it is done; stop_fd stays the caller's.
  static int own_copy(int fd) {
    const int copy = ::dup(fd);
    if (copy < 0) throw std::system_error(errno, std::generic_category(), "fanout/asyncloop: dup(stop_fd)");
    return copy;
  }

  // Hands the connections to the loops in turn: the socket is registered with its loop's
  // io_context, and its reader runs there.
  asio::awaitable<void> listener() {
    asio::steady_timer backoff(loops_.front()->ctx);
    for (std::size_t next = 0; acceptor_->is_open(); next = (next + 1) % loops_.size()) {
      Loop& to = *loops_[next];
      auto [ec, socket] = co_await acceptor_->async_accept(to.ctx, use_tuple);
      if (ec == asio::error::operation_aborted || !acceptor_->is_open()) break;
      if (ec) {  // out of descriptors, most likely: give some time to be freed rather than spin
        backoff.expires_after(std::chrono::milliseconds(10));
        co_await backoff.async_wait(use_tuple);
        continue;
      }
      ++loops_.front()->stats.accepted;
      // Small frames must go out now, not wait for the peer's delayed ACK; and a write that
      // would block must say so (flush() then waits for writability instead).
      error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      socket.non_blocking(true, ignored);
      co_spawn(to.ctx, to.serve(std::move(socket)), rethrow);
    }
  }

  // Shutdown: stop accepting and reading; give the buffers flush_timeout_s to empty, asking
  // every loop in rounds (two quiet rounds in a row: a batch one loop posted in the first
  // shows in the second); then every loop counts what is left and closes everything.
  asio::awaitable<void> stop_when_told() {
    co_await stop_->async_wait(asio::posix::stream_descriptor::wait_read, use_tuple);
    error_code ignored;
    acceptor_->close(ignored);
    for (const auto& l : loops_) asio::post(l->ctx, [l = l.get()] { l->stop_reading(); });
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(c_.flush_timeout_s));
    asio::steady_timer tick(loops_.front()->ctx);  // polling is plenty for a once-per-run wait
    for (int round = 1, quiet_rounds = 0; quiet_rounds < 2 && Clock::now() < deadline; ++round) {
      for (const auto& l : loops_) asio::post(l->ctx, [l = l.get(), round] { l->report(round); });
      bool all = false;
      while (!all && Clock::now() < deadline) {
        tick.expires_after(std::chrono::milliseconds(2));
        co_await tick.async_wait(use_tuple);
        all = std::ranges::all_of(loops_, [round](const auto& l) { return l->reported.load() >= round; });
      }
      const bool quiet = all && std::ranges::all_of(loops_, [](const auto& l) { return l->quiet.load(); });
      quiet_rounds = quiet ? quiet_rounds + 1 : 0;
    }
    for (const auto& l : loops_) asio::post(l->ctx, [l = l.get()] { l->finish(); });
  }

  const BrokerConfig& c_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::optional<tcp::acceptor> acceptor_;               // on loop 0
  std::optional<asio::posix::stream_descriptor> stop_;  // readable when the broker must shut down
};

BrokerStats run_loops(const BrokerConfig& c, const Control& ctl, std::size_t loops) {
  Broker broker(c, ctl.stop_fd, loops);  // binds now: an address in use throws here, before anything runs
  if (ctl.listening) ctl.listening(broker.port());
  return broker.run();
}

}  // namespace

// The broker: every connection a coroutine on one io_context, run by this thread until
// stop_fd is readable.
BrokerStats run_asyncloop_broker(const BrokerConfig& c, const Control& ctl) {
  check_config(c, ctl, "fanout/asyncloop");
  return run_loops(c, ctl, 1);
}

// The same with c.loops io_contexts (0: one per CPU this process may run on), each run by a
// thread of its own; this thread runs the first.
BrokerStats run_asyncloop_mt_broker(const BrokerConfig& c, const Control& ctl) {
  check_config(c, ctl, "fanout/asyncloop-mt");
  if (c.design != "improved")
    throw std::invalid_argument("fanout/asyncloop-mt: only the improved design (naive runs on one loop: asyncloop)");
  if (c.loops < 0) throw std::invalid_argument("fanout/asyncloop-mt: loops must not be negative");
  std::size_t loops = static_cast<std::size_t>(c.loops);
  if (loops == 0) {
    cpu_set_t cpus;
    loops = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? static_cast<std::size_t>(CPU_COUNT(&cpus)) : 1;
  }
  return run_loops(c, ctl, std::max<std::size_t>(loops, 1));
}

}  // namespace tvl::fanout
