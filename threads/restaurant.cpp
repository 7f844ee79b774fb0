// The restaurant with OS threads: the book's ThreadBots (ch. 1).
//
// Every bot is an OS thread blocking on its role's queue (bots of one role share it). Three
// ways to drive the tables:
//   threads            a thread per bot; a table is a record that the bot finishing a step, or
//                      the clock thread ending a wait, moves on to its next action;
//   threads-per-table  also a thread per table, which follows its diners through the script
//                      and sleeps through the waits: the way to "one thread per connection";
//   tbb                no bots: every step is a task on a fixed oneTBB pool.
// Bots run in parallel, so a bot that hands a table back before it has finished (the unsafe
// variant) collides with the next bot at that table, as the book's ThreadBots do.
//
// Compare with asyncloop/restaurant.cpp: the same script, tables and bots; only the model changes.
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include <atomic>
#include <condition_variable>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "measure/limits.hpp"
#include "measure/metrics.hpp"
#include "scenarios/restaurant.hpp"
#include "threads/blocking_queue.hpp"
#include "threads/clock_thread.hpp"

namespace tvl::restaurant {
namespace {

enum class Mode { per_bot, per_table, pool };
constexpr int kGoHome = -1;  // a job for this table sends the bot home
constexpr std::size_t kArriving = ~std::size_t{0};

struct Job {
  int table;
  int turn;
  Step step;
};

struct Waiter {  // a table thread waiting for its bot
  std::mutex mutex;
  std::condition_variable done;
  bool ready = false;
};

struct Cursor {  // where a table is in its script (per-bot and pool modes)
  int turn = 0;
  std::size_t action = kArriving;
  std::chrono::nanoseconds arrived{0};
};

std::chrono::nanoseconds wait_of(const Params& p, const Action& a) {
  return std::chrono::nanoseconds(static_cast<std::int64_t>(p.waits_ms[static_cast<std::size_t>(a.wait_index)] * 1e6));
}

class ThreadRestaurant {
 public:
  ThreadRestaurant(const Params& p, Mode mode)
      : p_(p),
        mode_(mode),
        staff_(staff_named(p.staff)),
        tables_(p.tables),
        recorder_(p),
        queues_(kRoles),
        waiters_(mode == Mode::per_table ? static_cast<std::size_t>(p.tables) : 0),
        cursors_(mode == Mode::per_table ? 0 : static_cast<std::size_t>(p.tables)) {
    for (int r = 0; r < kRoles; ++r)
      for (int i = 0; i < (mode == Mode::pool ? 1 : staff_.bots[static_cast<std::size_t>(r)]); ++i)
        stats_.push_back({static_cast<Role>(r), i});
  }

  Result run() {
    Result r;
    // No thread of ours joins the arena (steps arrive by enqueue), so reserve no slot for one,
    // and let oneTBB's global pool hold that many workers.
    const int workers = p_.os_threads > 0 ? p_.os_threads : static_cast<int>(std::thread::hardware_concurrency());
    std::optional<tbb::global_control> pool_size;
    if (mode_ == Mode::pool) {
      pool_size.emplace(tbb::global_control::max_allowed_parallelism, workers + 1);
      arena_.emplace(workers, 0);
    }
    std::vector<std::thread> bots, tables;
    if (mode_ != Mode::pool)
      for (auto& stat : stats_) bots.emplace_back([this, &stat] { bot(stat); });
    if (mode_ == Mode::per_table) {
      try {
        for (int t = 0; t < p_.tables; ++t) tables.emplace_back([this, t] { table(t); });
      } catch (const std::system_error& e) {  // the limit this model runs into
        const auto created = tables.size() + bots.size();
        failure_ = "thread creation failed after " + std::to_string(created) + " threads (" + e.what() + "); " +
                   metrics::thread_limits();
        failure_detail_ = {{"threads", created}, {"cause", e.what()}, {"limits", metrics::thread_limit_values()}};
        tables_done_ += p_.tables - static_cast<int>(tables.size());
      }
      for (auto& t : tables) t.join();
    } else {
      clock_.emplace([this](int t, Clock::time_point when) {
        recorder_.woke(Clock::now() - when);
        advance(t);
      });
      for (int t = 0; t < p_.tables; ++t)
        clock_->schedule(recorder_.at(cursors_[static_cast<std::size_t>(t)].arrived = arrival(p_, t, 0)), t);
      std::unique_lock lock(done_mutex_);
      all_done_.wait_for(lock, std::chrono::duration<double>(p_.deadline_s),
                         [this] { return tables_done_ == p_.tables; });
      stopping_ = true;  // past the deadline, tables stop moving on (check_work will say so)
    }
    clock_.reset();
    for (auto& stat : stats_)  // one "go home" per bot
      if (mode_ != Mode::pool) queues_[static_cast<std::size_t>(stat.role)].push({kGoHome, 0, Step::seat});
    for (auto& b : bots) b.join();
    while (in_pool_.load() > 0) std::this_thread::yield();  // task_arena does not wait for enqueued tasks
    arena_.reset();
    if (!failure_.empty()) throw limits::LimitReached(failure_, limits::kThreadLimit, failure_detail_);
    recorder_.finish(r);
    r.bots = stats_;
    r.collisions = tables_.collisions();
    r.os_threads = mode_ == Mode::pool
                       ? (p_.os_threads > 0 ? p_.os_threads : static_cast<int>(std::thread::hardware_concurrency())) + 1
                       : static_cast<int>(bots.size() + tables.size()) + (mode_ == Mode::per_bot ? 1 : 0);
    r.stack_kib = metrics::default_stack_kib();
    return r;
  }

 private:
  // A bot: take a job from its role's queue, do the step, hand the table back.
  void bot(BotStat& stat) {
    auto& jobs = queues_[static_cast<std::size_t>(stat.role)];
    for (;;) {
      const Job job = jobs.pop();
      if (job.table == kGoHome) return;
      step(job, stat);
    }
  }

  void step(const Job& job, BotStat& stat) {
    if (job.step == Step::take_order && !tables_.claim_order(job.table, p_.variant == "safe", walk_time(p_))) return;
    const auto t0 = Clock::now();
    tables_.enter(job.table, job.step);
    // The chatty guest holds this bot's thread; the other bots go on.
    if (job.step == Step::bill && is_chatty(p_, job.table, job.turn))
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(p_.chatty_ms));
    const auto half =
        std::chrono::duration_cast<std::chrono::nanoseconds>(service_time(job.step) * p_.service_scale / 2);
    work_for(half);
    if (p_.variant != "safe") hand_back(job);  // too early: the step is not finished
    work_for(half);
    tables_.leave(job.table, job.step);
    if (p_.variant == "safe") hand_back(job);
    std::lock_guard lock(stats_mutex_);  // uncontended but for the pool's shared per-role stats
    stat.busy_ns += (Clock::now() - t0).count();
    ++stat.steps;
  }

  // Queue a job for its role; a diner ready to order is seen by every WaitBot.
  void dispatch(const Job& job) {
    const auto role = static_cast<std::size_t>(role_of(job.step));
    const int copies = job.step == Step::take_order ? staff_.bots[static_cast<std::size_t>(Role::wait)] : 1;
    if (job.step == Step::take_order) tables_.open_order(job.table);
    for (int i = 0; i < copies; ++i) {
      if (mode_ == Mode::pool) {
        in_pool_.fetch_add(1);
        arena_->enqueue([this, job, role] {
          step(job, stats_[role]);
          in_pool_.fetch_sub(1);
        });
      } else
        queues_[role].push(job);
    }
  }

  void hand_back(const Job& job) {
    if (mode_ != Mode::per_table) return advance(job.table);
    Waiter& w = waiters_[static_cast<std::size_t>(job.table)];
    {
      std::lock_guard lock(w.mutex);
      w.ready = true;
    }
    w.done.notify_one();
  }

  // Per-bot and pool modes: the action in progress is over; start the table's next one.
  void advance(int t) {
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
    if (a.kind == Action::request) return dispatch({t, c.turn, a.step});
    if (a.kind == Action::wait) return clock_->schedule(recorder_.at(recorder_.now() + wait_of(p_, a)), t);
    if (++c.turn < p_.turns) {
      c.action = kArriving;
      c.arrived = arrival(p_, t, c.turn);
      return clock_->schedule(recorder_.at(c.arrived), t);
    }
    table_done();
  }

  // Per-table mode: the table's own thread follows its diners through the script.
  void table(int t) {
    for (int turn = 0; turn < p_.turns; ++turn) {
      const auto arrived = arrival(p_, t, turn);
      sleep_until(arrived);
      if (turn == 0) recorder_.table_started();
      for (const Action& a : script()) {
        if (a.kind == Action::request) request({t, turn, a.step});
        if (a.kind == Action::request && a.step == Step::bill) recorder_.meal_paid(arrived);
        if (a.kind == Action::wait) sleep_until(recorder_.now() + wait_of(p_, a));
      }
    }
    table_done();
  }

  void request(const Job& job) {
    Waiter& w = waiters_[static_cast<std::size_t>(job.table)];
    dispatch(job);
    std::unique_lock lock(w.mutex);
    w.done.wait(lock, [&w] { return w.ready; });
    w.ready = false;
  }

  void sleep_until(std::chrono::nanoseconds since_start) {
    const auto deadline = recorder_.at(since_start);
    std::this_thread::sleep_until(deadline);
    recorder_.woke(Clock::now() - deadline);
  }

  void table_done() {
    std::lock_guard lock(done_mutex_);
    if (++tables_done_ == p_.tables) all_done_.notify_one();
  }

  const Params& p_;
  Mode mode_;
  Staff staff_;
  Tables tables_;
  Recorder recorder_;
  std::vector<BlockingQueue<Job>> queues_;  // per role
  std::vector<Waiter> waiters_;             // per table (per-table mode)
  std::vector<Cursor> cursors_;             // per table (per-bot and pool modes)
  std::vector<BotStat> stats_;
  std::mutex stats_mutex_, done_mutex_;
  std::condition_variable all_done_;
  int tables_done_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> in_pool_{0};  // pool tasks queued or running
  std::string failure_;
  nlohmann::json failure_detail_;  // the same, in fields (limits::LimitReached)
  std::optional<ClockThread> clock_;
  std::optional<tbb::task_arena> arena_;
};

Result run_mode(const Params& p, Mode mode, const char* model) {
  if (p.variant != "safe" && p.variant != "unsafe")
    throw std::invalid_argument(std::string("restaurant/") + model + ": no variant '" + p.variant + "'");
  RssSampler rss;
  const auto usage0 = metrics::usage();
  Result r = ThreadRestaurant(p, mode).run();
  r.rss_before_kib = rss.before_kib();
  r.rss_peak_kib = rss.peak_kib();
  const auto used = metrics::usage() - usage0;
  r.vcsw = used.vcsw, r.ivcsw = used.ivcsw;
  r.tables = p.tables, r.turns = p.turns;
  return r;
}

}  // namespace

Result run_threads(const Params& p) { return run_mode(p, Mode::per_bot, "threads"); }
Result run_threads_per_table(const Params& p) { return run_mode(p, Mode::per_table, "threads-per-table"); }
Result run_tbb(const Params& p) { return run_mode(p, Mode::pool, "tbb"); }

}  // namespace tvl::restaurant
