// The fan-out domain: the frame codec and the load's payload stamp.
#include "scenarios/fanout.hpp"

#include <stdexcept>

namespace tvl::fanout {
namespace {

void put_be32(std::uint32_t v, char* p) {
  p[0] = static_cast<char>(v >> 24), p[1] = static_cast<char>(v >> 16), p[2] = static_cast<char>(v >> 8),
  p[3] = static_cast<char>(v);
}

std::uint32_t get_be32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return std::uint32_t{u[0]} << 24 | std::uint32_t{u[1]} << 16 | std::uint32_t{u[2]} << 8 | std::uint32_t{u[3]};
}

template <typename T>
void put_le(T v, std::string& out) {
  for (std::size_t i = 0; i < sizeof(T); ++i)
    out.push_back(static_cast<char>(static_cast<std::uint64_t>(v) >> (8 * i)));
}

template <typename T>
T get_le(const char* p) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return static_cast<T>(v);
}

}  // namespace

void encode_frame(std::string_view payload, std::string& out) {
  if (payload.size() > UINT32_MAX) throw std::length_error("frame longer than 4 GiB");
  char len[4];
  put_be32(static_cast<std::uint32_t>(payload.size()), len);
  out.append(len, 4);
  out.append(payload);
}

std::string frame(std::string_view payload) {
  std::string out;
  encode_frame(payload, out);
  return out;
}

bool FrameParser::feed(std::span<const char> bytes) {
  if (failed_) return false;
  if (offset_ > 0 && offset_ == buffer_.size()) buffer_.clear(), offset_ = 0;
  buffer_.append(bytes.data(), bytes.size());
  // Check the length of the frame at the front now, so a bad length fails at once.
  if (buffer_.size() - offset_ >= 4) {
    const std::uint32_t len = get_be32(buffer_.data() + offset_);
    if (len > max_frame_) failed_ = true, bad_length_ = len;
  }
  return !failed_;
}

std::optional<std::string> FrameParser::next() {
  if (failed_ || buffer_.size() - offset_ < 4) return std::nullopt;
  const std::uint32_t len = get_be32(buffer_.data() + offset_);
  if (len > max_frame_) {
    failed_ = true, bad_length_ = len;
    return std::nullopt;
  }
  if (buffer_.size() - offset_ - 4 < len) return std::nullopt;
  std::string out = buffer_.substr(offset_ + 4, len);
  offset_ += 4 + len;
  if (offset_ == buffer_.size())
    buffer_.clear(), offset_ = 0;
  else if (offset_ > 65536 && offset_ > buffer_.size() / 2)
    buffer_.erase(0, offset_), offset_ = 0;
  // The next frame's length is known as soon as its prefix is here.
  if (buffer_.size() - offset_ >= 4 && get_be32(buffer_.data() + offset_) > max_frame_)
    failed_ = true, bad_length_ = get_be32(buffer_.data() + offset_);
  return out;
}

FrameView peek_frame(std::span<const char> bytes, std::uint32_t max_frame) {
  FrameView f;
  if (bytes.size() < 4) return f;
  f.length = get_be32(bytes.data());
  if (f.length > max_frame) {
    f.status = FrameView::too_long;
  } else if (bytes.size() - 4 >= f.length) {
    f.status = FrameView::complete;
    f.payload = std::string_view(bytes.data() + 4, f.length);
    f.size = 4 + std::size_t{f.length};
  }
  return f;
}

PairView peek_pair(std::span<const char> bytes, std::uint32_t max_frame) {
  PairView p;
  const FrameView channel = peek_frame(bytes, max_frame);
  p.status = channel.status;
  if (channel.status != FrameView::complete) return p;
  if (channel.payload.empty()) {
    p.end = true, p.whole = bytes.first(channel.size);
    return p;
  }
  const FrameView data = peek_frame(bytes.subspan(channel.size), max_frame);
  p.status = data.status;
  if (data.status != FrameView::complete) return p;
  p.channel = channel.payload;
  p.data = bytes.subspan(channel.size, data.size);
  p.whole = bytes.first(channel.size + data.size);
  return p;
}

std::string encode_stamp(const Stamp& s, std::size_t payload_bytes) {
  std::string out;
  out.reserve(std::max(payload_bytes, kStampBytes));
  put_le(s.publisher, out);
  put_le(s.seq, out);
  put_le(s.intended_ns, out);
  put_le(s.sent_ns, out);
  if (out.size() < payload_bytes) out.append(payload_bytes - out.size(), '.');
  return out;
}

std::optional<Stamp> decode_stamp(std::string_view p) {
  if (p.size() < kStampBytes) return std::nullopt;
  Stamp s;
  s.publisher = get_le<std::uint32_t>(p.data());
  s.seq = get_le<std::uint64_t>(p.data() + 4);
  s.intended_ns = get_le<std::int64_t>(p.data() + 12);
  s.sent_ns = get_le<std::int64_t>(p.data() + 20);
  return s;
}

}  // namespace tvl::fanout
