// libFuzzer target: the broker's side of the book's protocol (SPEC §6), parsed three ways that
// must agree on every byte string, however it is split: FrameParser fed piece by piece,
// peek_frame walking the bytes in place, and the brokers' own session walker (ChunkWalk over a
// ReadBuffer, as threads/fanout.cpp reads a socket). Each is also checked against the
// protocol written out here, independently; and every payload round-trips through the stamp.
//
// An input is settings, then the stream (fuzz/README.md):
//   byte 0      bits 0-1: max_frame (0: the next byte, 1: the next 4 bytes big-endian,
//               2: the default 1 MiB, 3: UINT32_MAX); bit 2: FrameParser is drained only at the
//               end, not after every piece; bit 3: a frame of about 64 KiB is inserted, so that
//               the brokers' ReadBuffer fills up and grows
//   then        a byte n, then n % 8 bytes: how the stream is split (piece i has byte i + 1
//               units; a unit is a byte, one more for every 128 bytes of the stream, or every
//               16 with the big frame)
//   bit 3 only  two bytes: the big frame's size (kReadChunk - 128 + b), after which complete frame
//   the rest    the stream of frames
#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.hpp"
#include "scenarios/fanout.hpp"
#include "scenarios/fanout_broker.hpp"

namespace {

using namespace tvl::fanout;
using tvl::fuzz::Input;
using tvl::fuzz::Splits;

std::span<const char> as_span(std::string_view s) { return {s.data(), s.size()}; }

// The frames of `bytes` by the protocol's definition, written here apart from the code under
// test: complete frames back to back, then a partial frame or a length over max_frame.
struct Walk {
  std::vector<std::string_view> frames;  // payloads, in place
  std::vector<std::size_t> ends;         // where each frame ends
  std::size_t used = 0;                  // bytes of the complete frames
  bool too_long = false;
  std::uint32_t bad_length = 0;
};

Walk reference_walk(std::string_view bytes, std::uint32_t max_frame) {
  Walk w;
  while (bytes.size() - w.used >= 4) {
    std::uint32_t len = 0;
    for (std::size_t i = 0; i < 4; ++i) len = len << 8 | static_cast<unsigned char>(bytes[w.used + i]);
    if (len > max_frame) {
      w.too_long = true, w.bad_length = len;
      break;
    }
    if (bytes.size() - w.used - 4 < len) break;
    w.frames.push_back(bytes.substr(w.used + 4, len));
    w.used += 4 + std::size_t{len};
    w.ends.push_back(w.used);
  }
  return w;
}

// What a broker makes of a client's session: its subscription, then (channel, data) pairs until
// an empty channel frame (`end`) or a frame over max_frame (`bad`).
struct Session {
  std::optional<std::string_view> subscription;
  std::vector<std::pair<std::string_view, std::string_view>> messages;  // (channel, data payload)
  bool end = false, bad = false;
};

Session reference_session(const Walk& w) {
  Session s;
  if (!w.frames.empty()) s.subscription = w.frames[0];
  for (std::size_t i = 1; i < w.frames.size(); i += 2) {
    if (w.frames[i].empty()) {
      s.end = true;
      return s;
    }
    if (i + 1 == w.frames.size()) break;  // its data frame is still coming
    s.messages.emplace_back(w.frames[i], w.frames[i + 1]);
  }
  s.bad = w.too_long;
  return s;
}

// peek_frame, frame after frame in place: the same frames as the reference, each 4 + length
// bytes that encode_frame writes again byte for byte, and the same way of ending.
void check_peek_frame(std::string_view bytes, std::uint32_t max_frame, const Walk& w) {
  std::size_t at = 0, k = 0;
  std::string again;
  for (;;) {
    const FrameView f = peek_frame(as_span(bytes).subspan(at), max_frame);
    if (f.status != FrameView::complete) {
      TVL_FUZZ_CHECK(k == w.frames.size() && at == w.used);
      TVL_FUZZ_CHECK((f.status == FrameView::too_long) == w.too_long);
      if (f.status == FrameView::too_long) TVL_FUZZ_CHECK(f.length == w.bad_length && f.length > max_frame);
      if (f.status == FrameView::partial) TVL_FUZZ_CHECK(f.size == 0 && f.payload.empty());
      return;
    }
    TVL_FUZZ_CHECK(k < w.frames.size());
    TVL_FUZZ_CHECK(f.size == 4 + f.payload.size() && f.length == f.payload.size() && f.length <= max_frame);
    TVL_FUZZ_CHECK(at + f.size <= bytes.size());
    TVL_FUZZ_CHECK(f.payload.data() == w.frames[k].data() && f.payload.size() == w.frames[k].size());
    again.clear(), encode_frame(f.payload, again);
    TVL_FUZZ_CHECK(again == bytes.substr(at, f.size));
    at += f.size, ++k;
  }
}

// FrameParser fed in pieces yields the reference's frames; drained after each piece, it has
// failed exactly when the bytes so far reach a length over max_frame, and buffers the rest.
// (The walk of the first n bytes alone is the frames of the whole walk that end within them,
// then its length over max_frame once that prefix is there, or else a frame still coming.)
void check_frame_parser(std::string_view bytes, std::uint32_t max_frame, const Walk& whole, Splits splits,
                        bool drain_each) {
  FrameParser parser(max_frame);
  std::size_t k = 0;
  auto drain = [&] {
    while (const auto f = parser.next()) {
      TVL_FUZZ_CHECK(k < whole.frames.size() && *f == whole.frames[k]);
      ++k;
    }
  };
  TVL_FUZZ_CHECK(parser.feed(std::string_view()) && parser.buffered() == 0);
  std::size_t within = 0;  // frames of the whole walk that end within the bytes fed so far
  for (std::size_t fed = 0; fed < bytes.size();) {
    const std::size_t n = splits.next(bytes.size() - fed);
    const bool ok = parser.feed(bytes.substr(fed, n));
    fed += n;
    TVL_FUZZ_CHECK(ok == !parser.failed());
    if (!drain_each) continue;
    drain();
    while (within < whole.ends.size() && whole.ends[within] <= fed) ++within;
    TVL_FUZZ_CHECK(k == within);
    TVL_FUZZ_CHECK(parser.failed() == (whole.too_long && fed >= whole.used + 4));
    if (parser.failed())
      TVL_FUZZ_CHECK(parser.bad_length() == whole.bad_length);
    else
      TVL_FUZZ_CHECK(parser.buffered() == fed - (within == 0 ? 0 : whole.ends[within - 1]));
  }
  drain();
  TVL_FUZZ_CHECK(k == whole.frames.size());
  TVL_FUZZ_CHECK(parser.failed() == whole.too_long);
  if (parser.failed()) TVL_FUZZ_CHECK(parser.bad_length() == whole.bad_length && !parser.feed(bytes.substr(0, 1)));
  if (!parser.failed()) TVL_FUZZ_CHECK(parser.buffered() == bytes.size() - whole.used);
}

// The brokers' reader (threads/fanout.cpp): read into the ReadBuffer, walk the chunk in place
// with ChunkWalk, consume what it used; stop on a bad frame or the end of the client's sends. It
// must see the reference's session: the same subscription and messages, and end the same way.
void check_broker_session(std::string_view bytes, std::uint32_t max_frame, Splits splits, const Session& expected) {
  bool subscribed = false, end = false, bad = false;
  std::size_t k = 0;  // messages seen
  ReadBuffer chunk;
  for (std::size_t fed = 0; fed < bytes.size() && !end && !bad;) {
    const std::span<char> space = chunk.space();
    TVL_FUZZ_CHECK(!space.empty());
    const std::size_t n = std::min(splits.next(bytes.size() - fed), space.size());
    std::memcpy(space.data(), bytes.data() + fed, n);
    chunk.filled(n), fed += n;
    const std::span<const char> in = chunk.bytes();
    ChunkWalk p;
    if (!subscribed)
      if (const auto name = p.subscription(in, max_frame)) {
        TVL_FUZZ_CHECK(p.used == 4 + name->size() && name->data() == in.data() + 4);
        TVL_FUZZ_CHECK(expected.subscription && *name == *expected.subscription);
        subscribed = true;
      }
    if (subscribed)
      while (const auto m = p.next(in, max_frame)) {
        TVL_FUZZ_CHECK(p.used <= in.size() && !m->end);
        TVL_FUZZ_CHECK(m->whole.data() == in.data() + p.used - m->whole.size());
        TVL_FUZZ_CHECK(m->channel.data() == m->whole.data() + 4 && !m->channel.empty());
        TVL_FUZZ_CHECK(m->data.data() == m->whole.data() + 4 + m->channel.size());
        TVL_FUZZ_CHECK(m->whole.size() == 4 + m->channel.size() + m->data.size() && m->data.size() >= 4);
        const FrameView data = peek_frame(m->data, max_frame);
        TVL_FUZZ_CHECK(data.status == FrameView::complete && data.size == m->data.size());
        TVL_FUZZ_CHECK(k < expected.messages.size() && m->channel == expected.messages[k].first &&
                       data.payload == expected.messages[k].second);
        ++k;
      }
    TVL_FUZZ_CHECK(p.used <= in.size() && !(p.bad && p.end));
    bad = p.bad, end = p.end;
    if (!p.bad && !p.end) {  // what is left is the start of a frame still coming
      const auto rest = in.subspan(p.used);
      TVL_FUZZ_CHECK((subscribed ? peek_pair(rest, max_frame).status : peek_frame(rest, max_frame).status) ==
                     FrameView::partial);
    }
    const std::size_t left = in.size() - p.used;
    chunk.consume(p.used);
    TVL_FUZZ_CHECK(chunk.bytes().size() == left);
  }
  TVL_FUZZ_CHECK(subscribed == expected.subscription.has_value() && k == expected.messages.size());
  TVL_FUZZ_CHECK(end == expected.end && bad == expected.bad);
}

// decode_stamp takes exactly the payloads long enough, and encode_stamp writes them back.
void check_stamp(std::string_view payload) {
  const auto s = decode_stamp(payload);
  TVL_FUZZ_CHECK(s.has_value() == (payload.size() >= kStampBytes));
  if (!s) return;
  const std::string again = encode_stamp(*s, payload.size());
  TVL_FUZZ_CHECK(again.size() == payload.size());
  TVL_FUZZ_CHECK(again.compare(0, kStampBytes, payload, 0, kStampBytes) == 0);
  TVL_FUZZ_CHECK(again.find_first_not_of('.', kStampBytes) == std::string::npos);
  const auto back = decode_stamp(encode_stamp(*s, 0));
  TVL_FUZZ_CHECK(back && back->publisher == s->publisher && back->seq == s->seq &&
                 back->intended_ns == s->intended_ns && back->sent_ns == s->sent_ns);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input input(data, size);
  const std::uint8_t mode = input.take_byte();
  std::uint32_t max_frame = kDefaultMaxFrame;
  switch (mode & 3) {
    case 0:
      max_frame = input.take_byte();
      break;
    case 1:
      max_frame = input.take_u32();
      break;
    case 2:
      break;
    default:
      max_frame = UINT32_MAX;
  }
  const bool drain_each = (mode & 4) == 0, big = (mode & 8) != 0;
  const std::string_view plan = input.take(input.take_byte() % 8);
  std::size_t big_size = 0, big_after = 0;
  if (big) big_size = kReadChunk - 128 + input.take_byte(), big_after = input.take_byte();
  std::string stream(input.rest());
  if (big) {  // after a complete frame, so that it lands where a frame starts
    const Walk w = reference_walk(stream, UINT32_MAX);
    std::size_t at = 0;
    for (std::size_t i = 0; i < big_after % (w.frames.size() + 1); ++i) at += 4 + w.frames[i].size();
    stream.insert(at, frame(std::string(big_size, 'b')));
  }
  // At most a few hundred pieces (each costs a walk), a few dozen for a big frame (each moves it).
  const std::size_t unit = 1 + stream.size() / (big ? 16 : 128);

  const Walk whole = reference_walk(stream, max_frame);
  check_peek_frame(stream, max_frame, whole);
  check_frame_parser(stream, max_frame, whole, Splits(plan, unit), drain_each);
  check_broker_session(stream, max_frame, Splits(plan, unit), reference_session(whole));
  check_stamp(std::string_view(stream).substr(0, 256));
  for (const std::string_view f : whole.frames) check_stamp(f.substr(0, 256));
  return 0;
}
