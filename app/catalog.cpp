#include "app/catalog.hpp"

#include <array>
#include <stdexcept>

#include "bench/context.hpp"

namespace tvl::catalog {

namespace {

using namespace std::string_view_literals;

constexpr std::array kCutlery = {
    CutleryVariant{"threads", "racy", cutlery::run_threads, true,
                   "a std::thread per bot; change() is load, add, store: updates get lost"},
    CutleryVariant{"threads", "mutex", cutlery::run_threads, false, "the same, change() under a std::mutex"},
    CutleryVariant{"threads", "atomic", cutlery::run_threads, false, "the same, change() as atomic fetch_add"},
    CutleryVariant{"tbb", "racy", cutlery::run_tbb, true, "bots as tasks on a oneTBB pool, racy change()"},
    CutleryVariant{"tbb", "safe", cutlery::run_tbb, false, "bots as tasks on a oneTBB pool, fetch_add"},
    CutleryVariant{"asyncloop", "racy", cutlery::run_asyncloop, false,
                   "bots as coroutines on one thread: the same racy change(), no switch inside it"},
    CutleryVariant{"asyncloop", "await-inside", cutlery::run_asyncloop, true,
                   "a co_await between read and write: the loop itself interleaves the bots"},
    CutleryVariant{"asyncloop-mt", "nostrand", cutlery::run_asyncloop_mt, true,
                   "one io_context run by K threads: parallel again, racy"},
    CutleryVariant{"asyncloop-mt", "strand", cutlery::run_asyncloop_mt, false,
                   "one io_context run by K threads, every bot on one strand"},
};

constexpr std::array kScenarios = {
    ScenarioInfo{"cutlery", "robots and cutlery (book ch. 2): a lost-update race, threads vs. event loop"},
    ScenarioInfo{"primitives", "the costs under every scenario: switch, creation, memory per waiting task"},
    ScenarioInfo{"restaurant", "the restaurant of ThreadBots (book ch. 1): bots, tables, latency, idle time"},
};

// Models of the scenarios that have no per-variant function table of their own.
constexpr std::array kOtherListings = {
    Listing{"primitives", "threads", "semaphore", "thread ping-pong through a pair of semaphores"},
    Listing{"primitives", "threads", "pipe", "thread ping-pong through a pair of pipes"},
    Listing{"primitives", "asyncloop", "post", "coroutine ping-pong on one io_context"},
};

}  // namespace

std::span<const CutleryVariant> cutlery_variants() { return kCutlery; }
std::span<const ScenarioInfo> scenarios() { return kScenarios; }

const std::vector<Listing>& listing() {
  static const std::vector<Listing> all = [] {
    std::vector<Listing> rows;
    for (const auto& v : kCutlery) rows.push_back({"cutlery", v.model, v.variant, v.what});
    rows.insert(rows.end(), kOtherListings.begin(), kOtherListings.end());
    return rows;
  }();
  return all;
}

const CutleryVariant* find_cutlery(std::string_view model, std::string_view variant) {
  for (const auto& v : kCutlery)
    if (v.model == model && v.variant == variant) return &v;
  return nullptr;
}

cutlery::Summary run_cutlery(const cutlery::Params& p) {
  const CutleryVariant* v = find_cutlery(p.model, p.variant);
  if (!v) throw std::invalid_argument("cutlery: no model/variant '" + p.model + "/" + p.variant + "'");
  if (p.bots < 2 || p.tables < 1 || p.trials < 1)
    throw std::invalid_argument("cutlery: need at least 2 bots, 1 table and 1 trial");
  std::vector<cutlery::Trial> trials;
  trials.reserve(static_cast<std::size_t>(p.trials));
  for (int i = 0; i < p.trials; ++i) {
    trials.push_back(v->run(p));
    cutlery::check_work(p, trials.back());
  }
  return cutlery::summarize(trials);
}

nlohmann::json to_json(const cutlery::Params& p, const cutlery::Summary& s) {
  nlohmann::json context = nlohmann::json::object();
  for (const auto& [key, value] : machine_context()) context[key] = value;
  return {
      {"name", "cutlery/" + p.model + "/" + p.variant + "/tables:" + std::to_string(p.tables)},
      {"scenario", "cutlery"},
      {"model", p.model},
      {"variant", p.variant},
      {"params", {{"bots", p.bots}, {"tables", p.tables}, {"trials", p.trials}, {"os_threads", s.os_threads}}},
      {"counters",
       {{"trials", s.trials},
        {"failures", s.failures},
        {"fail_rate", s.fail_rate},
        {"fail_lo", s.fail_lo},
        {"fail_hi", s.fail_hi},
        {"drift_knives", s.drift_knives},
        {"drift_forks", s.drift_forks},
        {"items_per_second", s.items_per_second},
        {"tables", p.tables},
        {"bots", p.bots},
        {"os_threads", s.os_threads}}},
      {"context", context},
  };
}

}  // namespace tvl::catalog
