// The restaurant on an event loop: the book's LoopBot (ch. 1).
//
// One io_context, run by one thread, does the work of every bot. Each bot is a coroutine that
// awaits jobs on its role's channel; each table is a coroutine that follows its diners through
// the meal's script, waiting for bots and sleeping on the loop's one timer queue. Nothing runs in
// parallel, so a bot that hands a table back *before* it has finished (the unsafe variant)
// cannot collide with anyone: the next bot starts only when this one reaches a co_await.
// The LoopBot's weakness is the chatty guest: a step that blocks holds up every table, unless
// it is offloaded to a thread pool (the book's run_in_executor).
//
// Compare with threads/restaurant_per_table.cpp, its twin: the same bots and tables, blocking
// where these suspend. threads/restaurant.cpp (a thread per bot) and restaurant_tbb.cpp (a pool)
// make each table a record that callbacks move along the script: table() below, unrolled by hand.
#include <time.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <stdexcept>
#include <thread>

#include "asyncloop/loop_task.hpp"
#include "asyncloop/restaurant_chat.hpp"
#include "asyncloop/sleep_queue.hpp"
#include "scenarios/restaurant.hpp"

namespace tvl::restaurant {
namespace {

namespace asio = boost::asio;
using asio::use_awaitable;

using JobQueue = asio::experimental::channel<void(boost::system::error_code, Job)>;

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

class LoopRestaurant {
 public:
  LoopRestaurant(const Params& p, asio::io_context& loop, ChatFn chat = {})
      : p_(p),
        chat_(std::move(chat)),
        staff_(staff_named(p.staff)),
        loop_(loop),
        tables_(p.tables),
        recorder_(p),
        sleepers_(loop.get_executor()),
        waiting_(static_cast<std::size_t>(p.tables)),
        pool_threads_(p.os_threads > 0 ? p.os_threads : static_cast<int>(std::thread::hardware_concurrency())) {
    if (p.chatty == "offload") pool_.emplace(pool_threads_);
    const auto capacity = static_cast<std::size_t>(p.tables) * 3 + 16;
    for (int r = 0; r < kRoles; ++r) queues_.push_back(std::make_unique<JobQueue>(loop, capacity));
    for (int r = 0; r < kRoles; ++r)
      for (int i = 0; i < staff_.bots[static_cast<std::size_t>(r)]; ++i) stats_.push_back({static_cast<Role>(r), i});
  }

  void start() {
    for (auto& stat : stats_) co_spawn(loop_, bot(stat), rethrow);
    for (int t = 0; t < p_.tables; ++t) table(t).spawn(loop_.get_executor());
  }

  int pool_threads() const { return pool_ ? pool_threads_ : 0; }

  Result finish() {
    Result r;
    recorder_.finish(r);
    r.bots = stats_;
    r.collisions = tables_.collisions();
    r.loop_blocked_s = std::chrono::duration<double>(blocked_).count();
    return r;
  }

 private:
  // A bot: await a job, do the step, hand the table back.
  asio::awaitable<void> bot(BotStat& stat) {
    JobQueue& jobs = *queues_[static_cast<std::size_t>(stat.role)];
    for (;;) {
      auto [ec, job] = co_await jobs.async_receive(asio::as_tuple(use_awaitable));
      if (ec) co_return;  // the channel closed: the restaurant is shut
      if (job.step == Step::take_order && !tables_.claim_order(job.table, p_.variant == "safe", walk_time(p_)))
        continue;
      const auto t0 = Clock::now();
      tables_.enter(job.table, job.step);
      if (job.step == Step::bill && is_chatty(p_, job.table, job.turn)) co_await chat();
      const auto half =
          std::chrono::duration_cast<std::chrono::nanoseconds>(service_time(job.step) * p_.service_scale / 2);
      work_for(half);
      if (p_.variant != "safe") hand_back(job.table);  // too early: the step is not finished
      work_for(half);
      tables_.leave(job.table, job.step);
      if (p_.variant == "safe") hand_back(job.table);
      stat.busy_ns += (Clock::now() - t0).count();
      ++stat.steps;
    }
  }

  // The chatty guest holds the GreetBot. Blocking here blocks the whole loop; offloading moves
  // the wait to a pool thread and lets the loop serve everyone else meanwhile.
  asio::awaitable<void> chat() {
    const auto talk = std::chrono::duration<double, std::milli>(p_.chatty_ms);
    if (chat_) {  // the exercise's way (asyncloop/restaurant_chat.hpp)
      // Named, not a temporary inside the co_await: GCC 12 destroys such temporaries twice.
      auto chatting = chat_(loop_.get_executor(), [talk] { std::this_thread::sleep_for(talk); });
      co_await std::move(chatting);
    } else if (p_.chatty == "offload") {  // the talk runs on the pool; this bot resumes on the loop after it
      co_await co_spawn(
          pool_->get_executor(),
          [talk]() -> asio::awaitable<void> {
            std::this_thread::sleep_for(talk);
            co_return;
          },
          use_awaitable);
    } else {  // the loop thread itself sleeps: CPU time would count this as idle, so count it
      const auto t0 = Clock::now();
      std::this_thread::sleep_for(talk);
      blocked_ += Clock::now() - t0;
    }
  }

  // Resumes the table's coroutine later, on the loop, never inside the bot's step.
  void hand_back(int table) { post_wake(loop_.get_executor(), std::move(waiting_[static_cast<std::size_t>(table)])); }

  // The diner's request: queue a job for the role and wait, suspended, for the bot's hand-back.
  auto request(const Job& job) {
    struct Awaiter {
      LoopRestaurant& r;
      Job job;
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<> h) {
        r.waiting_[static_cast<std::size_t>(job.table)] = Wake(Resume(h));
        r.send(job);
      }
      void await_resume() const noexcept {}
    };
    return Awaiter{*this, job};
  }

  void send(const Job& job) {
    JobQueue& jobs = *queues_[static_cast<std::size_t>(role_of(job.step))];
    if (job.step == Step::take_order) tables_.open_order(job.table);
    for (int i = 0; i < bots_called(staff_, job.step); ++i)
      if (!jobs.try_send(boost::system::error_code{}, job))
        throw std::runtime_error("restaurant/asyncloop: a role's job queue is full");
  }

  // Sleeps, suspended, on the loop's one timer queue; then records how late it woke.
  auto sleep_until(Clock::time_point deadline) {
    struct Awaiter {
      LoopRestaurant& r;
      Clock::time_point deadline;
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<> h) { r.sleepers_.sleep_until(deadline).await_suspend(h); }
      void await_resume() const { r.recorder_.woke(Clock::now() - deadline); }
    };
    return Awaiter{*this, deadline};
  }

  // A table: its diners, one after another, each through the meal's script. A LoopTask, not an
  // asio::awaitable: see asyncloop/loop_task.hpp.
  LoopTask table(int t) {
    for (int turn = 0; turn < p_.turns; ++turn) {
      const auto arrived = arrival(p_, t, turn);
      co_await sleep_until(recorder_.at(arrived));
      if (turn == 0) recorder_.table_started();
      for (const Action& a : script()) {
        if (a.kind == Action::request) co_await request({t, turn, a.step});
        if (a.kind == Action::request && a.step == Step::bill) recorder_.meal_paid(arrived);
        if (a.kind == Action::wait) co_await sleep_until(Clock::now() + wait_time(p_, a));
      }
    }
    if (++tables_done_ == p_.tables)
      for (auto& q : queues_) q->close();  // the last diner has left: the bots go home
  }

  const Params& p_;
  ChatFn chat_;  // empty: p.chatty says how the guest talks
  Staff staff_;
  asio::io_context& loop_;
  Tables tables_;
  Recorder recorder_;
  SleepQueue sleepers_;
  std::vector<Wake> waiting_;                      // per table: its diner's hand-back
  std::vector<std::unique_ptr<JobQueue>> queues_;  // per role
  std::vector<BotStat> stats_;
  int pool_threads_;
  std::optional<asio::thread_pool> pool_;  // only for the offloaded chatty guest
  int tables_done_ = 0;
  Clock::duration blocked_{0};  // time the loop thread slept inside a step (the chatty guest)
};

}  // namespace

namespace {

Result serve(const Params& p, ChatFn chat) {
  return run_measured(p, "asyncloop", [&p, &chat] {
    asio::io_context loop(1);
    LoopRestaurant restaurant(p, loop, std::move(chat));
    const double cpu0 = thread_cpu_seconds();
    restaurant.start();
    loop.run_for(std::chrono::milliseconds(static_cast<std::int64_t>(p.deadline_s * 1000)));
    Result r = restaurant.finish();
    r.loop_cpu_s = thread_cpu_seconds() - cpu0;
    r.os_threads = 1 + restaurant.pool_threads();
    return r;
  });
}

}  // namespace

// The LoopBot: every bot and every table a coroutine on one io_context, run by this thread.
Result run_asyncloop(const Params& p) { return serve(p, {}); }

Result run_asyncloop_with_chat(const Params& p, ChatFn chat) {
  if (!chat) throw std::invalid_argument("restaurant/asyncloop: no chat function");
  if (p.chatty == "none") throw std::invalid_argument("restaurant/asyncloop: a chat function needs chatty guests");
  return serve(p, std::move(chat));
}

}  // namespace tvl::restaurant
