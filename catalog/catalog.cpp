#include "catalog/catalog.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "measure/context.hpp"

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

constexpr std::array kRestaurant = {
    RestaurantVariant{"threads", "safe", restaurant::run_threads, "a thread per bot, queues between roles", "block"},
    RestaurantVariant{"threads", "unsafe", restaurant::run_threads,
                      "the same, bots hand a table on before they are done: collisions"},
    RestaurantVariant{"threads-per-table", "safe", restaurant::run_threads_per_table,
                      "a thread per bot and a thread per table"},
    RestaurantVariant{"threads-per-table", "unsafe", restaurant::run_threads_per_table,
                      "the same, with the early hand-over"},
    RestaurantVariant{"tbb", "safe", restaurant::run_tbb, "every step a task on a oneTBB pool"},
    RestaurantVariant{"tbb", "unsafe", restaurant::run_tbb, "the same, with the early hand-over"},
    RestaurantVariant{"asyncloop", "safe", restaurant::run_asyncloop,
                      "the LoopBot: every bot and table a coroutine on one thread", "block,offload"},
    RestaurantVariant{"asyncloop", "unsafe", restaurant::run_asyncloop,
                      "the same early hand-over: no collision, nothing runs in parallel"},
};

// The primitives: what a switch, a creation and a waiting task cost under each model.
using primitives::Mechanism, primitives::Waiter;
constexpr std::array kSwitches = {
    Mechanism{"threads", "semaphore", "thread ping-pong through a pair of std::binary_semaphore",
              primitives::threads_semaphore},
    Mechanism{"threads", "pipe", "thread ping-pong through a pair of pipes, 1 byte each way", primitives::threads_pipe},
    Mechanism{"asyncloop", "post", "coroutine ping-pong: co_await asio::post(use_awaitable)",
              primitives::asyncloop_post},
    Mechanism{"asyncloop", "post-nolock", "the same on an io_context with locking off (hint UNSAFE)",
              primitives::asyncloop_post_nolock},
    Mechanism{"asyncloop", "handle", "bare coroutine: await_suspend posts its handle to the loop",
              primitives::asyncloop_handle},
    Mechanism{"asyncloop", "handle-nolock", "the same on an io_context with locking off",
              primitives::asyncloop_handle_nolock},
};

constexpr std::array kCreates = {
    Mechanism{"threads", "create", "create a std::thread, join it", primitives::threads_create},
    Mechanism{"asyncloop", "create", "co_spawn a coroutine, co_await its completion", primitives::asyncloop_create},
};

constexpr std::array kWaiters = {
    Waiter{"threads", "waiting", "N std::threads blocked on one std::latch", primitives::threads_waiting},
    Waiter{"asyncloop", "timer-each", "N asio::awaitable coroutines, a steady_timer each",
           primitives::asyncloop_timer_each},
    Waiter{"asyncloop", "timer-shared", "N asio::awaitable coroutines waiting on one steady_timer",
           primitives::asyncloop_timer_shared},
    Waiter{"asyncloop", "sleep-queue", "N LoopTasks asleep in the restaurant's SleepQueue (one heap, one timer)",
           primitives::asyncloop_sleep_queue},
};

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

constexpr std::array kScenarios = {
    ScenarioInfo{"cutlery", "robots and cutlery (book ch. 2): a lost-update race, threads vs. event loop"},
    ScenarioInfo{"primitives", "the costs under every scenario: switch, creation, memory per waiting task"},
    ScenarioInfo{"restaurant", "the restaurant of ThreadBots (book ch. 1): bots, tables, latency, idle time"},
    ScenarioInfo{"fanout", "the message broker (book ch. 4): one publisher's message to many subscribers"},
};

// The document `tvl run <scenario> --json` writes, the same shape for every scenario.
nlohmann::json run_document(const std::string& name, std::string_view scenario, std::string_view model,
                            std::string_view variant, nlohmann::json params, const Counters& counters,
                            nlohmann::json context) {
  nlohmann::json values = nlohmann::json::object();
  for (const auto& [key, value] : counters) values[key] = value;
  return {{"name", name},
          {"scenario", scenario},
          {"model", model},
          {"variant", variant},
          {"params", std::move(params)},
          {"counters", std::move(values)},
          {"context", std::move(context)}};
}

}  // namespace

std::span<const CutleryVariant> cutlery_variants() { return kCutlery; }
std::span<const ScenarioInfo> scenarios() { return kScenarios; }

std::span<const primitives::Mechanism> primitive_switches() { return kSwitches; }
std::span<const primitives::Mechanism> primitive_creates() { return kCreates; }
std::span<const primitives::Waiter> primitive_waiters() { return kWaiters; }

const std::vector<Listing>& listing() {
  static const std::vector<Listing> all = [] {
    std::vector<Listing> rows;
    for (const auto& v : kCutlery) rows.push_back({"cutlery", v.model, v.variant, v.what});
    const auto add_primitives = [&rows](const auto& table, std::string_view kind) {
      for (const auto& m : table) rows.push_back({"primitives", m.model, m.variant, m.what, kind});
    };
    add_primitives(primitive_switches(), "switch");
    add_primitives(primitive_creates(), "creation");
    add_primitives(primitive_waiters(), "memory");
    for (const auto& v : kRestaurant) rows.push_back({"restaurant", v.model, v.variant, v.what});
    for (const auto& v : kFanout) rows.push_back({"fanout", v.model, v.design, v.what});
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

nlohmann::json to_json(const cutlery::Params& p, const cutlery::Summary& s, const ProcessCost& cost) {
  return run_document("cutlery/" + p.model + "/" + name_of(p.variant) + "/tables:" + std::to_string(p.tables),
                      "cutlery", p.model, name_of(p.variant),
                      {{"bots", p.bots}, {"tables", p.tables}, {"trials", p.trials}, {"os_threads", s.os_threads}},
                      cutlery_counters(p, s, cost),
                      json_context("tvl run cutlery --model " + p.model + " --variant " + name_of(p.variant)));
}

std::span<const RestaurantVariant> restaurant_variants() { return kRestaurant; }

const RestaurantVariant* find_restaurant(std::string_view model, std::string_view variant) {
  for (const auto& v : kRestaurant)
    if (v.model == model && v.variant == variant) return &v;
  return nullptr;
}

restaurant::Result run_restaurant(const restaurant::Params& p) {
  const RestaurantVariant* v = find_restaurant(p.model, p.variant);
  if (!v) throw std::invalid_argument("restaurant: no model/variant '" + p.model + "/" + p.variant + "'");
  if (p.tables < 1 || p.turns < 1 || p.chatty_every < 1)
    throw std::invalid_argument("restaurant: need at least 1 table, 1 turn, chatty_every >= 1");
  restaurant::Result r = v->run(p);
  restaurant::check_work(p, r);
  return r;
}

Counters restaurant_counters(const restaurant::Params& p, const restaurant::Result& r) {
  using restaurant::kRoles;
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  Counters c = {
      {"items_per_second", r.seconds > 0 ? static_cast<double>(r.meals) / r.seconds : 0.0},
      {"meals", static_cast<double>(r.meals)},
      {"p50_us", us(r.latency_ns.percentile(50))},
      {"p90_us", us(r.latency_ns.percentile(90))},
      {"p99_us", us(r.latency_ns.percentile(99))},
      {"p999_us", us(r.latency_ns.percentile(99.9))},
      {"max_us", us(r.latency_ns.max())},
      {"overhead_p50_us", us(r.overhead_ns.percentile(50))},
      {"overhead_p99_us", us(r.overhead_ns.percentile(99))},
      {"overhead_max_us", us(r.overhead_ns.max())},
      {"ideal_us", static_cast<double>(restaurant::ideal_meal(p).count()) / 1e3},
      {"lateness_p50_us", us(r.lateness_ns.percentile(50))},
      {"lateness_p99_us", us(r.lateness_ns.percentile(99))},
      {"lateness_max_us", us(r.lateness_ns.max())},
      {"rss_kib", static_cast<double>(r.rss_peak_kib)},
      {"kib_per_table", static_cast<double>(r.rss_peak_kib - r.rss_before_kib) / r.tables},
      {"vcsw", static_cast<double>(r.vcsw)},
      {"ivcsw", static_cast<double>(r.ivcsw)},
      {"tables", p.tables},
      {"turns", p.turns},
      {"os_threads", r.os_threads},
      {"stack_kib", static_cast<double>(r.stack_kib)},
      {"seconds", r.seconds},
      {"chatty_ms", p.chatty == restaurant::Chatty::none ? 0.0 : p.chatty_ms},
      {"chatty_every", p.chatty == restaurant::Chatty::none ? 0.0 : p.chatty_every},
  };
  // Idle time per role (mean over its bots) and of the busiest bot, as the book counts it.
  double busiest = 0;
  std::array<double, kRoles> role_busy{};
  std::array<int, kRoles> role_bots{};
  for (const auto& b : r.bots) {
    const double busy = r.seconds > 0 ? static_cast<double>(b.busy_ns) / 1e9 / r.seconds : 0.0;
    busiest = std::max(busiest, busy);
    role_busy[static_cast<std::size_t>(b.role)] += busy;
    ++role_bots[static_cast<std::size_t>(b.role)];
  }
  c.emplace_back("busiest_bot_idle_pct", 100.0 * (1.0 - busiest));
  for (int i = 0; i < kRoles; ++i)
    if (role_bots[static_cast<std::size_t>(i)] > 0)
      c.emplace_back(std::string("idle_pct_") + restaurant::role_name(static_cast<restaurant::Role>(i)),
                     100.0 * (1.0 - role_busy[static_cast<std::size_t>(i)] / role_bots[static_cast<std::size_t>(i)]));
  if (r.loop_cpu_s >= 0) {  // busy: computing, or blocked inside a step (asleep, yet not free)
    c.emplace_back("loop_idle_pct", 100.0 * (1.0 - (r.loop_cpu_s + r.loop_blocked_s) / r.seconds));
    c.emplace_back("loop_blocked_pct", 100.0 * r.loop_blocked_s / r.seconds);
  }
  double total = 0;
  for (int i = 0; i < restaurant::kCollisionKinds; ++i) {
    total += static_cast<double>(r.collisions[static_cast<std::size_t>(i)]);
    c.emplace_back(std::string("collisions_") + restaurant::collision_name(static_cast<restaurant::Collision>(i)),
                   static_cast<double>(r.collisions[static_cast<std::size_t>(i)]));
  }
  c.emplace_back("collisions", total);
  return c;
}

nlohmann::json to_json(const restaurant::Params& p, const restaurant::Result& r) {
  return run_document(
      "restaurant/" + p.model + "/" + p.variant + "/staff:" + name_of(p.staff) + "/tables:" + std::to_string(p.tables),
      "restaurant", p.model, p.variant,
      {{"staff", name_of(p.staff)},
       {"tables", p.tables},
       {"turns", p.turns},
       {"ramp_s", p.ramp_s},
       {"period_s", p.period_s},
       {"waits_ms", p.waits_ms},
       {"service_scale", p.service_scale},
       {"chatty", name_of(p.chatty)},
       {"chatty_ms", p.chatty_ms},
       {"chatty_every", p.chatty_every},
       {"seed", p.seed}},
      restaurant_counters(p, r), json_context("tvl run restaurant --model " + p.model + " --variant " + p.variant));
}

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
  return "fanout/" + t.model + "/" + t.design_name() + "/" +
         (lp.slow_subscribers ? "slow:" + std::to_string(lp.slow_subscribers) + "/" : "") +
         "subscribers:" + std::to_string(lp.subscribers);
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
                      point.counters, std::move(context));
}

}  // namespace tvl::catalog
