// The load generator's wire parsers (load/wire.hpp), on the replies redis-server sends and on
// the inputs fuzzing (fuzz/resp_fuzzer.cpp) found worth keeping: what parse_resp takes, that
// 0 means "not all here yet", and that the load generator's loop over a buffer always ends.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "load/wire.hpp"
#include "scenarios/fanout.hpp"

using namespace tvl::load::wire;
using namespace std::string_view_literals;

namespace {

// The load generator's loop (Load::take): the replies at the front of `data`; `used`, the bytes.
std::vector<Reply> replies(std::string_view data, std::size_t& used) {
  std::vector<Reply> out;
  used = 0;
  Reply r;
  while (const std::size_t taken = parse_resp(data.substr(used), r)) used += taken, out.push_back(r);
  return out;
}

constexpr auto kSubscribed = "*3\r\n$9\r\nsubscribe\r\n$11\r\n/topic/load\r\n:1\r\n"sv;  // what redis-server sends

}  // namespace

TEST(load, resp_subscribe_reply_is_three_items) {
  Reply r;
  ASSERT_EQ(parse_resp(kSubscribed, r), kSubscribed.size());
  EXPECT_EQ(r.n, 3u);
  EXPECT_EQ(r.item[0], "subscribe");
  EXPECT_EQ(r.item[1], "/topic/load");
  EXPECT_EQ(r.item[2], "1");
}

TEST(load, resp_every_strict_prefix_is_incomplete) {
  const std::string message = "*3\r\n$7\r\nmessage\r\n$11\r\n/topic/load\r\n$28\r\n" + std::string(28, 's') + "\r\n";
  Reply r;
  for (std::size_t n = 0; n < message.size(); ++n)
    EXPECT_EQ(parse_resp(std::string_view(message).substr(0, n), r), 0u) << n;
  const std::string more = message + "*3\r\n";
  ASSERT_EQ(parse_resp(more, r), message.size());  // whatever follows it
  EXPECT_EQ(r.item[0], "message");
  EXPECT_EQ(r.item[2], std::string(28, 's'));
}

// A bulk length or an array count as big as a long goes (`at + len + 2` must not wrap): the
// reply is incomplete, and nothing is read past the buffer (the fuzz target runs under ASan).
TEST(load, resp_huge_lengths_wait_for_more) {
  Reply r;
  EXPECT_EQ(parse_resp("$9223372036854775807\r\nabc\r\n", r), 0u);
  EXPECT_EQ(parse_resp("*9223372036854775807\r\n:1\r\n:2\r\n", r), 0u);
  EXPECT_EQ(parse_resp("*1\r\n$9223372036854775807\r\n", r), 0u);
}

TEST(load, resp_nulls_errors_and_integers) {
  std::size_t used = 0;
  const auto data = "$-1\r\n*-1\r\n:12345\r\n-ERR unknown command\r\n+OK\r\n*0\r\n"sv;
  const auto got = replies(data, used);
  EXPECT_EQ(used, data.size());
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0].n, 1u);
  EXPECT_EQ(got[0].item[0], "");
  EXPECT_EQ(got[1].n, 0u);
  EXPECT_EQ(got[2].item[0], "12345");
  EXPECT_EQ(got[3].item[0], "ERR unknown command");
  EXPECT_EQ(got[4].item[0], "OK");
  EXPECT_EQ(got[5].n, 0u);
}

// Found by fuzzing: an empty line is passed over as a reply of no items, and the items past n
// keep what the previous reply left there; the load generator looks at n first.
TEST(load, resp_empty_line_is_a_reply_of_no_items) {
  std::size_t used = 0;
  const auto data = "\x02\n\x01;*\x00\r\n\r\n\x19\x00\x00"sv;
  const auto got = replies(data, used);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].n, 1u);
  EXPECT_EQ(got[1].n, 0u);
  EXPECT_EQ(used, data.size() - 3);
}

TEST(load, resp_loop_ends_on_garbage) {
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk += static_cast<char>(i * 131 % 251);
  junk += "\r\n\r\n*2\r\n\r\n";
  std::size_t used = 0;
  replies(junk, used);
  EXPECT_LE(used, junk.size());
}

TEST(load, frames_parse_in_place_until_one_is_cut) {
  const std::string data =
      tvl::fanout::frame("/topic/a") + tvl::fanout::frame("") + tvl::fanout::frame("xyz").substr(0, 5);
  std::vector<std::string_view> got;
  const std::size_t used = parse_frames(data, [&](std::string_view f) { got.push_back(f); });
  EXPECT_EQ(used, data.size() - 5);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0], "/topic/a");
  EXPECT_EQ(got[0].data(), data.data() + 4);
  EXPECT_EQ(got[1], "");
}
