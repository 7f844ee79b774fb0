// One probe of a capacity search as an entry of its row's probe_log, for `tvl capacity` and
// `tvl capacity echo` alike; `cpu_key` names the process under test's CPU ("broker_cpu_s",
// "server_cpu_s").
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "harness/capacity.hpp"

namespace tvl::cli {

inline nlohmann::json probe_entry(const capacity::Probe& p, const std::string& cpu_key) {
  const auto& r = p.point.result;
  return {{"kind", capacity::kind_name(p.kind)},
          {"run", p.run},
          {"offered", p.offered},
          {"delivered_per_s", p.delivered_per_s},
          {"p99_ms", p.p99_ms},
          {"user_p99_ms", p.user_p99_ms},
          {cpu_key, p.broker_cpu_s()},
          {"load_cpu_s", p.load_cpu_s()},
          {"load_busy", r.load_busy},
          {"load_bound", r.load_bound ? 1 : 0},
          {"judged", p.judged()},
          {"verdict", p.verdict},
          {"detail", p.detail}};
}

}  // namespace tvl::cli
