// libFuzzer target: what the load generator reads (load/wire.hpp, the code load/loadgen.cpp
// runs): redis replies through parse_resp, and the book's frames through parse_frames.
// parse_resp never takes more than it is given, 0 means incomplete (every strict prefix of a
// complete reply is incomplete, and a complete reply parses the same whatever follows it), the
// load generator's loop over a buffer ends, and replies split across reads, as a socket splits
// them, come out the same. parse_frames must agree with the brokers' peek_frame.
//
// An input is a byte n, then n % 8 bytes saying how the rest is split into reads (read i has
// byte i + 1 units; a unit is a byte, one more for every 128 bytes), then the bytes the load
// generator reads.
#include <algorithm>
#include <string>
#include <vector>

#include "fuzz/fuzz_input.hpp"
#include "load/wire.hpp"
#include "scenarios/fanout.hpp"

namespace {

using namespace tvl::load::wire;
using tvl::fuzz::Input;
using tvl::fuzz::Splits;

// Two replies are the same to the load generator when they count the same items and their
// first ones hold the same bytes (the items past n are left over from an earlier reply).
bool same(const Reply& a, const Reply& b) {
  if (a.n != b.n) return false;
  for (std::size_t i = 0; i < std::min(a.n, a.item.size()); ++i)
    if (a.item[i] != b.item[i]) return false;
  return true;
}

// The reply at the front of `in`, which parse_resp says takes `taken` bytes: it lies within
// them, parses the same without what follows it, and no shorter prefix of it is complete.
void check_reply(std::string_view in, std::size_t taken, const Reply& r) {
  TVL_FUZZ_CHECK(taken >= 2 && taken <= in.size());
  for (std::size_t i = 0; i < std::min(r.n, r.item.size()); ++i)
    TVL_FUZZ_CHECK(r.item[i].empty() ||
                   (r.item[i].data() >= in.data() && r.item[i].data() + r.item[i].size() <= in.data() + taken));
  Reply alone;
  TVL_FUZZ_CHECK(parse_resp(in.substr(0, taken), alone) == taken);
  TVL_FUZZ_CHECK(alone.n == r.n);
  for (std::size_t i = 0; i < std::min(r.n, r.item.size()); ++i)  // the same views, not just equal bytes
    TVL_FUZZ_CHECK(alone.item[i].data() == r.item[i].data() && alone.item[i].size() == r.item[i].size());
  const std::size_t step = taken <= 64 ? 1 : taken / 16;  // a long reply: some of its prefixes
  for (std::size_t j = 0; j < taken; j += step) {
    Reply shorter;
    TVL_FUZZ_CHECK(parse_resp(in.substr(0, j), shorter) == 0);
  }
  Reply shorter;
  TVL_FUZZ_CHECK(parse_resp(in.substr(0, taken - 1), shorter) == 0);
}

// The load generator's loop (Load::take): every complete reply at the front, handed to
// `on_reply`; the bytes used.
template <typename F>
std::size_t take_replies(std::string_view data, F&& on_reply) {
  std::size_t used = 0, rounds = 0;
  Reply reply;
  while (const std::size_t taken = parse_resp(data.substr(used), reply)) {
    on_reply(data.substr(used), taken, reply);
    used += taken;
    TVL_FUZZ_CHECK(used <= data.size() && ++rounds <= data.size());  // each round takes bytes
  }
  return used;
}

// Replies read in pieces (Load::subscriber: parse what is there, move the rest to the front)
// are the replies of the bytes parsed whole, in order, all of them.
void check_reads(std::string_view bytes, Splits splits, const std::vector<Reply>& whole) {
  std::size_t k = 0;
  std::string buffer;
  for (std::size_t fed = 0; fed < bytes.size();) {
    const std::size_t n = splits.next(bytes.size() - fed);
    buffer.append(bytes.substr(fed, n)), fed += n;
    buffer.erase(0, take_replies(buffer, [&](std::string_view, std::size_t, const Reply& r) {
                   TVL_FUZZ_CHECK(k < whole.size() && same(r, whole[k]));
                   ++k;
                 }));
  }
  TVL_FUZZ_CHECK(k == whole.size());
}

// parse_frames hands over the frames peek_frame finds in place, and uses exactly their bytes.
void check_frames(std::string_view bytes) {
  std::size_t at = 0;
  const std::size_t used = parse_frames(bytes, [&](std::string_view f) {
    const auto view = tvl::fanout::peek_frame({bytes.data() + at, bytes.size() - at}, UINT32_MAX);
    TVL_FUZZ_CHECK(view.status == tvl::fanout::FrameView::complete);
    TVL_FUZZ_CHECK(f.data() == view.payload.data() && f.size() == view.payload.size());
    at += view.size;
  });
  TVL_FUZZ_CHECK(used == at && used <= bytes.size());
  TVL_FUZZ_CHECK(tvl::fanout::peek_frame({bytes.data() + at, bytes.size() - at}, UINT32_MAX).status ==
                 tvl::fanout::FrameView::partial);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input input(data, size);
  const std::string_view plan = input.take(input.take_byte() % 8);
  const std::string_view bytes = input.rest();
  std::vector<Reply> whole;
  take_replies(bytes, [&](std::string_view at, std::size_t taken, const Reply& r) {
    check_reply(at, taken, r);
    whole.push_back(r);
  });
  const std::size_t unit = 1 + bytes.size() / 128;  // at most a few hundred reads: each parses the buffer again
  check_reads(bytes, Splits(plan, unit), whole);
  check_frames(bytes);
  return 0;
}
