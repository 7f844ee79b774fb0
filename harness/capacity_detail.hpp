// Inside the harness: what the probe (harness/capacity.cpp) and the search that plans the next
// one (harness/capacity_search.cpp) both count, and where the echo server's probes differ
// (harness/capacity_echo.cpp).
#pragma once

#include "catalog/catalog.hpp"
#include "harness/capacity.hpp"
#include "load/loadgen.hpp"

namespace tvl::capacity::detail {

// Of every message, a topic delivers a copy to each subscriber, a queue one copy to one of them;
// an echo request is answered once.
double per_message(const load::Params& lp);

// Messages a probe must judge: enough for kMinJudged latencies (with a margin), at least one, and
// on a queue one delivery per subscriber.
double needed_messages(const load::Params& lp);

// The load speaks the echo protocol: the probes run `tvl serve echo`.
bool is_echo(const load::Params& lp);

// One echo point in the shape the search judges: the server's counters as the broker's, and
// what cannot be (an answer the server never counted) as impossible.
fanout_point::Point run_echo_point(const echo_point::Target& t, const load::Params& lp);

// The load's counters and the server's, as server_<name>.
catalog::Counters echo_counters(const load::Params& lp, const fanout_point::Point& point);

// The echo server's floor rate (a trickle that still judges a p99 at every connection count),
// and the lowest rate any probe can judge: each connection must send at least one request after
// the warm-up.
double echo_floor_offered(const Options& o);
double echo_lowest_judgeable(const Options& o);
// The flood's rate: far more than the server can spin through, not so much that stopping it
// waits on minutes of queued work.
double echo_flood_offered(const Options& o);
// Requests/s the cell carries at most: the server's CPUs at W, each connection at W + B (0: no bound).
double work_ceiling(const Options& o);

}  // namespace tvl::capacity::detail
