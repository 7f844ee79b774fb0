// Exercise coordinated-omission (method, docs/metrics.md, docs/fanout.md): THE REFERENCE
// SOLUTION. Grade it with
//   make exercise NAME=coordinated-omission SOLUTION=1
//
// An OPEN-loop latency probe, as wrk2 and `tvl load` measure: the requests follow a fixed
// schedule, request i due at start + i / rate whatever happened to the ones before it, and each
// latency runs from the moment the request was due. When the broker stands still, the requests
// that fall due meanwhile go out late, back to back, the moment it answers again, and each one
// records the wait it really suffered: a user who arrived on schedule during the stall waited
// that long. Diff it against the starter, ../probe.hpp: only where the clock starts, and what
// decides when the next request goes, have changed.
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>

#include "measure/histogram.hpp"
#include "round_trip.hpp"

namespace tvl::exercise {

// Makes `rate` requests per second for `duration` through `rt`, and records the latency of each
// one, in nanoseconds, in `latency_ns`.
inline void probe(RoundTrip& rt, double rate, std::chrono::duration<double> duration, Histogram& latency_ns) {
  using Clock = std::chrono::steady_clock;
  const auto requests = static_cast<std::int64_t>(rate * duration.count());
  const auto start = Clock::now();
  for (std::int64_t i = 0; i < requests; ++i) {
    const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(static_cast<double>(i) / rate));
    std::this_thread::sleep_until(due);  // returns at once when behind: late requests go out back to back
    rt.send_and_wait();
    const auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - due);
    latency_ns.record(static_cast<std::uint64_t>(took.count()));  // from when it was due, not when it went
  }
}

}  // namespace tvl::exercise
