// The echo server (scenarios/echo.hpp) under every model: the book's protocol answered line by
// line, a line over the limit closing only its own connection, shutdown with connections open,
// and the pool's queue. Names: echo.<model>.<what>.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "load/loadgen.hpp"
#include "load/wire.hpp"
#include "measure/process.hpp"
#include "scenarios/echo.hpp"

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace tvl::echo;

// A server on its own thread, stopped through its stop pipe.
class Running {
 public:
  Running(ServerFn fn, Config c) {
    if (::pipe(stop_) != 0) throw std::runtime_error("pipe");
    auto bound = std::make_shared<std::promise<std::uint16_t>>();
    auto port = bound->get_future();
    const Control ctl{stop_[0], [bound](std::uint16_t p) { bound->set_value(p); }};
    result_ = std::async(std::launch::async, fn, c, ctl);
    port_ = port.get();
  }
  ~Running() {
    if (result_.valid()) stop();
    ::close(stop_[0]);
    ::close(stop_[1]);
  }
  std::uint16_t port() const { return port_; }
  Stats stop() {
    if (::write(stop_[1], "x", 1) != 1) throw std::runtime_error("write");
    return result_.get();
  }

 private:
  int stop_[2] = {-1, -1};
  std::future<Stats> result_;
  std::uint16_t port_ = 0;
};

class Client {
 public:
  explicit Client(std::uint16_t port) : s_(io_) { s_.connect({asio::ip::make_address("127.0.0.1"), port}); }
  void send(std::string_view bytes) { asio::write(s_, asio::buffer(bytes)); }
  std::string line() {  // the next line, without its '\n'; empty once the server closed
    boost::system::error_code ec;
    const std::size_t n = asio::read_until(s_, asio::dynamic_buffer(in_), '\n', ec);
    if (ec) return {};
    std::string out = in_.substr(0, n - 1);
    in_.erase(0, n);
    return out;
  }
  bool closed_by_server() {  // reads to the end: true when the server closed the connection
    boost::system::error_code ec;
    asio::read(s_, asio::dynamic_buffer(in_), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }
  void close() { s_.close(); }

 private:
  asio::io_context io_;
  tcp::socket s_;
  std::string in_;
};

Config with(Offload offload = Offload::none, int threads = 0) {
  Config c;
  c.offload = offload;
  c.threads = threads;
  return c;
}

// Three clients, lines whole, split across writes and several in one write; every answer back,
// in order, and the counts add up.
void answers_each_line(ServerFn fn, Config c) {
  Running server(fn, c);
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(std::make_unique<Client>(server.port()));
  for (auto& client : clients) {
    client->send("hello, world\n");
    EXPECT_EQ(client->line(), "HELLO, WORLD");
    client->send("spl");
    client->send("it line\n");
    EXPECT_EQ(client->line(), "SPLIT LINE");
    client->send("one\ntwo\n\nthree 3!\n");
    EXPECT_EQ(client->line(), "ONE");
    EXPECT_EQ(client->line(), "TWO");
    EXPECT_EQ(client->line(), "");
    EXPECT_EQ(client->line(), "THREE 3!");
  }
  for (auto& client : clients) client->close();
  clients.clear();
  const Stats s = server.stop();
  EXPECT_EQ(s.accepted, 3);
  EXPECT_EQ(s.closed, 3);
  EXPECT_EQ(s.requests, 3 * 6);
  EXPECT_EQ(s.bytes_in, 3 * (13 + 11 + 18));
  EXPECT_EQ(s.bytes_out, 3 * (13 + 11 + 18));
  EXPECT_EQ(s.protocol_errors, 0);
}

// A line longer than max_line closes its connection and is counted; another client goes on.
void a_long_line_closes_only_its_connection(ServerFn fn, Config c) {
  c.max_line = 16;
  Running server(fn, c);
  Client good(server.port()), bad(server.port());
  bad.send(std::string(40, 'x'));
  EXPECT_TRUE(bad.closed_by_server());
  good.send("still here\n");
  EXPECT_EQ(good.line(), "STILL HERE");
  good.close();
  const Stats s = server.stop();
  EXPECT_EQ(s.protocol_errors, 1);
  EXPECT_EQ(s.requests, 1);
  EXPECT_EQ(s.closed, s.accepted);
}

// Shutdown with idle connections and a request in its wait: the server returns, every
// connection counted closed.
void stops_with_connections_open(ServerFn fn, Config c) {
  c.block = std::chrono::milliseconds(200);
  Running server(fn, c);
  Client idle(server.port()), waiting(server.port());
  waiting.send("slow\n");
  idle.send("x\n");  // answered only after its own wait: both are connected for sure
  EXPECT_EQ(idle.line(), "X");
  const Stats s = server.stop();
  EXPECT_EQ(s.accepted, 2);
  EXPECT_EQ(s.closed, 2);
}

// The work and the wait are done and the answer is the same.
void work_and_wait_change_nothing_in_the_answer(ServerFn fn, Config c) {
  c.work = std::chrono::microseconds(100);
  c.block = std::chrono::milliseconds(1);
  Running server(fn, c);
  Client client(server.port());
  for (int i = 0; i < 20; ++i) {
    client.send("ping " + std::to_string(i) + "\n");
    EXPECT_EQ(client.line(), "PING " + std::to_string(i));
  }
  client.close();
  EXPECT_EQ(server.stop().requests, 20);
}

// tvl's own load generator against the server (load/, the echo protocol): every answer comes
// back, in order, upper-cased, and the server counted every request (the probes too).
void the_load_generator_checks_every_answer(ServerFn fn, Config c) {
  c.work = std::chrono::microseconds(20);
  Running server(fn, c);
  tvl::load::Params p;
  p.port = server.port();
  p.protocol = tvl::fanout::Protocol::lines;
  p.publishers = p.subscribers = 8;
  p.rate = 4000;
  p.duration_s = 0.5;
  p.payload = 100;
  const auto r = tvl::load::run(p);
  const Stats s = server.stop();
  EXPECT_EQ(r.published, 2000);
  EXPECT_EQ(r.expected, r.published);
  EXPECT_EQ(r.delivered, r.published);
  EXPECT_EQ(r.lost, 0);
  EXPECT_EQ(r.gaps, 0);
  EXPECT_EQ(r.duplicates_or_reordered, 0);
  EXPECT_EQ(r.impossible, "");
  EXPECT_GE(s.requests, r.published + 8);  // and at least one probe per connection
  EXPECT_EQ(s.accepted, 8);
}

#define ECHO_TESTS(model, fn, config)                                                                                 \
  TEST(model, answers_each_line_upper_cased) { answers_each_line(fn, config); }                                       \
  TEST(model, a_line_over_the_limit_closes_only_its_connection) {                                                     \
    a_long_line_closes_only_its_connection(fn, config);                                                               \
  }                                                                                                                   \
  TEST(model, stops_with_connections_open) { stops_with_connections_open(fn, config); }                               \
  TEST(model, work_and_wait_change_nothing_in_the_answer) { work_and_wait_change_nothing_in_the_answer(fn, config); } \
  TEST(model, the_load_generator_checks_every_answer) { the_load_generator_checks_every_answer(fn, config); }

ECHO_TESTS(threads, run_threads_echo, with())
ECHO_TESTS(pool, run_pool_echo, with(Offload::none, 16))  // more workers than any test has connections
ECHO_TESTS(asyncloop, run_asyncloop_echo, with())
ECHO_TESTS(asyncloop_executor, run_asyncloop_echo, with(Offload::executor, 2))
ECHO_TESTS(asyncloop_mt, run_asyncloop_mt_echo, with(Offload::none, 2))

// A pool of one: a second connection waits in the queue until the first one leaves, then is served.
TEST(pool, a_connection_waits_for_a_free_worker) {
  Running server(run_pool_echo, with(Offload::none, 1));
  Client first(server.port()), second(server.port());
  first.send("first\n");
  EXPECT_EQ(first.line(), "FIRST");
  second.send("second\n");
  first.close();
  EXPECT_EQ(second.line(), "SECOND");
  second.close();
  const Stats s = server.stop();
  EXPECT_EQ(s.requests, 2);
  EXPECT_EQ(s.closed, 2);
}

// A thread per connection on a 64 KiB stack serves as well as on the default one.
TEST(threads, a_small_stack_serves) {
  Config c = with();
  c.stack_kib = 64;
  c.work = std::chrono::microseconds(50);
  answers_each_line(run_threads_echo, c);
}

TEST(lines, split_whole_and_too_long) {
  Lines lines(8);
  auto put = [&](std::string_view s) {
    auto room = lines.space();
    std::copy(s.begin(), s.end(), room.begin());
    lines.filled(s.size());
  };
  put("ab\ncd");
  EXPECT_EQ(lines.next(), "ab");
  EXPECT_EQ(lines.next(), std::nullopt);
  put("e\n\n");
  EXPECT_EQ(lines.next(), "cde");
  EXPECT_EQ(lines.next(), "");
  EXPECT_EQ(lines.next(), std::nullopt);
  EXPECT_FALSE(lines.too_long());
  put("12345678");  // eight is the most: not too long yet
  EXPECT_EQ(lines.next(), std::nullopt);
  EXPECT_FALSE(lines.too_long());
  put("9");
  EXPECT_EQ(lines.next(), std::nullopt);
  EXPECT_TRUE(lines.too_long());
}

TEST(lines, answer_upper_cases_and_ends_the_line) {
  std::string out = "A\n";
  answer("mixed Case 123 äx", out);
  EXPECT_EQ(out, "A\nMIXED CASE 123 äX\n");
}

TEST(offload, names_parse_both_ways_and_a_wrong_one_lists_the_right_ones) {
  EXPECT_EQ(parse_offload("executor"), Offload::executor);
  EXPECT_EQ(name_of(parse_offload("none")), "none");
  try {
    parse_offload("pool");
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("(valid: none, executor)"), std::string::npos) << e.what();
  }
}

}  // namespace

// `tvl serve echo` as a user runs it: a child process that says where it listens, answers a
// client, and on SIGINT stops and prints its counters.
TEST(serve, a_client_is_answered_and_sigint_prints_the_counts) {
  for (const char* model : {"threads", "pool", "asyncloop", "asyncloop-mt"}) {
    SCOPED_TRACE(model);
    tvl::process::Child child = tvl::process::spawn(
        {TVL_BINARY, "serve", "echo", "--model", model, "--port", "0", "--work-us", "10", "--threads", "2"});
    const std::string line = tvl::process::read_line(child, "listening on ", 30);
    ASSERT_FALSE(line.empty()) << child.pending;
    {
      Client client(static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1))));
      client.send("from the book\n");
      EXPECT_EQ(client.line(), "FROM THE BOOK");
    }
    const int status = tvl::process::stop(child, SIGINT, 10);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    const std::string stats = tvl::process::read_line(child, "tvl-echo-stats ", 5);
    ASSERT_FALSE(stats.empty()) << child.pending;
    const auto counts = nlohmann::json::parse(stats.substr(std::string("tvl-echo-stats ").size()));
    EXPECT_EQ(counts["requests"], 1);
    EXPECT_EQ(counts["accepted"], 1);
    EXPECT_EQ(counts["closed"], 1);
  }
}

TEST(serve, a_wrong_variant_or_a_tiny_stack_is_a_usage_error) {
  for (const auto& args : {std::vector<std::string>{"--model", "asyncloop", "--variant", "bogus"},
                           std::vector<std::string>{"--model", "threads", "--stack-kib", "4"}}) {
    std::vector<std::string> argv{TVL_BINARY, "serve", "echo"};
    argv.insert(argv.end(), args.begin(), args.end());
    const auto outcome = tvl::process::run_child(argv, 30);
    EXPECT_EQ(outcome.exit_code, 2) << outcome.output_tail;
    EXPECT_NE(outcome.output_tail.find("tvl: error: serve echo: "), std::string::npos) << outcome.output_tail;
  }
}

// The echo wire's stamp survives the server's upper-casing and says when the server did not do it.
TEST(wire, an_echo_stamp_survives_upper_casing_and_lower_case_padding_is_refused) {
  const tvl::load::wire::Publish one(tvl::fanout::Protocol::lines, "", 80);
  std::string batch;
  one.lay_out(batch, 1);
  one.stamp(batch, 0, {7, 123456789, 42, 43});
  ASSERT_EQ(batch.size(), 80u);
  ASSERT_EQ(batch.back(), '\n');
  const std::string_view line(batch.data(), batch.size() - 1);
  EXPECT_FALSE(tvl::load::wire::decode_line_stamp(line).has_value());  // the padding is still lower case
  std::string upper;
  answer(line, upper);
  const auto stamp = tvl::load::wire::decode_line_stamp(std::string_view(upper).substr(0, upper.size() - 1));
  ASSERT_TRUE(stamp.has_value());
  EXPECT_EQ(stamp->publisher, 7u);
  EXPECT_EQ(stamp->seq, 123456789u);
  EXPECT_EQ(stamp->intended_ns, 42);
  EXPECT_EQ(stamp->sent_ns, 43);
  std::size_t lines = 0;
  EXPECT_EQ(tvl::load::wire::parse_lines("a\nbc\nde", [&](std::string_view) { ++lines; }), 5u);
  EXPECT_EQ(lines, 2u);
}

// `tvl run echo`: a checked point with the server as a child; its JSON names the point and says
// the check held.
TEST(run, one_checked_point_per_model_with_its_json) {
  for (const char* model : {"threads", "asyncloop"}) {
    SCOPED_TRACE(model);
    const std::string json = ::testing::TempDir() + "echo_point.json";
    const auto outcome =
        tvl::process::run_child({TVL_BINARY, "run", "echo", "--model", model, "--connections", "4", "--rate", "2000",
                                 "--duration", "0.5", "--work-us", "10", "--json", json},
                                60);
    EXPECT_EQ(outcome.exit_code, 0) << outcome.output_tail;
    EXPECT_NE(outcome.output_tail.find("checked: every request answered once"), std::string::npos)
        << outcome.output_tail;
    std::ifstream in(json);
    const auto doc = nlohmann::json::parse(in);
    EXPECT_EQ(doc["check"], "");
    EXPECT_EQ(doc["counters"]["delivered"], 1000);
    EXPECT_GE(doc["counters"]["server_requests"].get<double>(), 1000);
    EXPECT_NE(doc["name"].get<std::string>().find("echo/" + std::string(model) + "/"), std::string::npos);
  }
}
