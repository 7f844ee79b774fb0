// What every fan-out broker checks the same way: the configuration it is given.
#include "scenarios/fanout_broker.hpp"

#include <stdexcept>

namespace tvl::fanout {

void check_config(const BrokerConfig& c, const Control& ctl, const std::string& who) {
  if (c.queue_depth == 0) throw std::invalid_argument(who + ": queue_depth must be at least 1");
  if (c.queue_bytes == 0) throw std::invalid_argument(who + ": queue_bytes must be at least 1");
  if (ctl.stop_fd < 0) throw std::invalid_argument(who + ": no stop_fd");
}

}  // namespace tvl::fanout
