// The fan-out in the catalog: tvl's brokers and their peers, the checked point, and its counters.
#include "catalog/catalog.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "catalog/document.hpp"
#include "measure/context.hpp"

namespace tvl::catalog {

namespace {

// The fan-out rows of tvl-bench come in this order: asyncloop, threads, then the peers.
constexpr std::array kFanout = {
    FanoutVariant{"asyncloop", "naive", fanout::run_asyncloop_broker, false,
                  "the book's prototype on one event loop: a subscriber's queue has no bound"},
    FanoutVariant{"asyncloop", "improved", fanout::run_asyncloop_broker, true,
                  "one event loop; bounded byte queue per subscriber, slow ones dropped or cut off"},
    FanoutVariant{"threads", "naive", fanout::run_threads_broker, false,
                  "the book's prototype with a thread per connection: unbounded queues"},
    FanoutVariant{"threads", "improved", fanout::run_threads_broker, true,
                  "a thread per connection; bounded queue per subscriber, slow ones dropped or cut off"},
    FanoutVariant{"asyncloop-mt", "improved", fanout::run_asyncloop_mt_broker, false,
                  "an event loop per core, a channel's messages handed between loops by post"},
    FanoutVariant{"redis", "peer", nullptr, true, "redis-server: one event loop in C, PUBLISH/SUBSCRIBE"},
    FanoutVariant{"python", "peer", nullptr, true, "the book's asyncio broker in Python (peers/asyncio_broker.py)"},
    FanoutVariant{"python-uvloop", "peer", nullptr, false, "the same Python broker on uvloop's event loop"},
};

}  // namespace

std::span<const FanoutVariant> fanout_variants() { return kFanout; }

const FanoutVariant* find_fanout(std::string_view model, std::string_view design) {
  for (const auto& v : kFanout)
    if (v.model == model && v.design == design) return &v;
  return nullptr;
}

std::vector<std::string> fanout_models() {
  std::vector<std::string> models;
  for (const auto& v : kFanout)
    if (std::find(models.begin(), models.end(), v.model) == models.end()) models.emplace_back(v.model);
  return models;
}

std::vector<std::string> fanout_broker_models() {
  std::vector<std::string> models;
  for (const auto& m : fanout_models())
    if (find_fanout(m, "improved") && find_fanout(m, "improved")->broker) models.push_back(m);
  return models;
}

std::string fanout_name(const fanout_point::Target& t, const load::Params& lp) {
  std::vector<NameParam> params;
  if (lp.slow_subscribers) params.emplace_back("slow", lp.slow_subscribers);
  params.emplace_back("subscribers", lp.subscribers);
  return benchmark_name("fanout", t.model, t.design_name(), params);
}

Counters load_counters(const load::Params& p, const load::Result& r) {
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  // CPU seconds per million deliveries: what the broker and the generator each paid per delivery.
  auto per_million = [&r](double cpu_s) {
    return r.delivered > 0 && cpu_s >= 0 ? cpu_s / (static_cast<double>(r.delivered) / 1e6) : 0.0;
  };
  return {
      {"items_per_second", r.seconds > 0 ? static_cast<double>(r.delivered) / r.seconds : 0},
      {"published_per_second", static_cast<double>(r.published) / p.duration_s},
      {"published", static_cast<double>(r.published)},
      {"delivered", static_cast<double>(r.delivered)},
      {"expected", static_cast<double>(r.expected)},
      {"lost", static_cast<double>(r.lost)},
      {"gaps", static_cast<double>(r.gaps)},
      {"duplicates_or_reordered", static_cast<double>(r.duplicates_or_reordered)},
      {"publishers_stalled", static_cast<double>(r.publishers_stalled)},
      {"impossible", r.impossible.empty() ? 0.0 : 1.0},
      {"judged", static_cast<double>(r.from_intended_ns.count())},
      {"p50_us", us(r.from_intended_ns.percentile(50))},
      {"p90_us", us(r.from_intended_ns.percentile(90))},
      {"p99_us", us(r.from_intended_ns.percentile(99))},
      {"p999_us", us(r.from_intended_ns.percentile(99.9))},
      {"max_us", us(r.from_intended_ns.max())},
      {"sent_p50_us", us(r.from_sent_ns.percentile(50))},
      {"sent_p99_us", us(r.from_sent_ns.percentile(99))},
      {"sent_p999_us", us(r.from_sent_ns.percentile(99.9))},
      {"user_p50_us", us(r.user_from_intended_ns.percentile(50))},
      {"user_p99_us", us(r.user_from_intended_ns.percentile(99))},
      {"user_p999_us", us(r.user_from_intended_ns.percentile(99.9))},
      {"kernel_clock", r.receive_clock == load::kKernelClock ? 1.0 : 0.0},
      {"unstamped", static_cast<double>(r.unstamped)},
      {"subscribers", p.subscribers},
      {"publishers", p.publishers},
      {"slow_subscribers", p.slow_subscribers},
      {"payload", static_cast<double>(p.payload)},
      {"rate", p.rate},
      {"duration_s", p.duration_s},
      {"load_threads", r.load_threads},
      {"load_cpu_s", r.load_cpu_s},
      {"load_cpu_s_per_million", per_million(r.load_cpu_s)},
      {"load_busy", r.load_busy},
      {"load_bound", r.load_bound ? 1.0 : 0.0},
      {"rss_kib", static_cast<double>(r.broker_rss_kib)},
      {"broker_hwm_kib", static_cast<double>(r.broker_hwm_kib)},
      {"broker_cpu_s", r.broker_cpu_s},
      {"broker_cpu_s_per_million", per_million(r.broker_cpu_s)},
      {"vcsw", static_cast<double>(r.broker_vcsw)},
      {"ivcsw", static_cast<double>(r.broker_ivcsw)},
      {"fd_limit", static_cast<double>(r.fd_limit)},
  };
}

Counters fanout_counters(const load::Params& lp, const fanout_point::Point& point) {
  Counters counters = load_counters(lp, point.result);
  if (!point.broker_stats.is_null())
    for (const auto& [k, v] : point.broker_stats.items()) counters.emplace_back("broker_" + k, v.get<double>());
  return counters;
}

fanout_point::Point run_fanout(const fanout_point::Target& t, const load::Params& lp) {
  if (!find_fanout(t.model, t.design_name()))
    throw std::invalid_argument("fanout: no model/design '" + t.model + "/" + t.design_name() + "'");
  auto point = fanout_point::run_point(t, lp);
  if (!point.check.empty()) throw std::runtime_error(fanout_name(t, lp) + ": " + point.check);
  return point;
}

nlohmann::json to_json(const fanout_point::Target& t, const load::Params& lp, const fanout_point::Point& point,
                       const fanout_point::Placement& where) {
  nlohmann::json context = json_context("tvl run fanout --model " + t.model + " --design " + t.design_name());
  const nlohmann::json placement = where.to_json();
  for (const auto& [key, value] : placement.items()) context[key] = value;
  context["receive_clock"] = point.result.receive_clock;  // load::kKernelClock, or kUserClock where no stamp came
  return run_document(fanout_name(t, lp), "fanout", t.model, t.design_name(),
                      {{"subscribers", lp.subscribers},
                       {"publishers", lp.publishers},
                       {"payload", lp.payload},
                       {"rate", lp.rate},
                       {"duration_s", lp.duration_s},
                       {"channel", lp.channel},
                       {"slow_subscribers", lp.slow_subscribers}},
                      fanout_counters(lp, point), std::move(context));
}

}  // namespace tvl::catalog
