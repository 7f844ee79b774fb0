// Exercise coordinated-omission (method, docs/metrics.md, docs/fanout.md): YOUR COPY. Edit this
// file, then run
//   make exercise NAME=coordinated-omission
//
// A latency probe: `rate` requests per second for `duration`, each a round trip through a
// message broker, each one's latency recorded in a histogram. This is the probe most of us
// write first, a CLOSED loop: send, wait for the answer, note how long that took, wait until
// the next request is due, repeat. While the broker stands still, the probe stands still with
// it: it sends nothing, so it records nothing, and the stall becomes one slow sample among
// thousands.
//
// Your task: make it an OPEN-loop probe, as wrk2 and `tvl load` are. Requests follow a fixed
// schedule (request i is due at start + i / rate, whatever happened to the ones before it), and
// each latency is measured from the moment the request was DUE, not from the moment it could
// finally be sent. Keep the function's signature: the grader calls it.
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
  const auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1 / rate));
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(duration);
  while (Clock::now() < end) {
    const auto sent = Clock::now();
    rt.send_and_wait();
    const auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - sent);
    latency_ns.record(static_cast<std::uint64_t>(took.count()));  // the clock started at the actual send
    std::this_thread::sleep_until(sent + interval);               // the next request: one interval later
  }
}

}  // namespace tvl::exercise
