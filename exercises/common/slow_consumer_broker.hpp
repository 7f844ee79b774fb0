// What exercise slow-consumer's broker.cpp defines and its grader runs (exercises/slow-consumer/).
// The signature is the project's BrokerFn (scenarios/fanout.hpp): the grader runs it in a child
// process as `tvl broker` runs the project's brokers, and loads it with the project's load
// generator.
#pragma once

#include "scenarios/fanout.hpp"

namespace tvl::exercise {

// Listens on c.host:c.port (0: any free port, told through ctl.listening), serves the book's
// protocol until ctl.stop_fd is readable, then stops accepting, gives what is still to be
// written c.flush_timeout_s to go out, closes every connection and returns its counters.
fanout::BrokerStats run_broker(const fanout::BrokerConfig& c, const fanout::Control& ctl);

}  // namespace tvl::exercise
