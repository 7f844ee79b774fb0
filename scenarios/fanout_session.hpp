// A client's session as every fan-out broker reads it, whatever its concurrency model: the
// chunk it reads into, the subscription, the runs of messages it hands on, and the counters a
// reader keeps for itself. threads/fanout.cpp drives it from a reader thread that blocks,
// asyncloop/fanout.cpp from a reader coroutine; neither has any of this code of its own.
//
// Nothing here allocates on the way of a message once a session has warmed up: a run of
// messages to one channel is gathered in one buffer, and a naive broker's message is handed on
// where it lies in the chunk.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/asio/socket_base.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "scenarios/fanout.hpp"
#include "scenarios/fanout_broker.hpp"

namespace tvl::fanout {

// Messages to one channel, back to back: frames[.. ends[k]) is the first k + 1 of them.
struct Batch {
  std::string_view channel;
  std::span<const char> frames;
  std::span<const std::size_t> ends;
};

// Calls offer(subscriber, frames, ends) for each subscriber a batch goes to: every subscriber of
// a topic gets all of it; on a /queue channel each message goes to one subscriber, in turn.
template <typename Channel, typename Offer>
void for_each_target(Channel& ch, const Batch& b, Offer&& offer) {
  if (!is_queue(b.channel)) {
    for (const auto& s : ch.subscribers) offer(s, b.frames, b.ends);
    return;
  }
  std::size_t start = 0;
  for (const std::size_t end : b.ends) {
    const std::size_t size = end - start;
    offer(ch.take_turn(), b.frames.subspan(start, size), std::span(&size, 1));
    start = end;
  }
}

// An output buffer that has been written: emptied, and freed if a burst made it large.
inline void recycle(std::vector<char>& out) {
  if (out.capacity() > kKeepBuffer)
    std::vector<char>().swap(out);
  else
    out.clear();
}

// A subscriber's output buffer: whole frames waiting to be written, within the bounds. A
// writer writes unwritten() and says how much went with written(); a frame's room is free as
// soon as it is all written.
struct Outbox {
  std::vector<char> out;
  std::size_t queued = 0;   // frames from out[counted] on, not yet all written
  std::size_t head = 0;     // out[..head) is written
  std::size_t counted = 0;  // out[..counted) is counted as delivered
  std::size_t busy = 0;     // frames handed over to a writer with a buffer of its own (threads)
  std::size_t busy_bytes = 0;

  bool empty() const { return head == out.size(); }
  std::span<const char> unwritten() const { return std::span(out).subspan(head); }
  std::size_t held_bytes() const { return out.size() - head; }

  // Appends what fits of a batch, what was handed over and is not written yet counted against
  // the bounds too; returns how many frames it took. An empty buffer takes one frame of any
  // size, so no frame is too big to deliver.
  std::size_t offer(const BrokerConfig& c, const Batch& b) {
    const std::size_t take = fits(c, b.ends, queued + busy, held_bytes() + busy_bytes);
    if (take > 0)
      out.insert(out.end(), b.frames.begin(), b.frames.begin() + static_cast<std::ptrdiff_t>(b.ends[take - 1]));
    queued += take;
    return take;
  }

  // `n` more bytes are written: returns how many frames that completed.
  std::size_t written(std::size_t n) {
    head += n;
    if (empty()) {  // all of it went (the usual case): no need to walk the frames
      head = 0;
      counted = 0;
      recycle(out);
      return std::exchange(queued, 0);
    }
    std::size_t whole = 0;  // the socket took part of it: count the frames that did go out
    while (queued > 0) {
      const std::size_t end = counted + kHeaderBytes + get_be32(&out[counted]);
      if (end > head) break;
      counted = end;
      --queued;
      ++whole;
    }
    return whole;
  }

  // A writer with a buffer of its own takes everything buffered (the two buffers trade places:
  // no allocation once both have warmed up); it stays held against the bounds until the writer
  // hands the emptied buffer back with hand_back().
  void hand_over(Outbox& writers) {
    std::swap(out, writers.out);
    std::swap(queued, writers.queued);
    busy = writers.queued;
    busy_bytes = writers.held_bytes();
  }
  void hand_back() {
    busy = 0;
    busy_bytes = 0;
  }

  // Nothing more will be written: empties it and returns how many frames were not.
  std::size_t forget() {
    out.clear();
    head = 0;
    counted = 0;
    return std::exchange(queued, 0);
  }
};

// Opens a listening socket on c.host:c.port (port 0: any free one) for a broker's acceptor.
template <typename Acceptor>
void listen(Acceptor& acceptor, const BrokerConfig& c) {
  const typename Acceptor::endpoint_type at(boost::asio::ip::make_address(c.host), c.port);
  acceptor.open(at.protocol());
  acceptor.set_option(typename Acceptor::reuse_address(true));
  acceptor.bind(at);
  acceptor.listen(boost::asio::socket_base::max_listen_connections);
}

// What one reader counts, added to the broker's counters once its session ends, so that a
// message costs the broker no shared write.
struct SessionCounts {
  std::int64_t bytes_in = 0;
  std::int64_t messages_in = 0;
  std::int64_t protocol_errors = 0;

  // Adds these to the broker's counters with its own bump(counter, n) (atomic, or not).
  template <typename Bump>
  void add_to(BrokerStats& stats, Bump&& bump) const {
    bump(stats.bytes_in, bytes_in);
    bump(stats.messages_in, messages_in);
    bump(stats.protocol_errors, protocol_errors);
  }
};

// What a reader leaves to do once its chunk is handled: the buffers the chunk filled, to
// write, and the subscribers whose buffer overflowed under the disconnect policy.
template <typename ConnectionPtr>
struct ChunkWork {
  std::vector<ConnectionPtr> filled;
  std::vector<ConnectionPtr> slow;
};

// One client's session: read into space(), then take() what was read.
class ClientSession {
 public:
  ClientSession(const BrokerConfig& c, bool one_by_one) : max_frame_(c.max_frame), one_by_one_(one_by_one) {}

  // Where the next read goes (never empty).
  std::span<char> space() { return chunk_.space(); }

  // Handles `n` more bytes: the client's first frame subscribes it (subscribe(channel)); every
  // complete (channel, data) pair after it goes to deliver(batch), a run of one channel's
  // messages at a time (one message at a time if one_by_one). A naive batch points into the
  // chunk, and stays valid until next_chunk(). Returns false once the session is over: an
  // empty channel frame ended the client's sends, or a frame over max_frame was a protocol
  // error (counted).
  template <typename Subscribe, typename Deliver>
  bool take(std::size_t n, Subscribe&& subscribe, Deliver&& deliver) {
    counts_.bytes_in += static_cast<std::int64_t>(n);
    chunk_.filled(n);
    const auto bytes = chunk_.bytes();
    walk_ = ChunkWalk{};
    if (!channel_)
      if (const auto name = walk_.subscription(bytes, max_frame_)) subscribe(channel_.emplace(*name));
    if (channel_) deliver_all(bytes, deliver);
    if (walk_.bad) ++counts_.protocol_errors;
    return !walk_.bad && !walk_.end;
  }

  // The chunk's messages are handled: the start of a pair still coming moves to the front.
  void next_chunk() { chunk_.consume(walk_.used); }

  const std::optional<std::string>& channel() const { return channel_; }
  const SessionCounts& counts() const { return counts_; }

 private:
  template <typename Deliver>
  void deliver_all(std::span<const char> bytes, Deliver& deliver) {
    while (const auto m = walk_.next(bytes, max_frame_)) {
      ++counts_.messages_in;
      if (one_by_one_) {
        one_end_ = m->data.size();
        deliver(Batch{m->channel, m->data, std::span(&one_end_, 1)});
        continue;
      }
      if (m->channel != run_.channel) end_run(deliver);
      run_.channel = m->channel;
      run_.add(m->data);
    }
    end_run(deliver);
    run_.channel = {};  // it points into the chunk
  }

  template <typename Deliver>
  void end_run(Deliver& deliver) {
    if (!run_.empty()) deliver(Batch{run_.channel, run_.frames, run_.ends});
    run_.clear();
  }

  const std::uint32_t max_frame_;
  const bool one_by_one_;
  ReadBuffer chunk_;
  ChunkWalk walk_;
  std::optional<std::string> channel_;  // the subscription
  Run run_;
  std::size_t one_end_ = 0;  // a single message's end, for its batch
  SessionCounts counts_;
};

}  // namespace tvl::fanout
