// The restaurant in the catalog: its variants, the checked run, and its counters.
#include "catalog/catalog.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "catalog/document.hpp"
#include "measure/context.hpp"

namespace tvl::catalog {

namespace {

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

}  // namespace

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

std::string restaurant_name(const restaurant::Params& p) {
  return benchmark_name("restaurant", p.model, p.variant,
                        {{"staff", name_of(p.staff)}, {"chatty", name_of(p.chatty)}, {"tables", p.tables}});
}

nlohmann::json to_json(const restaurant::Params& p, const restaurant::Result& r) {
  return run_document(restaurant_name(p), "restaurant", p.model, p.variant,
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
                      restaurant_counters(p, r),
                      json_context("tvl run restaurant --model " + p.model + " --variant " + p.variant));
}

}  // namespace tvl::catalog
