// The threaded restaurants' shared parts: a bot's step, the ThreadBots, and tables as records.
#include "threads/restaurant_common.hpp"

#include "measure/metrics.hpp"

namespace tvl::restaurant {
namespace {

constexpr int kGoHome = -1;  // a job for this table sends the bot home

}  // namespace

ThreadRestaurant::ThreadRestaurant(const Params& p, bool one_stat_per_role)
    : p_(p), staff_(staff_named(p.staff)), tables_(p.tables), recorder_(p), queues_(kRoles) {
  for (int r = 0; r < kRoles; ++r)
    for (int i = 0; i < (one_stat_per_role ? 1 : staff_.bots[static_cast<std::size_t>(r)]); ++i)
      stats_.push_back({static_cast<Role>(r), i});
}

// The chatty guest holds this bot's thread; the other bots go on. The unsafe bot hands the
// table back halfway through its step, so the next bot can come while it is still there.
void ThreadRestaurant::step(const Job& job, BotStat& stat) {
  if (job.step == Step::take_order && !tables_.claim_order(job.table, p_.variant == "safe", walk_time(p_))) return;
  const auto t0 = Clock::now();
  tables_.enter(job.table, job.step);
  if (job.step == Step::bill && is_chatty(p_, job.table, job.turn))
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(p_.chatty_ms));
  const auto half = std::chrono::duration_cast<std::chrono::nanoseconds>(service_time(job.step) * p_.service_scale / 2);
  work_for(half);
  if (p_.variant != "safe") hand_back(job);  // too early: the step is not finished
  work_for(half);
  tables_.leave(job.table, job.step);
  if (p_.variant == "safe") hand_back(job);
  std::lock_guard lock(stats_mutex_);  // uncontended but for the pool's shared per-role stats
  stat.busy_ns += (Clock::now() - t0).count();
  ++stat.steps;
}

void ThreadRestaurant::start_bots() {
  for (auto& stat : stats_) bots_.emplace_back([this, &stat] { bot(stat); });
}

// A bot: take a job from its role's queue, do the step, hand the table back.
void ThreadRestaurant::bot(BotStat& stat) {
  auto& jobs = queues_[static_cast<std::size_t>(stat.role)];
  for (;;) {
    const Job job = jobs.pop();
    if (job.table == kGoHome) return;
    step(job, stat);
  }
}

void ThreadRestaurant::send_to_bots(const Job& job) {
  if (job.step == Step::take_order) tables_.open_order(job.table);
  for (int i = 0; i < bots_called(staff_, job.step); ++i)
    queues_[static_cast<std::size_t>(role_of(job.step))].push(job);
}

// One "go home" per bot: it comes after every job already queued for the bot's role.
void ThreadRestaurant::send_bots_home() {
  for (const auto& stat : stats_) queues_[static_cast<std::size_t>(stat.role)].push({kGoHome, 0, Step::seat});
  for (auto& b : bots_) b.join();
}

Result ThreadRestaurant::finish(int os_threads) {
  Result r;
  recorder_.finish(r);
  r.bots = stats_;
  r.collisions = tables_.collisions();
  r.os_threads = os_threads;
  r.stack_kib = metrics::default_stack_kib();
  return r;
}

TableRecords::TableRecords(const Params& p, Recorder& recorder, Dispatch dispatch)
    : p_(p), recorder_(recorder), dispatch_(std::move(dispatch)), cursors_(static_cast<std::size_t>(p.tables)) {}

void TableRecords::serve() {
  clock_.emplace([this](int t, Clock::time_point when) {
    recorder_.woke(Clock::now() - when);
    advance(t);
  });
  for (int t = 0; t < p_.tables; ++t)
    clock_->schedule(recorder_.at(cursors_[static_cast<std::size_t>(t)].arrived = arrival(p_, t, 0)), t);
  {
    std::unique_lock lock(done_mutex_);
    all_done_.wait_for(lock, std::chrono::duration<double>(p_.deadline_s),
                       [this] { return tables_done_ == p_.tables; });
  }
  stopping_ = true;
  clock_.reset();
}

// The next line of the table's script: a request goes to the bots, a wait to the clock, and
// the end of a meal brings the table's next diner, on the clock too, or ends the table.
void TableRecords::advance(int t) {
  if (stopping_) return;
  Cursor& c = cursors_[static_cast<std::size_t>(t)];
  if (c.action == kArriving) {
    if (c.turn == 0) recorder_.table_started();
    c.action = 0;
  } else {
    const Action& was = script()[c.action];
    if (was.kind == Action::request && was.step == Step::bill) recorder_.meal_paid(c.arrived);
    ++c.action;
  }
  const Action& a = script()[c.action];
  if (a.kind == Action::request) return dispatch_({t, c.turn, a.step});
  if (a.kind == Action::wait) return clock_->schedule(recorder_.at(recorder_.now() + wait_time(p_, a)), t);
  if (++c.turn < p_.turns) {
    c.action = kArriving;
    c.arrived = arrival(p_, t, c.turn);
    return clock_->schedule(recorder_.at(c.arrived), t);
  }
  table_done();
}

void TableRecords::table_done() {
  std::lock_guard lock(done_mutex_);
  if (++tables_done_ == p_.tables) all_done_.notify_one();
}

}  // namespace tvl::restaurant
