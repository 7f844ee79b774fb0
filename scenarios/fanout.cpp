// The fan-out domain: the frame codec and the load's payload stamp.
#include "scenarios/fanout.hpp"

#include "scenarios/names.hpp"

#include <array>
#include <stdexcept>
#include <utility>

namespace tvl::fanout {

void encode_frame(std::string_view payload, std::string& out) {
  if (payload.size() > UINT32_MAX) throw std::length_error("frame longer than 4 GiB");
  char len[kHeaderBytes];
  put_be32(static_cast<std::uint32_t>(payload.size()), len);
  out.append(len, kHeaderBytes);
  out.append(payload);
}

std::string frame(std::string_view payload) {
  std::string out;
  encode_frame(payload, out);
  return out;
}

bool FrameParser::feed(std::span<const char> bytes) {
  if (failed_) return false;
  if (offset_ > 0 && offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  }
  buffer_.append(bytes.data(), bytes.size());
  // Check the length of the frame at the front now, so a bad length fails at once.
  if (buffer_.size() - offset_ >= kHeaderBytes) {
    const std::uint32_t len = get_be32(buffer_.data() + offset_);
    if (len > max_frame_) fail(len);
  }
  return !failed_;
}

std::optional<std::string> FrameParser::next() {
  if (failed_ || buffer_.size() - offset_ < kHeaderBytes) return std::nullopt;
  const std::uint32_t len = get_be32(buffer_.data() + offset_);
  if (len > max_frame_) {
    fail(len);
    return std::nullopt;
  }
  if (buffer_.size() - offset_ - kHeaderBytes < len) return std::nullopt;
  std::string out = buffer_.substr(offset_ + kHeaderBytes, len);
  offset_ += kHeaderBytes + len;
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  } else if (offset_ > kCompactAfter && offset_ > buffer_.size() / 2) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  // The next frame's length is known as soon as its prefix is here.
  if (buffer_.size() - offset_ >= kHeaderBytes && get_be32(buffer_.data() + offset_) > max_frame_)
    fail(get_be32(buffer_.data() + offset_));
  return out;
}

FrameView peek_frame(std::span<const char> bytes, std::uint32_t max_frame) {
  FrameView f;
  if (bytes.size() < kHeaderBytes) return f;
  f.length = get_be32(bytes.data());
  if (f.length > max_frame) {
    f.status = FrameView::too_long;
  } else if (bytes.size() - kHeaderBytes >= f.length) {
    f.status = FrameView::complete;
    f.payload = std::string_view(bytes.data() + kHeaderBytes, f.length);
    f.size = kHeaderBytes + std::size_t{f.length};
  }
  return f;
}

PairView peek_pair(std::span<const char> bytes, std::uint32_t max_frame) {
  PairView p;
  const FrameView channel = peek_frame(bytes, max_frame);
  p.status = channel.status;
  if (channel.status != FrameView::complete) return p;
  if (channel.payload.empty()) {
    p.end = true;
    p.whole = bytes.first(channel.size);
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

namespace {

// Indexed by the enums' values (scenarios/names.hpp).
constexpr std::array<std::string_view, 2> kDesigns{"naive", "improved"};
constexpr std::array<std::string_view, 2> kSlowPolicies{"drop", "disconnect"};
constexpr std::array<std::string_view, 3> kProtocols{"tvl", "resp", "echo"};

}  // namespace

Design parse_design(std::string_view n) { return parse_name<Design>(kDesigns, n, "design"); }
SlowPolicy parse_slow_policy(std::string_view n) { return parse_name<SlowPolicy>(kSlowPolicies, n, "slow policy"); }
Protocol parse_protocol(std::string_view n) { return parse_name<Protocol>(kProtocols, n, "protocol"); }
std::string_view name_of(Design d) { return kDesigns[static_cast<std::size_t>(d)]; }
std::string_view name_of(SlowPolicy p) { return kSlowPolicies[static_cast<std::size_t>(p)]; }
std::string_view name_of(Protocol p) { return kProtocols[static_cast<std::size_t>(p)]; }

BrokerStats& BrokerStats::operator+=(const BrokerStats& o) {
  accepted += o.accepted;
  closed += o.closed;
  subscribers += o.subscribers;
  messages_in += o.messages_in;
  deliveries += o.deliveries;
  dropped += o.dropped;
  slow_disconnects += o.slow_disconnects;
  protocol_errors += o.protocol_errors;
  unflushed += o.unflushed;
  bytes_in += o.bytes_in;
  bytes_out += o.bytes_out;
  return *this;
}

std::string encode_stamp(const Stamp& s, std::size_t payload_bytes) {
  std::string out;
  out.reserve(std::max(payload_bytes, kStampBytes));
  out.resize(kStampBytes);
  char* p = put_le(s.publisher, out.data());
  p = put_le(s.seq, p);
  p = put_le(s.intended_ns, p);
  put_le(s.sent_ns, p);
  if (out.size() < payload_bytes) out.append(payload_bytes - out.size(), '.');
  return out;
}

std::optional<Stamp> decode_stamp(std::string_view p) {
  if (p.size() < kStampBytes) return std::nullopt;
  Stamp s;
  s.publisher = get_le<std::uint32_t>(p.data());
  const char* at = p.data() + sizeof s.publisher;
  s.seq = get_le<std::uint64_t>(at);
  s.intended_ns = get_le<std::int64_t>(at += sizeof s.seq);
  s.sent_ns = get_le<std::int64_t>(at += sizeof s.intended_ns);
  return s;
}

}  // namespace tvl::fanout
