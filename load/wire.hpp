// What the load generator reads off the wire, parsed in place in its read buffer: the book's
// length-prefixed frames, and just enough RESP (redis) for PUBLISH/SUBSCRIBE. Header-only and
// standard library only, so that the fuzz targets (fuzz/) run the very code the load runs.
#pragma once

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tvl::load::wire {

inline std::uint32_t get_be32(const char* p) {
  return std::uint32_t{static_cast<unsigned char>(p[0])} << 24 | std::uint32_t{static_cast<unsigned char>(p[1])} << 16 |
         std::uint32_t{static_cast<unsigned char>(p[2])} << 8 | std::uint32_t{static_cast<unsigned char>(p[3])};
}

// Hands every complete frame at the front of `in` to `on_frame`; returns the bytes used.
template <typename F>
std::size_t parse_frames(std::string_view in, F&& on_frame) {
  std::size_t at = 0;
  while (in.size() - at >= 4) {
    const std::size_t len = get_be32(in.data() + at);
    if (in.size() - at - 4 < len) break;
    on_frame(in.substr(at + 4, len));
    at += 4 + len;
  }
  return at;
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

}  // namespace tvl::load::wire
