// Inside the harness: what the probe (harness/capacity.cpp) and the search that plans the next
// one (harness/capacity_search.cpp) both count.
#pragma once

#include "load/loadgen.hpp"

namespace tvl::capacity::detail {

// Of every message, a topic delivers a copy to each subscriber, a queue one copy to one of them.
double per_message(const load::Params& lp);

// Messages a probe must judge: enough for kMinJudged latencies (with a margin), at least one, and
// on a queue one delivery per subscriber.
double needed_messages(const load::Params& lp);

}  // namespace tvl::capacity::detail
