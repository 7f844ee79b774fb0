// The echo server of the book's chapter 3 (Example 3-30, asyncio.start_server): a line in, the
// same line upper-cased back. Every model serves the same protocol with the same two knobs per
// request (docs/crossover.md):
//   work   W: CPU work, a calibrated spin, the same code in every model;
//   block  B: a wait the model cannot avoid, the shape of the database call in the book's ch. 4
//          asyncpg case study. A thread blocks in it; the event loop awaits a timer (an async
//          driver) or, with its executor, sends the blocking call to a pool (run_in_executor).
// What is the same whatever the model lives here: the line framing, the answer, the spin and
// the counters. threads/echo.cpp and asyncloop/echo.cpp both use it, so that diffing the two
// shows only the model change.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tvl::echo {

inline constexpr std::size_t kDefaultMaxLine = 64 * 1024;  // a longer line closes its connection
inline constexpr std::size_t kReadChunk = 16 * 1024;       // one read takes up to this much

// Where the event loop runs a request's work and wait: on the loop itself (W spins the loop's
// thread, B is an awaited timer), or on its executor, a thread pool (both are blocking there).
enum class Offload { none, executor };
Offload parse_offload(std::string_view name);  // "none" | "executor"; throws naming the valid ones
std::string_view name_of(Offload o);

// How an echo server is run: `tvl serve echo --model M ...`.
struct Config {
  std::string host = "127.0.0.1";      // loopback unless told otherwise
  std::uint16_t port = 0;              // 0: any free port (reported through Control::listening)
  std::chrono::microseconds work{0};   // W: CPU work per request
  std::chrono::microseconds block{0};  // B: an unavoidable wait per request
  Offload offload = Offload::none;     // the event loops: where W and B run
  int threads = 0;                     // pool: workers; asyncloop-mt: loops; executor: its threads (0: a default)
  std::size_t stack_kib = 0;           // threads, pool: each thread's stack (0: the system's default)
  std::size_t max_line = kDefaultMaxLine;
};

// The pool model's workers: Config::threads, or this many per CPU when it is 0. A worker serves
// one connection until it leaves, so the pool serves at most this many connections at a time.
inline constexpr int kPoolWorkersPerCpu = 8;
int pool_workers(int threads);

// Throws std::invalid_argument naming what is wrong: a stack below the system's least
// (PTHREAD_STACK_MIN), a negative thread count, a zero max_line.
void check(const Config& c);

// What a server counts; printed at shutdown and checked against the load. Shared by every
// thread or loop of one server, hence atomic; each is counted where it happens.
struct Counters {
  std::atomic<std::int64_t> accepted{0}, closed{0}, requests{0}, protocol_errors{0}, bytes_in{0}, bytes_out{0};
  std::atomic<std::int64_t> refused{0};             // connections closed at once: no thread could be started for them
  std::atomic<std::int64_t> live{0}, live_peak{0};  // connections open now, and the most at once

  void opened();
  void ended();
  void refused_one();  // a connection closed at once, unserved
};
struct Stats {
  std::int64_t accepted = 0, closed = 0, requests = 0, protocol_errors = 0, bytes_in = 0, bytes_out = 0, live_peak = 0,
               refused = 0;
};
Stats snapshot(const Counters& c);

// The server's line to the process that runs it: where it listens, and when to stop.
struct Control {
  int stop_fd = -1;  // becomes readable when the server must shut down (SIGINT/SIGTERM)
  std::function<void(std::uint16_t port)> listening;  // called once the socket is bound
};

// A connection's bytes: reads arrive at the back, complete lines leave from the front.
class Lines {
 public:
  explicit Lines(std::size_t max_line) : max_line_(max_line) {}
  // Where the next read goes.
  std::span<char> space();
  void filled(std::size_t n) { have_ += n; }
  // The next complete line, without its '\n'; nullopt when none is complete (or the line being
  // read is already longer than max_line: too_long()).
  std::optional<std::string_view> next();
  bool too_long() const { return too_long_; }

 private:
  std::size_t max_line_, used_ = 0, have_ = 0;
  bool too_long_ = false;
  std::vector<char> bytes_ = std::vector<char>(kReadChunk);
};

// `turns` turns of a loop the compiler cannot drop: the unit spin() is counted in.
void spin_turns(std::uint64_t turns);

// The request's CPU work: `work` of spinning, counted in calibrated loop turns rather than read
// off a clock, so a thread that is preempted half-way still does all of its work.
void spin(std::chrono::microseconds work);

// The reply to one line: the line upper-cased, and its '\n', appended to `out`.
void answer(std::string_view line, std::string& out);

using ServerFn = Stats (*)(const Config&, const Control&);
// Each runs until stop_fd is readable: then stops accepting, closes every connection and
// returns its counters.
Stats run_threads_echo(const Config& c, const Control& ctl);       // threads/echo.cpp: a thread per connection
Stats run_pool_echo(const Config& c, const Control& ctl);          // threads/echo_pool.cpp: a fixed pool
Stats run_asyncloop_echo(const Config& c, const Control& ctl);     // asyncloop/echo.cpp: one loop
Stats run_asyncloop_mt_echo(const Config& c, const Control& ctl);  // asyncloop/echo_mt.cpp: a loop per core

}  // namespace tvl::echo
