// The capacity search (harness/capacity.hpp) against the echo server: the same floor, flood,
// ramp, bisection, confirmation and overload, with one request as one delivery and
// `tvl serve echo` as the child each probe starts afresh. What differs is here and in
// harness/capacity_echo.cpp: the bound, the rates a probe can judge when the rate is shared
// by many connections, and the models that cannot serve a connection count at all.
#pragma once

#include <string>

#include "harness/capacity.hpp"
#include "load/echo_point.hpp"

namespace tvl::capacity {

// One bound for every cell of the echo map, so that cells compare: p99 from the intended send
// at most 10 ms. It stays meaningful over the whole map: the heaviest request (W = 1 ms of work
// and B = 1 ms of wait) takes 2 ms alone, so the bound still leaves a few requests' worth of
// queueing, while an interactive service's budget of a few tens of ms would hide every queue
// that W = 0 builds. --slo-ms overrides.
inline constexpr double kEchoSloMs = 10;

// What `tvl capacity echo` searches with unless told otherwise, chosen so that the quick slice
// (C 10 and 1,000 x W 0 and 100, threads against asyncloop: 8 cells) runs in about a minute and
// the full map (C 1 to 10,000 x W 0 to 1,000 x B 0 and 1, five models: 200 cells, some of which
// cannot run) in about twenty: short probes, a coarse precision and a cap on the search probes
// (the fan-out's 3 s probes and 5% would take over an hour for the quick slice alone). A
// capacity within 30% tells the winner of a cell where the margin is wider than that; the
// confirmation run says how far two runs of the same rate disagree. The overload probe (one
// more probe a cell, the longest) is asked for with --overload where goodput is wanted.
inline constexpr double kEchoProbeSeconds = 0.5;
inline constexpr double kEchoWarmupSeconds = 0.25;  // each connection has answered once before it starts
inline constexpr double kEchoPrecision = 0.3;
inline constexpr int kEchoMaxProbes = 6;
inline constexpr double kEchoOverload = 0;
// The slowest cell (W = 1 ms on one core) carries about 1,000 requests/s: the search may go below.
inline constexpr double kEchoMinOffered = 100;

// Options that search `t` at `connections` connections (the load's publishers), the echo
// defaults above; the caller sets the CPUs and may override the rest.
Options echo_options(const echo_point::Target& t, int connections);

// Why `t` cannot serve `connections` connections at once, known before any probe: the pool's
// workers each serve one connection until it leaves, so past the pool's size some connections
// would never be answered. Empty when nothing is known against it.
std::string echo_cannot_serve(const echo_point::Target& t, int connections);

// Why no probe of `o` could be judged, known before any probe: with many connections sharing
// the rate, each must send a request after the warm-up, so a probe cannot offer less than
// 2 x connections / its length; when that is near what the server's cores can spin through at
// W (over 80% of 1e6 / W per core), every judgeable rate is an overload. Empty when some rate
// may pass.
std::string echo_cannot_judge(const Options& o);

}  // namespace tvl::capacity
