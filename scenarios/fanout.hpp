// Socket fan-out: the book's message broker (Using Asyncio in Python, ch. 4, "Streams").
//
// Wire protocol, byte-compatible with the book's broker and clients:
//   frame   = 4-byte unsigned big-endian length, then that many payload bytes;
//   a client's first frame names the channel it subscribes to; every later send is two
//   frames: destination channel, then data; an empty channel frame ends the client's sends;
//   a channel starting with "/queue" delivers each message to one subscriber, round-robin;
//   any other channel (e.g. "/topic/x") delivers to every subscriber;
//   a length above the broker's maximum frame size is a protocol error: that connection is
//   closed and counted, every other client is unaffected.
//
// This header is the domain shared by every broker and client: the codec, the load's payload,
// the broker's configuration and counters. The brokers are threads/fanout.cpp and
// asyncloop/fanout.cpp behind the one signature `BrokerFn`.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tvl::fanout {

inline constexpr std::uint32_t kDefaultMaxFrame = 1u << 20;  // 1 MiB
inline constexpr std::size_t kHeaderBytes = 4;               // a frame's big-endian length

// The project's one codec for the wire's integers: a frame's length is big-endian (the book's
// struct.pack('>I')); the load's stamp fields are little-endian. Everything that reads or
// writes frames (the brokers, the load generator, the fuzz targets) uses these.
inline void put_be32(std::uint32_t v, char* p) {
  for (std::size_t i = 0; i < kHeaderBytes; ++i) p[i] = static_cast<char>(v >> (8 * (kHeaderBytes - 1 - i)));
}

inline std::uint32_t get_be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return std::uint32_t{u[0]} << 24 | std::uint32_t{u[1]} << 16 | std::uint32_t{u[2]} << 8 | std::uint32_t{u[3]};
}

// Writes v's sizeof(T) bytes, least significant first, at p; returns the byte after them.
template <typename T>
char* put_le(T v, char* p) {
  for (std::size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<char>(static_cast<std::uint64_t>(v) >> (8 * i));
  return p + sizeof(T);
}

template <typename T>
T get_le(const char* p) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return static_cast<T>(v);
}
// The line `tvl broker` prints last, before its counters as JSON; the harness reads it by this.
inline constexpr std::string_view kStatsLinePrefix = "tvl-broker-stats ";

// Appends one frame (length prefix + bytes) to `out`.
void encode_frame(std::string_view payload, std::string& out);
std::string frame(std::string_view payload);

// An incremental frame parser: feed it bytes as they arrive, in any split; take complete
// frames out. A length above the maximum puts it in the error state for good.
class FrameParser {
 public:
  explicit FrameParser(std::uint32_t max_frame = kDefaultMaxFrame) : max_frame_(max_frame) {}

  // Consumes bytes; returns false once a frame is too long (the connection must be closed).
  bool feed(std::span<const char> bytes);
  bool feed(std::string_view bytes) { return feed(std::span<const char>(bytes.data(), bytes.size())); }

  // The next complete frame, if any.
  std::optional<std::string> next();

  bool failed() const { return failed_; }
  std::uint32_t bad_length() const { return bad_length_; }
  std::size_t buffered() const { return buffer_.size() - offset_; }

 private:
  static constexpr std::size_t kCompactAfter = 64 * 1024;  // consumed bytes kept before they are erased
  void fail(std::uint32_t length) {
    failed_ = true;
    bad_length_ = length;
  }
  std::uint32_t max_frame_;
  std::string buffer_;
  std::size_t offset_ = 0;  // start of the unconsumed bytes in buffer_
  bool failed_ = false;
  std::uint32_t bad_length_ = 0;
};

// Zero-copy parsing, for brokers that parse frames in place in the chunk they read: the frame
// at the front of `bytes`, if it is all there. `size` counts the length prefix too, so
// bytes.first(size) is the frame exactly as it goes out again to a subscriber.
struct FrameView {
  enum Status { complete, partial, too_long } status = partial;
  std::string_view payload;  // complete: the frame's bytes after the prefix
  std::size_t size = 0;      // complete: kHeaderBytes + payload.size()
  std::uint32_t length = 0;  // too_long: the length the prefix claimed
};
FrameView peek_frame(std::span<const char> bytes, std::uint32_t max_frame);

// A publisher's (channel, data) pair at the front of `bytes`, in place: complete once both
// frames are all there; `end` when the channel frame is empty (the client's sends are over).
struct PairView {
  FrameView::Status status = FrameView::partial;
  bool end = false;
  std::string_view channel;
  std::span<const char> data;   // the data frame, length prefix included
  std::span<const char> whole;  // both frames
};
PairView peek_pair(std::span<const char> bytes, std::uint32_t max_frame);

inline bool is_queue(std::string_view channel) { return channel.starts_with("/queue"); }

// The load generator's payload: who sent it, its sequence number, and when it was meant to go
// (open loop: the schedule, not the moment the send happened). Padded to the payload size.
struct Stamp {
  std::uint32_t publisher = 0;
  std::uint64_t seq = 0;
  std::int64_t intended_ns = 0;  // steady clock, since the load's start
  std::int64_t sent_ns = 0;      // when the send actually happened
};
inline constexpr std::size_t kStampBytes = 4 + 8 + 8 + 8;
std::string encode_stamp(const Stamp& s, std::size_t payload_bytes);
std::optional<Stamp> decode_stamp(std::string_view payload);

// The closed sets of a fan-out run: enums, parsed once at the edge (the command line) by
// parse_X, which throws std::invalid_argument naming the valid names, and named by name_of;
// each has one table of names (scenarios/fanout.cpp).
enum class Design { naive, improved };        // the book's prototype, or bounded queues and a writer each
enum class SlowPolicy { drop, disconnect };   // improved, a subscriber's queue full: drop the message, or it
enum class Protocol { frames, resp, lines };  // the load's wire: the book's frames ("tvl"), or redis's RESP

Design parse_design(std::string_view name);
SlowPolicy parse_slow_policy(std::string_view name);
Protocol parse_protocol(std::string_view name);
std::string_view name_of(Design d);
std::string_view name_of(SlowPolicy p);
std::string_view name_of(Protocol p);

// How a broker is run: `tvl broker --model M --design D ...`.
struct BrokerConfig {
  std::string model = "asyncloop";  // threads | asyncloop | asyncloop-mt
  Design design = Design::improved;
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  std::uint16_t port = 0;          // 0: any free port (reported through Control::listening)
  std::uint32_t max_frame = kDefaultMaxFrame;
  std::size_t queue_depth = 10'000;           // improved: messages one subscriber's send queue may hold
  std::size_t queue_bytes = 1 << 20;          // improved: bytes one subscriber's send queue may hold
  SlowPolicy slow_policy = SlowPolicy::drop;  // improved, queue full: drop the message, or disconnect
  int loops = 0;                              // asyncloop-mt: event loops (0: one per CPU this process may use)
  double flush_timeout_s = 2.0;               // on shutdown: how long queued messages may take to go out
};

// What a broker counts; printed at shutdown and checked by the harness against the load.
struct BrokerStats {
  std::int64_t accepted = 0;          // connections accepted
  std::int64_t closed = 0;            // connections closed (by either side)
  std::int64_t subscribers = 0;       // connections that sent their subscribe frame
  std::int64_t messages_in = 0;       // (channel, data) pairs received from publishers
  std::int64_t deliveries = 0;        // messages written to a subscriber
  std::int64_t dropped = 0;           // messages a full subscriber queue refused (policy drop)
  std::int64_t slow_disconnects = 0;  // subscribers closed because their queue was full
  std::int64_t protocol_errors = 0;   // connections closed for a frame over max_frame
  std::int64_t unflushed = 0;         // messages still queued when the flush timeout ran out
  std::int64_t bytes_in = 0;
  std::int64_t bytes_out = 0;

  BrokerStats& operator+=(const BrokerStats& o);  // a broker's parts' counters, summed
};

// The broker's line to the process that runs it: where it listens, and when to stop.
struct Control {
  int stop_fd = -1;  // becomes readable when the broker must shut down (SIGINT/SIGTERM)
  std::function<void(std::uint16_t port)> listening;  // called once the socket is bound
};

// Runs until stop_fd is readable: then stops accepting, flushes what is queued within
// flush_timeout_s, closes every connection, and returns its counters.
using BrokerFn = BrokerStats (*)(const BrokerConfig&, const Control&);
BrokerStats run_threads_broker(const BrokerConfig& c, const Control& ctl);    // threads/fanout.cpp
BrokerStats run_asyncloop_broker(const BrokerConfig& c, const Control& ctl);  // asyncloop/fanout.cpp
// An event loop per core: c.loops io_contexts, each run by its own thread (asyncloop/fanout_mt.cpp).
BrokerStats run_asyncloop_mt_broker(const BrokerConfig& c, const Control& ctl);

}  // namespace tvl::fanout
