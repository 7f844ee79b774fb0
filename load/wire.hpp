// The load generator's wire, both ways. What it reads, parsed in place in its read buffer: the
// book's length-prefixed frames, and just enough RESP (redis) for PUBLISH/SUBSCRIBE. What it
// writes: one publish laid out once, only its stamp rewritten per message. Header-only, on the
// standard library and scenarios/fanout.hpp alone, so that the fuzz targets (fuzz/) run the very
// code the load runs.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "scenarios/fanout.hpp"

namespace tvl::load::wire {

using fanout::get_be32;
using fanout::kHeaderBytes;
using fanout::put_le;

// Hands every complete frame at the front of `in` to `on_frame`; returns the bytes used.
template <typename F>
std::size_t parse_frames(std::string_view in, F&& on_frame) {
  std::size_t at = 0;
  while (in.size() - at >= kHeaderBytes) {
    const std::size_t len = get_be32(in.data() + at);
    if (in.size() - at - kHeaderBytes < len) break;
    on_frame(in.substr(at + kHeaderBytes, len));
    at += kHeaderBytes + len;
  }
  return at;
}

// Hands every complete line at the front of `in` (without its '\n') to `on_line`; returns the
// bytes used. The echo server's wire: a line in, the line upper-cased back.
template <typename F>
std::size_t parse_lines(std::string_view in, F&& on_line) {
  std::size_t at = 0;
  for (std::size_t end = in.find('\n'); end != std::string_view::npos; end = in.find('\n', at)) {
    on_line(in.substr(at, end - at));
    at = end + 1;
  }
  return at;
}

// An echo request's stamp, as text the server's upper-casing leaves alone: the publisher (8
// upper-case hex digits), then the sequence number, the intended and the actual send time (16
// each), then lower-case padding that the answer must bring back upper-cased.
inline constexpr std::size_t kLineStampChars = 8 + 16 + 16 + 16;
inline constexpr char kLinePadding = 'x';

inline char* put_hex(std::uint64_t v, std::size_t digits, char* out) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  for (std::size_t i = digits; i-- > 0; v >>= 4) out[i] = kHex[v & 0xF];
  return out + digits;
}

inline std::optional<std::uint64_t> get_hex(std::string_view s) {
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// The stamp of an echo server's answer; nullopt when it is not one of ours, or its padding did
// not come back upper-cased (the server did not do its work).
inline std::optional<fanout::Stamp> decode_line_stamp(std::string_view line) {
  if (line.size() < kLineStampChars) return std::nullopt;
  const auto publisher = get_hex(line.substr(0, 8));
  const auto seq = get_hex(line.substr(8, 16));
  const auto intended = get_hex(line.substr(24, 16));
  const auto sent = get_hex(line.substr(40, 16));
  if (!publisher || !seq || !intended || !sent) return std::nullopt;
  if (line.substr(kLineStampChars).find_first_not_of('X') != std::string_view::npos) return std::nullopt;
  return fanout::Stamp{static_cast<std::uint32_t>(*publisher), *seq, static_cast<std::int64_t>(*intended),
                       static_cast<std::int64_t>(*sent)};
}

// RESP (redis) is parsed just far enough for PUBLISH/SUBSCRIBE: arrays of bulk strings and
// integers. `item` views the reply's first elements in the buffer; `n` counts them all.
struct Reply {
  std::size_t n = 0;
  std::array<std::string_view, 3> item{};
};

// Parses the reply at the front of `in`; returns the bytes it takes, 0 when it is incomplete.
inline std::size_t parse_resp(std::string_view in, Reply& r) {
  std::size_t at = 0;
  auto line = [&](std::string_view& out) {
    const auto end = in.find("\r\n", at);
    if (end == std::string_view::npos) return false;
    out = in.substr(at, end - at);
    at = end + 2;
    return true;
  };
  auto number = [](std::string_view s) {
    long v = 0;
    std::from_chars(s.data() + 1, s.data() + s.size(), v);
    return v;
  };
  std::string_view head;
  r.n = 0;
  if (!line(head)) return 0;
  if (head.empty()) return at;
  const long count = head[0] == '*' ? number(head) : 1;
  for (long i = 0; i < count; ++i) {
    std::string_view h = head, item;
    if (head[0] == '*' && !line(h)) return 0;
    if (h.empty()) {  // not RESP: passed over, never waited on
    } else if (h[0] == '$') {
      const long len = number(h);
      if (len > 0) {  // at <= in.size() here, so the room left cannot wrap, however big len is
        if (in.size() - at < static_cast<std::size_t>(len) + 2) return 0;
        item = in.substr(at, static_cast<std::size_t>(len));
        at += static_cast<std::size_t>(len) + 2;
      } else if (len == 0) {
        if (in.size() - at < 2) return 0;
        at += 2;
      }
    } else {
      item = h.substr(1);  // :integer, +simple, -error
    }
    if (r.n < r.item.size()) r.item[r.n] = item;
    ++r.n;
  }
  return at;
}

// --- Writing.

// A RESP command: an array of bulk strings.
inline std::string resp_command(std::initializer_list<std::string_view> args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (auto a : args) {
    out += "$" + std::to_string(a.size()) + "\r\n";
    out += a;
    out += "\r\n";
  }
  return out;
}

// One publish as it goes on the wire. Every message of a run has the same size, so a batch is
// laid out once and only its stamps are rewritten, and a count of bytes written says how many
// messages went out.
class Publish {
 public:
  Publish(fanout::Protocol protocol, std::string_view channel, std::size_t payload_bytes)
      : lines_(protocol == fanout::Protocol::lines) {
    if (lines_) {  // an echo request: the stamp, the padding, '\n'; payload_bytes counts them all
      one_ = std::string(std::max(payload_bytes, kLineStampChars + 1) - 1, kLinePadding) + '\n';
      return;
    }
    const bool resp = protocol == fanout::Protocol::resp;
    const std::string payload = fanout::encode_stamp({}, payload_bytes);  // the padding is fixed
    constexpr std::size_t kRespTrailer = 2;                               // the "\r\n" after a bulk string
    one_ = resp ? resp_command({"PUBLISH", channel, payload}) : fanout::frame(channel) + fanout::frame(payload);
    stamp_at_ = one_.size() - payload.size() - (resp ? kRespTrailer : 0);
  }

  std::size_t size() const { return one_.size(); }

  // Makes `batch` hold at least n messages (their stamps still to be written).
  void lay_out(std::string& batch, std::size_t n) const {
    while (batch.size() < n * one_.size()) batch += one_;
  }

  // Writes the stamp of message i of the batch, byte for byte what fanout::encode_stamp writes.
  void stamp(std::string& batch, std::size_t i, const fanout::Stamp& s) const {
    char* p = batch.data() + i * one_.size() + stamp_at_;
    if (lines_) {
      p = put_hex(s.publisher, 8, p);
      p = put_hex(s.seq, 16, p);
      p = put_hex(static_cast<std::uint64_t>(s.intended_ns), 16, p);
      put_hex(static_cast<std::uint64_t>(s.sent_ns), 16, p);
      return;
    }
    p = put_le(s.publisher, p);
    p = put_le(s.seq, p);
    p = put_le(s.intended_ns, p);
    put_le(s.sent_ns, p);
  }

 private:
  bool lines_ = false;
  std::string one_;
  std::size_t stamp_at_ = 0;
};

}  // namespace tvl::load::wire
