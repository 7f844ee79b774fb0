// The threaded restaurants' shared parts: a bot's step on a thread, the ThreadBots, and tables
// as records.
#include "threads/restaurant_common.hpp"

#include <string>
#include <utility>

#include "measure/metrics.hpp"

namespace tvl::restaurant {
namespace {

constexpr int kGoHome = -1;  // a job for this table sends the bot home

}  // namespace

void thread_step(Service& service, const Job& job, BotStat& stat, const HandBack& hand_back) {
  const auto began = service.begin_step(job);
  if (!began) return;  // another WaitBot took the order
  if (service.guest_talks(job))
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(service.params().chatty_ms));
  service.end_step(job, *began, stat, hand_back);
}

Result finish_threads(Service& service, std::vector<BotStat> bots, int os_threads) {
  Result r = service.finish(std::move(bots));
  r.os_threads = os_threads;
  r.stack_kib = metrics::default_stack_kib();
  return r;
}

ThreadBots::ThreadBots(Service& service, HandBack hand_back)
    : service_(service), hand_back_(std::move(hand_back)), stats_(service.roster()), queues_(kRoles) {}

void ThreadBots::start() {
  for (auto& stat : stats_) threads_.emplace_back([this, &stat] { bot(stat); });
}

// A bot: take a job from its role's queue, do the step, hand the table back.
void ThreadBots::bot(BotStat& stat) {
  auto& jobs = queues_[static_cast<std::size_t>(stat.role)];
  for (;;) {
    const Job job = jobs.pop();
    if (job.table == kGoHome) return;
    thread_step(service_, job, stat, hand_back_);
  }
}

void ThreadBots::send(const Job& job) {
  service_.call_bots(job,
                     [this](Role role, const Job& called) { queues_[static_cast<std::size_t>(role)].push(called); });
}

// One "go home" per bot: it comes after every job already queued for the bot's role.
void ThreadBots::send_home() {
  if (std::exchange(sent_home_, true)) return;
  for (const auto& stat : stats_) queues_[static_cast<std::size_t>(stat.role)].push({kGoHome, 0, Step::seat});
  for (auto& thread : threads_) thread.join();
}

Result ThreadBots::finish(int other_threads) {
  send_home();
  return finish_threads(service_, stats_, threads() + other_threads);
}

void TableWaits::hand_back(int table) {
  Table& t = tables_[static_cast<std::size_t>(table)];
  {
    std::lock_guard lock(t.mutex);
    t.handed_back = true;
  }
  t.wake.notify_one();
}

void TableWaits::wait_for_hand_back(int table) {
  Table& t = tables_[static_cast<std::size_t>(table)];
  std::unique_lock lock(t.mutex);
  t.wake.wait(lock, [this, &t] { return t.handed_back || closed_; });
  if (closed_) throw Closed{};
  t.handed_back = false;
}

void TableWaits::sleep_until(int table, Clock::time_point deadline) {
  Table& t = tables_[static_cast<std::size_t>(table)];
  std::unique_lock lock(t.mutex);
  if (t.wake.wait_until(lock, deadline, [this] { return closed_.load(); })) throw Closed{};
}

void TableWaits::close_after(int tables, std::chrono::duration<double> deadline) {
  {
    std::unique_lock lock(done_mutex_);
    all_done_.wait_for(lock, deadline, [this, tables] { return tables_done_ == tables; });
  }
  closed_ = true;
  for (Table& t : tables_) {
    std::lock_guard lock(t.mutex);  // a table between its look at closed_ and its wait holds this
    t.wake.notify_one();
  }
}

void TableWaits::table_done() {
  std::lock_guard lock(done_mutex_);
  ++tables_done_;
  all_done_.notify_one();
}

TableThreads::TableThreads(int tables, int running, const std::function<void(int)>& table) : table_(table) {
  try {
    for (int t = 0; t < tables; ++t)
      threads_.emplace_back([this, t] {
        try {
          table_(t);
        } catch (const Closed&) {
          return;  // the run closed at its deadline: the table is left as it is
        }
      });
  } catch (const std::system_error& e) {  // the limit this model runs into
    const auto created = threads_.size() + static_cast<std::size_t>(running);
    refused_.emplace(
        "thread creation failed after " + std::to_string(created) + " threads (" + e.what() + "); " +
            metrics::thread_limits(),
        limits::kThreadLimit,
        nlohmann::json{{"threads", created}, {"cause", e.what()}, {"limits", metrics::thread_limit_values()}});
  }
}

void TableThreads::join_all() {
  for (auto& thread : threads_)
    if (thread.joinable()) thread.join();
}

void TableThreads::join() {
  join_all();
  if (refused_) throw *std::exchange(refused_, std::nullopt);
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
