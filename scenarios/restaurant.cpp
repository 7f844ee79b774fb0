// The restaurant domain: the meal's script, arrivals, collision checks and the run's record.
#include "scenarios/restaurant.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "measure/rss_sampler.hpp"
#include "scenarios/names.hpp"

namespace tvl::restaurant {

using namespace std::chrono_literals;

const char* role_name(Role r) {
  static constexpr const char* names[] = {"GreetBot", "WaitBot", "ChefBot", "WineBot"};
  return names[static_cast<int>(r)];
}

const char* step_name(Step s) {
  static constexpr const char* names[] = {"seat", "take_order", "pour", "prep", "plate", "deliver", "bill", "clear"};
  return names[static_cast<int>(s)];
}

Role role_of(Step s) {
  switch (s) {
    case Step::seat:
    case Step::bill:
      return Role::greet;
    case Step::take_order:
    case Step::deliver:
    case Step::clear:
      return Role::wait;
    case Step::prep:
    case Step::plate:
      return Role::chef;
    case Step::pour:
      return Role::wine;
  }
  return Role::greet;
}

const char* collision_name(Collision c) {
  static constexpr const char* names[] = {"duplicate_order", "seated_while_clearing", "plate_grabbed", "other"};
  return names[static_cast<int>(c)];
}

namespace {

// The meal, in order: a request is a bot's step, a wait is the diner's (menu, cooking, eating).
constexpr Action kMeal[] = {
    {Action::request, Step::seat, 0},       {Action::wait, Step::seat, 0},  // read the menu
    {Action::request, Step::take_order, 0}, {Action::request, Step::pour, 0},
    {Action::request, Step::prep, 0},       {Action::wait, Step::prep, 1},  // cooking
    {Action::request, Step::plate, 0},      {Action::request, Step::deliver, 0},
    {Action::wait, Step::deliver, 2},  // eating
    {Action::request, Step::bill, 0},       {Action::request, Step::clear, 0},
    {Action::done, Step::clear, 0},
};

// The bot steps one diner's meal takes: one per request of the script. Every WaitBot hears the
// call to order, but only the one that claims it does a step; the others (the broadcast's
// losers) count none, so they add nothing to this.
constexpr std::int64_t kStepsPerDiner = std::ranges::count(kMeal, Action::request, &Action::kind);

}  // namespace

const std::vector<Action>& script() {
  static const std::vector<Action> meal(std::begin(kMeal), std::end(kMeal));
  return meal;
}

namespace {

constexpr std::array<std::string_view, 2> kStaffingNames = {"book", "weekend"};
constexpr std::array<std::string_view, 3> kChattyNames = {"none", "block", "offload"};

}  // namespace

Staffing parse_staffing(std::string_view name) { return parse_name<Staffing>(kStaffingNames, name, "staffing"); }

const char* name_of(Staffing s) { return kStaffingNames[static_cast<std::size_t>(s)].data(); }

Staff staff_for(Staffing s) {
  if (s == Staffing::weekend) return {{2, 3, 1, 1}};  // a second GreetBot and two more WaitBots
  return {{1, 1, 1, 1}};
}

Chatty parse_chatty(std::string_view name) { return parse_name<Chatty>(kChattyNames, name, "chatty mode"); }

const char* name_of(Chatty c) { return kChattyNames[static_cast<std::size_t>(c)].data(); }

int bots_called(const Staff& staff, Step step) {
  return step == Step::take_order ? staff.bots[static_cast<std::size_t>(Role::wait)] : 1;
}

std::chrono::nanoseconds service_time(Step s) {
  static constexpr std::chrono::microseconds times[] = {200us, 150us, 150us, 300us, 150us, 100us, 250us, 200us};
  return times[static_cast<int>(s)];
}

std::chrono::nanoseconds wait_time(const Params& p, const Action& a) {
  return std::chrono::nanoseconds(static_cast<std::int64_t>(p.waits_ms[static_cast<std::size_t>(a.wait_index)] * 1e6));
}

void work_for(std::chrono::nanoseconds d) {
  const auto until = Clock::now() + d;
  while (Clock::now() < until) {
  }
}

std::chrono::nanoseconds arrival(const Params& p, int table, int turn) {
  // A table's first diner arrives at a seeded random point of the ramp; the next ones follow
  // every period. The schedule never depends on how fast the restaurant serves (open loop).
  // splitmix64 of (seed, table): cheap, and the same schedule for every model.
  std::uint64_t z = p.seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(table) + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  const double offset = static_cast<double>(z >> 11) / 9007199254740992.0 * p.ramp_s;  // uniform in [0, ramp)
  return std::chrono::nanoseconds(static_cast<std::int64_t>((offset + turn * p.period_s) * 1e9));
}

std::chrono::nanoseconds ideal_meal(const Params& p) {
  std::chrono::nanoseconds total{0};
  for (const Action& a : script()) {
    if (a.kind == Action::request && a.step != Step::clear)
      total += std::chrono::duration_cast<std::chrono::nanoseconds>(service_time(a.step) * p.service_scale);
    if (a.kind == Action::wait) total += wait_time(p, a);
  }
  return total;
}

std::chrono::nanoseconds walk_time(const Params& p) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(service_time(Step::take_order) * p.service_scale / 5);
}

bool is_chatty(const Params& p, int table, int turn) {
  return p.chatty != Chatty::none && (table * p.turns + turn) % p.chatty_every == 0;
}

void Tables::enter(int table, Step step) {
  Table& t = (*this)[table];
  if (t.bots_here.fetch_add(1) != 0) {
    const Step there = t.last_step.load();
    Collision c = Collision::other;
    if (step == Step::deliver && there == Step::plate) c = Collision::plate_grabbed;
    if (step == Step::seat && there == Step::clear) c = Collision::seated_while_clearing;
    collisions_[static_cast<std::size_t>(c)].fetch_add(1);
  }
  t.last_step.store(step);
}

void Tables::leave(int table, Step) { (*this)[table].bots_here.fetch_sub(1); }

void Tables::open_order(int table) {
  Table& t = (*this)[table];
  t.order_claims.store(0);
  t.order_open.store(true);
}

bool Tables::claim_order(int table, bool safe, std::chrono::nanoseconds walk) {
  Table& t = (*this)[table];
  if (safe) {
    if (!t.order_open.exchange(false)) return false;
  } else {
    if (!t.order_open.load()) return false;  // look ...
    work_for(walk);                          // ... walk over ...
    t.order_open.store(false);               // ... and take the order
  }
  if (t.order_claims.fetch_add(1) != 0) {  // another WaitBot has this slip already
    collisions_[static_cast<std::size_t>(Collision::duplicate_order)].fetch_add(1);
    return false;
  }
  return true;
}

std::array<std::int64_t, kCollisionKinds> Tables::collisions() const {
  std::array<std::int64_t, kCollisionKinds> out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = collisions_[i].load();
  return out;
}

Recorder::Recorder(const Params& p) : ideal_(ideal_meal(p)) {}

void Recorder::meal_paid(std::chrono::nanoseconds arrived) {
  const auto latency = now() - arrived;
  meals_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mutex_);
  latency_.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, latency.count())));
  overhead_.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, (latency - ideal_).count())));
}

void Recorder::woke(std::chrono::nanoseconds late) {
  std::lock_guard lock(mutex_);
  lateness_.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, late.count())));
}

void Recorder::finish(Result& r) {
  r.seconds = std::chrono::duration<double>(now()).count();
  r.meals = meals_.load();
  r.tables_started = tables_started_.load();
  std::lock_guard lock(mutex_);
  r.latency_ns = latency_;
  r.overhead_ns = overhead_;
  r.lateness_ns = lateness_;
}

void check_work(const Params& p, const Result& r) {
  const auto expected = std::int64_t{p.tables} * p.turns;
  if (r.tables_started != p.tables)
    throw std::runtime_error(
        fmt::format("restaurant/{}/{}: {} of {} tables saw a diner", p.model, p.variant, r.tables_started, p.tables));
  if (r.meals != expected || static_cast<std::int64_t>(r.latency_ns.count()) != expected)
    throw std::runtime_error(
        fmt::format("restaurant/{}/{}: {} of {} diners paid", p.model, p.variant, r.meals, expected));
  std::int64_t steps = 0;
  for (const auto& b : r.bots) steps += b.steps;
  if (steps < expected * kStepsPerDiner)
    throw std::runtime_error(fmt::format("restaurant/{}/{}: bots did {} steps, at least {} needed", p.model, p.variant,
                                         steps, expected * kStepsPerDiner));
}

Result serve_measured(const Params& p, const std::function<Result()>& serve) {
  Result r;
  const metrics::Footprint used = metrics::run_measured([&r, &serve] { r = serve(); });
  r.rss_before_kib = used.rss_before_kib;
  r.rss_peak_kib = used.rss_peak_kib;
  r.vcsw = used.vcsw;
  r.ivcsw = used.ivcsw;
  r.tables = p.tables;
  r.turns = p.turns;
  return r;
}

namespace {

bool safe_variant(const Params& p) {
  if (p.variant != "safe" && p.variant != "unsafe")
    throw std::invalid_argument("restaurant/" + p.model + ": no variant '" + p.variant + "'");
  return p.variant == "safe";
}

}  // namespace

Service::Service(const Params& p)
    : p_(p), safe_(safe_variant(p)), staff_(staff_for(p.staff)), tables_(p.tables), recorder_(p) {}

std::vector<BotStat> Service::roster(bool one_per_role) const {
  std::vector<BotStat> bots;
  for (int r = 0; r < kRoles; ++r) {
    const int instances = one_per_role ? 1 : staff_.bots[static_cast<std::size_t>(r)];
    for (int i = 0; i < instances; ++i) bots.push_back({static_cast<Role>(r), i});
  }
  return bots;
}

std::optional<Clock::time_point> Service::begin_step(const Job& job) {
  if (job.step == Step::take_order && !tables_.claim_order(job.table, safe_, walk_time(p_))) return std::nullopt;
  const auto began = Clock::now();
  tables_.enter(job.table, job.step);
  return began;
}

Result Service::finish(std::vector<BotStat> bots) {
  Result r;
  recorder_.finish(r);
  r.bots = std::move(bots);
  r.collisions = tables_.collisions();
  return r;
}

}  // namespace tvl::restaurant
