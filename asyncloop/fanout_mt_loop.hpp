// One of asyncloop-mt's event loops (asyncloop/fanout_mt.cpp): an io_context, the thread that
// runs it, the connections it owns, its registry, and the hand-offs to and from the other loops.
#pragma once

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
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
#include "scenarios/fanout_session.hpp"

namespace tvl::fanout::mt {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);  // errors come back as values

constexpr int kHandoffsInFlight = 16;                           // a loop's batches posted and not yet handled, at most
constexpr auto kRoundPoll = std::chrono::milliseconds(2);       // shutdown: how often the loops' answers are checked
constexpr auto kAcceptBackoff = std::chrono::milliseconds(10);  // out of descriptors: wait for one to be freed

// Every client: each one subscribes with its first frame, and any of them may publish after.
struct Connection {
  explicit Connection(tcp::socket s) : socket(std::move(s)) {}
  tcp::socket socket;
  std::string channel;
  bool subscribed = false;
  bool open = true;
  Outbox box;            // whole frames still to be written
  bool dirty = false;    // on the loop's list of buffers to write once the chunk is handled
  bool waiting = false;  // the socket was full: a wait for writability is pending
};
using ConnectionPtr = std::shared_ptr<Connection>;

// What a channel holds on one loop beyond its own subscribers (the registry's): how many each
// loop has. The channel stays while any loop has one.
struct SubscribersPerLoop {
  std::vector<std::size_t> per_loop;  // this loop's entry is subscribers.size()
  std::size_t total = 0;              // on every loop
  std::size_t next_any = 0;           // /queue: whose turn among all loops (the registry's: here)
  bool held() const { return total > 0; }
};
using Channels = Registry<ConnectionPtr, std::size_t, SubscribersPerLoop>;
using Channel = Channels::Channel;

// A chunk's messages for other loops, shared by all of them: the (channel, data) pairs as the
// publisher sent them and, for each pair on a /queue channel, the one loop that delivers it.
struct Handoff {
  std::vector<char> pairs;
  std::vector<std::size_t> queue_targets;
};

// One event loop: an io_context, the thread that runs it, and everything that thread owns.
class Loop {
 public:
  Loop(const BrokerConfig& c, std::vector<std::unique_ptr<Loop>>& all, std::size_t index)
      : ctx(1),
        c_(c),
        drop_(c.slow_policy == SlowPolicy::drop),
        all_(all),
        index_(index),
        busy_(ctx.get_executor()),
        caught_up_(ctx) {
    caught_up_.expires_at(asio::steady_timer::time_point::max());
  }

  asio::io_context ctx;
  BrokerStats stats;
  std::atomic<int> reported{0};  // shutdown: the last round answered, and whether all was quiet
  std::atomic<bool> quiet{false};

  // The reader: the client's first frame subscribes it, then (channel, data) pairs until an
  // empty channel ends its sends.
  asio::awaitable<void> serve(tcp::socket socket) {
    const auto s = std::make_shared<Connection>(std::move(socket));
    connections_.insert(s);
    ++readers_;
    ReadBuffer chunk;
    bool sending = true;
    while (!stopping_ && s->open && sending) {
      if (outstanding_ > kHandoffsInFlight) {  // the other loops are behind: let them catch up
        ++catch_up_waiters_;
        co_await caught_up_.async_wait(use_tuple);
        --catch_up_waiters_;
        continue;
      }
      const auto space = chunk.space();
      auto [ec, n] = co_await s->socket.async_read_some(asio::buffer(space.data(), space.size()), use_tuple);
      if (ec) break;  // end of stream, reset, or closed by us
      stats.bytes_in += static_cast<std::int64_t>(n);
      chunk.filled(n);
      const auto bytes = chunk.bytes();
      ChunkWalk p;
      if (!s->subscribed) subscribe_on_first_frame(s, bytes, p);
      if (s->subscribed && !p.bad) distribute(bytes, p);
      if (p.bad) {  // a frame over max_frame: this connection goes, nobody else notices
        ++stats.protocol_errors;
        close(s);
        break;
      }
      sending = !p.end;  // an empty channel frame: the client said goodbye, and is closed
      chunk.consume(p.used);
    }
    --readers_;
    if (!stopping_) close(s);  // on shutdown finish() closes, once the buffers are flushed
  }

  // Another loop's chunk: deliver what is for this loop's subscribers, then say it is done.
  void receive(const std::shared_ptr<const Handoff>& batch, Loop& from) {
    ChunkWalk p;
    distribute(batch->pairs, p, batch.get());
    asio::post(from.ctx, [&from] { from.handed_back(); });
  }

  // Another loop's subscribers on `name` went up or down by one.
  void subscribers_changed(const std::string& name, std::size_t loop, int delta) {
    Channel& ch = entry(name);
    ch.per_loop[loop] += static_cast<std::size_t>(delta);
    ch.total += static_cast<std::size_t>(delta);
    channels_.release(name);
  }

  // Shutdown, in three steps: stop reading; answer whether anything is left to write (until
  // all is quiet or the flush time is up); count what is left and close everything.
  void stop_reading() {
    stopping_ = true;
    error_code ignored;  // a pending read returns end of stream; writes go on
    for (const auto& s : connections_) s->socket.shutdown(tcp::socket::shutdown_receive, ignored);
    caught_up_.cancel();
  }
  void report(int round) {
    std::size_t queued = 0;
    for (const auto& s : connections_) queued += s->box.queued;
    quiet.store(readers_ == 0 && outstanding_ == 0 && queued == 0, std::memory_order_relaxed);
    reported.store(round, std::memory_order_release);
  }
  void finish() {
    for (const auto& s : std::vector<ConnectionPtr>(connections_.begin(), connections_.end())) {
      stats.unflushed += static_cast<std::int64_t>(s->box.queued);
      close(s);
    }
    caught_up_.cancel();
    busy_.reset();  // with every socket closed the loop runs out of work and run() returns
  }

 private:
  // improved: every complete pair in `bytes` after p.used, from a publisher (batch null) or
  // another loop. A run of messages to one channel is gathered once and appended to each
  // subscriber's buffer in one go; the buffers are written once the whole chunk is handled.
  void distribute(std::span<const char> bytes, ChunkWalk& p, const Handoff* batch = nullptr) {
    std::size_t queue_pairs = 0;
    while (const auto m = p.next(bytes, c_.max_frame)) {
      if (!batch) ++stats.messages_in;
      if (m->channel != run_.channel) start_run(m->channel);
      if (is_queue(m->channel)) {
        const std::size_t target = batch ? batch->queue_targets[queue_pairs++] : index_;
        if (run_to_ && target == index_) deliver_one(*run_to_, *m, batch != nullptr);
      } else if (run_to_) {
        run_.add(m->data);
        if (!batch && run_to_->subscribers.size() < run_to_->total) hand_off(*run_to_, m->whole, std::nullopt);
      }
    }
    start_run({});  // the run points into this chunk
    post_handoffs();
    for (const auto& s : slow_)
      if (s->open) slow_disconnect(s);
    slow_.clear();
    for (const auto& s : dirty_) {
      s->dirty = false;
      flush(s);
    }
    dirty_.clear();
  }

  void slow_disconnect(const ConnectionPtr& s) {
    ++stats.slow_disconnects;
    close(s);
  }

  void start_run(std::string_view channel) {
    end_run();
    run_.channel = channel;
    run_to_ = channel.empty() ? nullptr : channels_.find(channel);
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
    if (!pending_) {
      pending_ = std::make_unique<Handoff>();
      targets_.assign(all_.size(), false);
    }
    pending_->pairs.insert(pending_->pairs.end(), pair.begin(), pair.end());
    if (to) {
      pending_->queue_targets.push_back(*to);
      targets_[*to] = true;
    }
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
    if (--outstanding_ <= kHandoffsInFlight && catch_up_waiters_ > 0) caught_up_.cancel();
  }

  // Appends what fits of a run of frames (frames[.. ends[k]) is the first k + 1 of them) to one
  // subscriber's buffer; the rest follows the slow policy.
  void offer(const ConnectionPtr& s, std::span<const char> frames, std::span<const std::size_t> ends) {
    if (!s->open) return;
    const std::size_t take = s->box.offer(c_, {{}, frames, ends});
    if (take > 0 && !std::exchange(s->dirty, true)) dirty_.push_back(s);
    if (take == ends.size()) return;
    if (drop_)
      stats.dropped += static_cast<std::int64_t>(ends.size() - take);
    else
      slow_.push_back(s);  // closed once the chunk is handled: closing edits the registry
  }

  // Writes what the socket takes now; waits for writability only when it is full.
  void flush(const ConnectionPtr& s) {
    while (s->open && !s->waiting && !s->box.empty()) {
      error_code ec;
      const std::span<const char> bytes = s->box.unwritten();
      const std::size_t n = s->socket.write_some(asio::buffer(bytes.data(), bytes.size()), ec);
      stats.bytes_out += static_cast<std::int64_t>(n);
      stats.deliveries += static_cast<std::int64_t>(s->box.written(n));
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        s->waiting = true;
        s->socket.async_wait(tcp::socket::wait_write, [this, s](error_code e) {
          s->waiting = false;
          if (!e) flush(s);
        });
      } else if (ec) {
        close(s);
      }
    }
  }

  Channel& entry(const std::string& name) {
    Channel& ch = channels_.entry(name);
    if (ch.per_loop.empty()) ch.per_loop.assign(all_.size(), 0);  // a new channel
    return ch;
  }

  void subscribe_on_first_frame(const ConnectionPtr& s, std::span<const char> bytes, ChunkWalk& p) {
    const auto name = p.subscription(bytes, c_.max_frame);
    if (!name) return;
    s->channel = *name;
    Channel& ch = entry(s->channel);
    ch.subscribers.push_back(s);
    ++ch.per_loop[index_];
    ++ch.total;
    s->subscribed = true;
    ++stats.subscribers;
    announce(s->channel, +1);
  }
  void unsubscribe(const ConnectionPtr& s) {
    Channel& ch = *channels_.find(s->channel);
    --ch.per_loop[index_];
    --ch.total;
    channels_.remove(s->channel, s);
    announce(s->channel, -1);
  }
  // The other loops learn of it in the order things happened here: a post from this loop to
  // another runs before anything this loop posts there later, and before that loop reads what
  // a client sent once it saw the subscription take effect here.
  void announce(const std::string& name, int delta) {
    for (const auto& l : all_)
      if (l.get() != this)
        asio::post(l->ctx, [to = l.get(), name, from = index_, delta] { to->subscribers_changed(name, from, delta); });
  }

  // Once, whoever notices first: the reader, a failed write, a slow queue, or the shutdown.
  void close(const ConnectionPtr& s) {
    if (!s->open) return;
    s->open = false;
    if (s->subscribed) unsubscribe(s);
    error_code ignored;
    s->socket.close(ignored);  // its reads and waits complete with operation_aborted
    connections_.erase(s);
    ++stats.closed;
  }

  const BrokerConfig& c_;
  const bool drop_;
  std::vector<std::unique_ptr<Loop>>& all_;  // every loop, this one included
  const std::size_t index_;
  asio::executor_work_guard<asio::io_context::executor_type> busy_;  // keeps run() going until finish()
  Channels channels_;
  std::unordered_set<ConnectionPtr> connections_;  // every open connection, subscribed or not
  int readers_ = 0;                                // readers still running (shutdown waits for them)
  bool stopping_ = false;
  // The chunk being distributed: the current run of one channel's frames, the buffers to write
  // once it is done, the subscribers to disconnect, the batch for other loops.
  Run run_;
  Channel* run_to_ = nullptr;         // run_.channel's entry here, if it has one
  std::vector<ConnectionPtr> dirty_;  // the buffers to write once the chunk is handled
  std::vector<ConnectionPtr> slow_;   // the subscribers to disconnect then
  std::unique_ptr<Handoff> pending_;
  std::vector<bool> targets_;
  int outstanding_ = 0;           // batches posted to other loops and not yet handled there
  int catch_up_waiters_ = 0;      // readers waiting for outstanding_ to come down
  asio::steady_timer caught_up_;  // ... here; cancelled when it does
};

}  // namespace tvl::fanout::mt
