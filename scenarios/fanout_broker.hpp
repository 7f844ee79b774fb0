// What every fan-out broker does the same whatever its concurrency model: reading a client's
// session off its socket (SPEC §6), keeping the channel registry, gathering a run of messages
// to one channel, and the bounded subscriber buffer's rule. threads/fanout.cpp and
// asyncloop/fanout.cpp both use these (and scenarios/fanout_session.hpp, built on them), so
// that diffing the two shows only the model change: a thread per connection and a lock in the
// first, a coroutine per connection on one loop's thread and no lock in the second.
//
// Everything is in place and allocation-free on the way of a message: the session walks the
// reader's own chunk, and a channel is found by the string_view that points into it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "scenarios/fanout.hpp"

namespace tvl::fanout {

inline constexpr std::size_t kReadChunk = 64 * 1024;    // one read takes up to this much
inline constexpr std::size_t kKeepBuffer = 256 * 1024;  // an emptied output buffer bigger than this is freed

// Throws std::invalid_argument, naming `who`, for a bound no broker has.
void check_config(const BrokerConfig& c, const Control& ctl, const std::string& who);

// A reader's buffer: bytes arrive at the back, whole frames are handled where they lie and
// leave from the front. It starts at one chunk and grows only for a pair bigger than that.
class ReadBuffer {
 public:
  // Where the next read goes (never empty).
  std::span<char> space() {
    if (have_ == capacity_) {
      auto bigger = std::make_unique_for_overwrite<char[]>(capacity_ *= 2);
      std::memcpy(bigger.get(), bytes_.get(), have_);
      bytes_ = std::move(bigger);
    }
    return {bytes_.get() + have_, capacity_ - have_};
  }
  void filled(std::size_t n) { have_ += n; }
  std::span<const char> bytes() const { return {bytes_.get(), have_}; }
  // The first `used` bytes are handled; the start of a pair still coming moves to the front.
  void consume(std::size_t used) {
    have_ -= used;
    std::memmove(bytes_.get(), bytes_.get() + used, have_);
  }
  void clear() { have_ = 0; }

 private:
  std::size_t capacity_ = kReadChunk;
  std::size_t have_ = 0;
  std::unique_ptr<char[]> bytes_ = std::make_unique_for_overwrite<char[]>(capacity_);  // untouched pages cost no RSS
};

// One chunk of a client's session, walked in place: the subscribe frame (a client's first),
// then (channel, data) pairs until the bytes run out, a frame is over max_frame (`bad`: close
// this connection), or the empty channel frame ends the client's sends (`end`). `used` counts
// the bytes handled; what follows is the start of a frame still coming.
struct ChunkWalk {
  std::size_t used = 0;
  bool bad = false;
  bool end = false;

  // The channel the client subscribes to, once its first frame is all there.
  std::optional<std::string_view> subscription(std::span<const char> bytes, std::uint32_t max_frame) {
    const FrameView f = peek_frame(bytes.subspan(used), max_frame);
    bad = f.status == FrameView::too_long;
    if (f.status != FrameView::complete) return std::nullopt;
    used += f.size;
    return f.payload;
  }

  // The next (channel, data) pair after `used`.
  std::optional<PairView> next(std::span<const char> bytes, std::uint32_t max_frame) {
    if (end || bad) return std::nullopt;
    const PairView m = peek_pair(bytes.subspan(used), max_frame);
    if (m.status != FrameView::complete) {
      bad = m.status == FrameView::too_long;
      return std::nullopt;
    }
    used += m.whole.size();
    end = m.end;
    if (m.end) return std::nullopt;
    return m;
  }
};

struct NameHash {  // lets a channel be looked up by the string_view that points into a chunk
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// What a channel holds beyond its subscribers: nothing, unless a broker says otherwise.
struct NoExtra {
  bool held() const { return false; }  // true keeps a channel with no subscribers of its own
};

// Channel name -> its subscribers, and whose turn it is on a /queue channel. A channel goes
// once its last subscriber leaves, so that random channel names do not pile up. It takes no
// lock: the threads broker guards it with its own, each event loop keeps one of its own.
// `Cursor` is the round-robin count's type (std::atomic when readers share the registry under a
// shared lock); `Extra`, what a broker keeps per channel besides (asyncloop-mt: other loops').
template <typename Sub, typename Cursor = std::size_t, typename Extra = NoExtra>
class Registry {
 public:
  struct Channel : Extra {
    std::vector<Sub> subscribers;
    Cursor next{0};
    // /queue: one subscriber per message, in turn.
    const Sub& take_turn() { return subscribers[next++ % subscribers.size()]; }
  };

  Channel* find(std::string_view name) {
    const auto it = channels_.find(name);
    return it == channels_.end() ? nullptr : &it->second;
  }
  Channel& entry(const std::string& name) { return channels_.try_emplace(name).first->second; }

  Channel& add(const std::string& name, Sub s) {
    Channel& ch = entry(name);
    ch.subscribers.push_back(std::move(s));
    return ch;
  }
  void remove(const std::string& name, const Sub& s) {
    const auto it = channels_.find(name);
    std::erase(it->second.subscribers, s);
    release(it);
  }
  // A channel whose Extra changed: it goes if nothing holds it any more.
  void release(const std::string& name) { release(channels_.find(name)); }

 private:
  using Map = std::unordered_map<std::string, Channel, NameHash, std::equal_to<>>;
  void release(typename Map::iterator it) {
    if (it != channels_.end() && it->second.subscribers.empty() && !it->second.held()) channels_.erase(it);
  }
  Map channels_;
};

// A reader's run of messages to one channel, gathered from its chunk: their frames back to
// back and where each ends, so that each subscriber takes the run with one append.
struct Run {
  std::string_view channel;  // points into the reader's chunk
  std::vector<char> frames;
  std::vector<std::size_t> ends;

  void add(std::span<const char> frame) {
    frames.insert(frames.end(), frame.begin(), frame.end());
    ends.push_back(frames.size());
  }
  bool empty() const { return ends.empty(); }
  void clear() {
    frames.clear();
    ends.clear();
  }
};

// How many of a run's frames (ends[k]: where the (k+1)th ends) a subscriber's bounded buffer
// takes, holding `queued` frames and `held` bytes: as many as stay within queue_depth and
// queue_bytes. An empty buffer takes one frame of any size, so no frame is too big to deliver.
inline std::size_t fits(const BrokerConfig& c, std::span<const std::size_t> ends, std::size_t queued,
                        std::size_t held) {
  std::size_t take = std::min(ends.size(), c.queue_depth - std::min(c.queue_depth, queued));
  if (take > 0 && held + ends[take - 1] > c.queue_bytes)
    take = static_cast<std::size_t>(std::upper_bound(ends.begin(), ends.begin() + static_cast<std::ptrdiff_t>(take),
                                                     c.queue_bytes - std::min(c.queue_bytes, held)) -
                                    ends.begin());
  if (take == 0 && held == 0) take = 1;
  return take;
}

}  // namespace tvl::fanout
