// The fan-out load generator (`tvl load`): S subscribers and P publishers on loopback, an
// open-loop rate, every delivery checked for gaps, duplicates and reordering, latency from the
// intended send time (coordinated-omission corrected) and from the actual one. It measures
// itself too: a run whose generator was saturated, or starved of CPU, says so (`load_bound`),
// so a capacity search never reports the generator's limit as the broker's.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "measure/histogram.hpp"
#include "scenarios/fanout.hpp"

namespace tvl::load {

// A load thread that was on a CPU, or runnable and waiting for one, this share of the load
// phase or more was the limit of the run, not the broker.
inline constexpr double kLoadBoundBusy = 0.9;

struct Params {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  fanout::Protocol protocol = fanout::Protocol::frames;  // the book's frames, or RESP (redis-server)
  int subscribers = 10;
  int publishers = 1;
  int slow_subscribers = 0;  // extra subscribers that never read (not counted in `expected`)
  std::size_t payload = 64;  // bytes per message (at least the stamp)
  double rate = 10'000;      // messages per second, all publishers together, open loop
  double duration_s = 2;
  std::string channel = "/topic/load";
  double drain_s = 5;     // after the last send, how long deliveries may take to arrive
  double confirm_s = 10;  // how long subscriptions may take to be confirmed
  pid_t broker_pid = 0;   // read the broker's RSS, CPU and context switches from /proc
  int threads = 0;        // load threads, an io_context each, connections spread round-robin (0: one per load CPU)
  // Publishers send what is due at most once per tick (0: each message at its own time). The
  // wait counts in the latency from the intended send; a tick of a millisecond lets the
  // brokers and the generator move messages in batches, as a busy publisher's would arrive.
  double tick_s = 0;
  // Cut the run short once more than late_limit deliveries arrived later than late_ns after
  // their intended send (0: never): a probe that can no longer meet its latency bound.
  std::int64_t late_ns = 0, late_limit = 0;
  // Messages meant to go in the first warmup_s of the schedule are checked like every other,
  // but their latency is left out of the histograms and of `late`: connections that have
  // just started (TCP windows, socket buffers, caches) are not what a steady load measures.
  double warmup_s = 0;
  std::vector<int> cpus;  // every load thread is pinned to this set; empty: affinity left alone
  // Test only: each subscriber sleeps this long after its socket becomes readable and before it
  // reads, so that a test can show the kernel's receive stamp does not charge the generator's
  // delay to the broker (tests/test_loadgen.cpp).
  double read_delay_s = 0;
};

// Which clock dated a delivery's receipt: the kernel's (SO_TIMESTAMPNS: when the broker's bytes
// reached the subscriber's socket) or the generator's own, when it read them.
inline constexpr const char* kKernelClock = "kernel";
inline constexpr const char* kUserClock = "user";

struct Result {
  // published: messages whose bytes the publishers wrote. A write the broker stopped taking,
  // ended part-way, counts every message it began: the broker may hold the first bytes and have
  // it all if it reads on, so `published` (and `expected`) never fall below what can arrive;
  // what never does counts as lost.
  std::int64_t published = 0, delivered = 0, expected = 0;
  std::int64_t gaps = 0, duplicates_or_reordered = 0, lost = 0;
  std::int64_t subscribers_confirmed = 0;
  std::int64_t publishers_stalled = 0;  // publishers whose writes the broker stopped taking
  double seconds = 0;                   // from the first send to the last delivery
  // Latency from the intended and from the actual send to the receipt. The receipt is the
  // kernel's receive stamp where the kernel gave one (for a read that holds several messages,
  // the stamp of its last segment: later than the truth, never earlier), else the time the
  // generator read the bytes (user_from_intended_ns always uses the latter, so the two can be
  // compared). Only deliveries meant to be sent after the warm-up are recorded: count() is the
  // number of latencies judged.
  Histogram from_intended_ns, from_sent_ns, user_from_intended_ns;
  std::string receive_clock = kKernelClock;  // kKernelClock, or kUserClock when no read carried a stamp
  std::int64_t unstamped = 0;                // deliveries whose read carried no kernel stamp (user clock used)
  std::int64_t broker_rss_kib = -1, broker_hwm_kib = -1, broker_vcsw = -1, broker_ivcsw = -1;
  double broker_cpu_s = -1;
  std::int64_t fd_limit = 0;
  // The generator's own cost over the load phase (from the start of the schedule to the end of
  // the drain). load_busy: the highest, over load threads, of (CPU time + time runnable but
  // waiting for a CPU) / wall time, from /proc/thread-self/schedstat. The schedule alone is
  // also a window, and the higher share counts, so a drain that only waits for lost messages
  // cannot dilute a saturated schedule.
  int load_threads = 1;
  double load_cpu_s = 0;
  double load_busy = 0;
  bool load_bound = false;  // load_busy >= kLoadBoundBusy: the generator may have been the limit
  std::int64_t late = 0;    // deliveries later than Params::late_ns (when it is set)
  double cut_short_s = 0;   // > 0: the run was cut short this long after the start (late_limit reached)
  // Non-empty when the counts cannot be true: more deliveries than were published (to every
  // subscriber), or a subscriber that received a message no publisher counted as sent.
  std::string impossible;
};

// Raises this process's open-files soft limit to the hard limit; throws if `needed` descriptors
// cannot fit even then (a sweep point is reported as unreachable, never silently shrunk).
std::int64_t raise_fd_limit(std::int64_t needed);

// Runs the load against a broker already listening on host:port. Throws std::invalid_argument
// before connecting for bad parameters (a CPU that is not online among them), and
// std::runtime_error on a failure to connect, to pin a load thread or to confirm the
// subscriptions.
Result run(const Params& p);

}  // namespace tvl::load
