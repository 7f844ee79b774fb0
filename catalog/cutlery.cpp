// The cutlery in the catalog: its variants, the run that checks every trial, and its counters.
#include "catalog/catalog.hpp"

#include <array>
#include <stdexcept>

#include "catalog/document.hpp"
#include "measure/context.hpp"

namespace tvl::catalog {

namespace {

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

}  // namespace

std::span<const CutleryVariant> cutlery_variants() { return kCutlery; }

const CutleryVariant* find_cutlery(std::string_view model, std::string_view variant) {
  for (const auto& v : kCutlery)
    if (v.model == model && v.variant == variant) return &v;
  return nullptr;
}

cutlery::Summary run_cutlery(const cutlery::Params& p) {
  const CutleryVariant* v = find_cutlery(p.model, name_of(p.variant));
  if (!v) throw std::invalid_argument("cutlery: no model/variant '" + p.model + "/" + name_of(p.variant) + "'");
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

ProcessCost ProcessCost::since(const metrics::Usage& before, int trials) {
  const auto used = metrics::usage() - before;
  ProcessCost cost;
  cost.vcsw_per_trial = trials > 0 ? static_cast<double>(used.vcsw) / trials : 0.0;
  cost.ivcsw_per_trial = trials > 0 ? static_cast<double>(used.ivcsw) / trials : 0.0;
  if (const auto mem = metrics::memory()) cost.rss_kib = static_cast<double>(mem->rss_kib);
  return cost;
}

cutlery::Summary run_cutlery(const cutlery::Params& p, ProcessCost& cost) {
  const auto before = metrics::usage();
  const auto s = run_cutlery(p);
  cost = ProcessCost::since(before, p.trials);
  return s;
}

Counters cutlery_counters(const cutlery::Params& p, const cutlery::Summary& s, const ProcessCost& cost) {
  return {{"trials", s.trials},
          {"failures", s.failures},
          {"fail_rate", s.fail_rate},
          {"fail_lo", s.fail_lo},
          {"fail_hi", s.fail_hi},
          {"drift_knives", s.drift_knives},
          {"drift_forks", s.drift_forks},
          {"items_per_second", s.items_per_second},
          {"tables", p.tables},
          {"bots", p.bots},
          {"os_threads", s.os_threads},
          {"vcsw", cost.vcsw_per_trial},
          {"ivcsw", cost.ivcsw_per_trial},
          {"rss_kib", cost.rss_kib}};
}

std::string cutlery_name(const cutlery::Params& p) {
  return benchmark_name("cutlery", p.model, name_of(p.variant), {{"tables", p.tables}});
}

nlohmann::json to_json(const cutlery::Params& p, const cutlery::Summary& s, const ProcessCost& cost) {
  return run_document(cutlery_name(p), "cutlery", p.model, name_of(p.variant),
                      {{"bots", p.bots}, {"tables", p.tables}, {"trials", p.trials}, {"os_threads", s.os_threads}},
                      cutlery_counters(p, s, cost),
                      json_context("tvl run cutlery --model " + p.model + " --variant " + name_of(p.variant)));
}

}  // namespace tvl::catalog
