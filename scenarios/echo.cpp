// The echo server's parts that every model shares (scenarios/echo.hpp).
#include "scenarios/echo.hpp"

#include "scenarios/names.hpp"

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

namespace tvl::echo {
namespace {

constexpr std::array<std::string_view, 2> kOffloads{"none", "executor"};  // indexed by Offload

// The CPU time this thread has used, in microseconds.
double thread_cpu_us() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

// How many turns of spin_turns() take a microsecond of CPU on this machine, measured once: the
// median of a few short runs, each timed on the thread's own CPU clock. A wall clock would
// count the time the calibrating thread waited for the CPU: the first request of a thread per
// connection server with 1,000 connections calibrated among 999 other threads and spun some
// 60 us for a W of 100 us, so that it did less work per request than the loop.
std::uint64_t turns_per_us() {
  static const std::uint64_t measured = [] {
    constexpr std::uint64_t kTrialTurns = 200'000;
    constexpr int kTrials = 7;
    std::array<double, kTrials> rates{};
    for (auto& rate : rates) {
      const double t0 = thread_cpu_us();
      spin_turns(kTrialTurns);
      rate = static_cast<double>(kTrialTurns) / std::max(thread_cpu_us() - t0, 1e-3);
    }
    std::nth_element(rates.begin(), rates.begin() + kTrials / 2, rates.end());
    return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(rates[kTrials / 2]));
  }();
  return measured;
}

}  // namespace

// A loop the compiler cannot drop: each turn depends on the last.
void spin_turns(std::uint64_t turns) {
  volatile std::uint64_t sink = 0;
  std::uint64_t x = 1;
  for (std::uint64_t i = 0; i < turns; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  sink = x;
  (void)sink;
}

Offload parse_offload(std::string_view name) { return parse_name<Offload>(kOffloads, name, "offload"); }

std::string_view name_of(Offload o) { return kOffloads[static_cast<std::size_t>(o)]; }

int pool_workers(int threads) {
  return threads > 0 ? threads : kPoolWorkersPerCpu * static_cast<int>(std::thread::hardware_concurrency());
}

void check(const Config& c) {
  const std::size_t least_kib = (PTHREAD_STACK_MIN + 1023) / 1024;
  if (c.stack_kib != 0 && c.stack_kib < least_kib)
    throw std::invalid_argument(
        fmt::format("echo: a stack of {} KiB is below the system's least, {} KiB", c.stack_kib, least_kib));
  if (c.threads < 0) throw std::invalid_argument("echo: a negative thread count");
  if (c.max_line == 0) throw std::invalid_argument("echo: max_line must be at least 1");
  if (c.work.count() < 0 || c.block.count() < 0) throw std::invalid_argument("echo: negative work or wait");
  if (c.work.count() > 0) turns_per_us();  // calibrated now, before any connection competes for the CPU
}

void Counters::opened() {
  ++accepted;
  const std::int64_t now = ++live;
  std::int64_t peak = live_peak.load();
  while (now > peak && !live_peak.compare_exchange_weak(peak, now)) {
  }
}

void Counters::ended() {
  ++closed;
  --live;
}

void Counters::refused_one() {
  ++refused;
  ended();
}

Stats snapshot(const Counters& c) {
  return {c.accepted.load(), c.closed.load(),    c.requests.load(),  c.protocol_errors.load(),
          c.bytes_in.load(), c.bytes_out.load(), c.live_peak.load(), c.refused.load()};
}

std::span<char> Lines::space() {
  if (used_ > 0) {  // the lines handled leave the front
    std::memmove(bytes_.data(), bytes_.data() + used_, have_ - used_);
    have_ -= used_;
    used_ = 0;
  }
  if (bytes_.size() - have_ < kReadChunk / 2) bytes_.resize(bytes_.size() * 2);
  return {bytes_.data() + have_, bytes_.size() - have_};
}

std::optional<std::string_view> Lines::next() {
  const auto begin = bytes_.begin() + static_cast<std::ptrdiff_t>(used_);
  const auto end = bytes_.begin() + static_cast<std::ptrdiff_t>(have_);
  const auto newline = std::find(begin, end, '\n');
  if (newline == end) {
    too_long_ = static_cast<std::size_t>(end - begin) > max_line_;
    return std::nullopt;
  }
  const std::string_view line(&*begin, static_cast<std::size_t>(newline - begin));
  if (line.size() > max_line_) {
    too_long_ = true;
    return std::nullopt;
  }
  used_ += line.size() + 1;
  return line;
}

void spin(std::chrono::microseconds work) {
  if (work.count() > 0) spin_turns(static_cast<std::uint64_t>(work.count()) * turns_per_us());
}

void answer(std::string_view line, std::string& out) {
  const std::size_t at = out.size();
  out.append(line);
  std::transform(out.begin() + static_cast<std::ptrdiff_t>(at), out.end(),
                 out.begin() + static_cast<std::ptrdiff_t>(at),
                 [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
  out.push_back('\n');
}

}  // namespace tvl::echo
