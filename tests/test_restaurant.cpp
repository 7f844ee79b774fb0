// The restaurant: the domain's rules, every model at a tiny size, and the timer queue.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "asyncloop/sleep_queue.hpp"
#include "catalog/catalog.hpp"
#include "catalog_tests.hpp"

using namespace tvl::restaurant;

namespace {

// A short service: a few diners per table, waits of milliseconds.
Params tiny(const char* model, const char* variant, const char* staff = "book") {
  Params p;
  p.model = model;
  p.variant = variant;
  p.staff = parse_staffing(staff);
  p.tables = 4;
  p.turns = 2;
  p.ramp_s = 0.02;
  p.period_s = 0.05;
  p.waits_ms = {2, 5, 5};
  p.service_scale = 0.1;
  return p;
}

}  // namespace

TEST(domain, script_is_the_meal_in_order) {
  int requests = 0, waits = 0;
  for (const Action& a : script()) {
    requests += a.kind == Action::request;
    waits += a.kind == Action::wait;
  }
  EXPECT_EQ(requests, 8);
  EXPECT_EQ(waits, 3);
  EXPECT_EQ(script().front().step, Step::seat);
  EXPECT_EQ(script().back().kind, Action::done);
  EXPECT_EQ(role_of(Step::plate), Role::chef);
  EXPECT_EQ(role_of(Step::bill), Role::greet);
}

TEST(domain, ideal_meal_adds_waits_and_service_up_to_the_bill) {
  Params p;
  p.waits_ms = {10, 20, 30};
  p.service_scale = 0;
  EXPECT_EQ(ideal_meal(p), std::chrono::milliseconds(60));
  p.service_scale = 1;
  EXPECT_EQ(ideal_meal(p) - std::chrono::milliseconds(60), std::chrono::microseconds(1300));  // all but clear
}

TEST(domain, arrivals_are_seeded_open_loop_and_inside_the_ramp) {
  Params p;
  p.ramp_s = 0.5;
  p.period_s = 2;
  for (int t = 0; t < 100; ++t) {
    const auto a = arrival(p, t, 0);
    EXPECT_GE(a.count(), 0);
    EXPECT_LT(a, std::chrono::milliseconds(500));
    EXPECT_EQ(arrival(p, t, 3) - a, std::chrono::seconds(6));
    EXPECT_EQ(arrival(p, t, 0), a);  // deterministic
  }
  Params other = p;
  other.seed = 2;
  EXPECT_NE(arrival(other, 7, 0), arrival(p, 7, 0));
}

TEST(domain, staffing_presets_and_bad_names) {
  EXPECT_EQ(staff_for(parse_staffing("book")).bots, (std::array<int, 4>{1, 1, 1, 1}));
  EXPECT_EQ(staff_for(parse_staffing("weekend")).bots, (std::array<int, 4>{2, 3, 1, 1}));
  EXPECT_STREQ(name_of(Staffing::weekend), "weekend");
  EXPECT_THROW(parse_staffing("holiday"), std::invalid_argument);
  EXPECT_EQ(parse_chatty("offload"), Chatty::offload);
  EXPECT_STREQ(name_of(Chatty::block), "block");
  EXPECT_THROW(parse_chatty("loud"), std::invalid_argument);
}

TEST(domain, two_bots_at_one_table_is_a_collision) {
  Tables tables(2);
  tables.enter(0, Step::plate);
  tables.enter(0, Step::deliver);  // the WaitBot grabs the plate while the chef still holds it
  tables.leave(0, Step::deliver);
  tables.leave(0, Step::plate);
  tables.enter(1, Step::clear);
  tables.enter(1, Step::seat);
  EXPECT_EQ(tables.collisions()[static_cast<int>(Collision::plate_grabbed)], 1);
  EXPECT_EQ(tables.collisions()[static_cast<int>(Collision::seated_while_clearing)], 1);
  tables.open_order(0);
  EXPECT_TRUE(tables.claim_order(0, true));
  EXPECT_FALSE(tables.claim_order(0, true));  // one order, one WaitBot
}

TEST(sleep_queue, wakes_in_deadline_order_never_early) {
  namespace asio = boost::asio;
  asio::io_context loop(1);
  tvl::SleepQueue q(loop.get_executor());
  std::vector<int> order;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i : {3, 1, 2, 0}) {
    co_spawn(
        loop,
        [&, i]() -> asio::awaitable<void> {
          const auto when = t0 + std::chrono::milliseconds(5 * i);
          co_await q.sleep_until(when, asio::use_awaitable);
          EXPECT_GE(std::chrono::steady_clock::now(), when);
          order.push_back(i);
        },
        asio::detached);
  }
  loop.run();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(q.size(), 0u);
}

namespace {

// Every model and variant serves every diner of a tiny service, with either staffing.
void serves_every_diner(const char* model, const char* variant) {
  for (const char* staff : {"book", "weekend"}) {
    const Params p = tiny(model, variant, staff);
    const Result r = tvl::catalog::run_restaurant(p);  // throws unless every diner paid
    EXPECT_EQ(r.meals, 8) << staff;
    EXPECT_GE(r.latency_ns.min(), static_cast<std::uint64_t>(ideal_meal(p).count()) / 2) << staff;
  }
}

// Every model stops at the run's deadline, and the run is refused: here each table's second
// diner would arrive only a minute after the first, long after the deadline.
void stops_at_its_deadline(const char* model, const char* variant) {
  Params p = tiny(model, variant);
  p.period_s = 60;
  p.deadline_s = 0.3;
  EXPECT_THROW(tvl::catalog::run_restaurant(p), std::runtime_error);
}

// Tests per variant of the catalog (tests/catalog_tests.hpp): threads.safe_serves_every_diner...
const bool registered = [] {
  for (const auto& v : tvl::catalog::restaurant_variants()) {
    tvl::testing_catalog::register_test(
        v.model, v.variant, "serves_every_diner",
        [&v] { serves_every_diner(std::string(v.model).c_str(), std::string(v.variant).c_str()); }, __FILE__, __LINE__);
    tvl::testing_catalog::register_test(
        v.model, v.variant, "stops_at_its_deadline",
        [&v] { stops_at_its_deadline(std::string(v.model).c_str(), std::string(v.variant).c_str()); }, __FILE__,
        __LINE__);
  }
  return true;
}();

}  // namespace

TEST(asyncloop, chatty_guest_block_and_offload_serve_everyone) {
  for (const char* mode : {"block", "offload"}) {
    Params p = tiny("asyncloop", "safe");
    p.chatty = parse_chatty(mode);
    p.chatty_ms = 5;
    p.chatty_every = 3;
    const Result r = tvl::catalog::run_restaurant(p);
    EXPECT_EQ(r.meals, 8) << mode;
    EXPECT_EQ(r.os_threads,
              std::string(mode) == "offload" ? 1 + static_cast<int>(std::thread::hardware_concurrency()) : 1);
  }
}

TEST(catalog, unknown_names_are_refused) {
  Params p = tiny("asyncloop", "racy");
  EXPECT_THROW(tvl::catalog::run_restaurant(p), std::invalid_argument);
  EXPECT_THROW(tiny("threads", "safe", "holiday"), std::invalid_argument);
}
