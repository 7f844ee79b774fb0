// The restaurant on a oneTBB pool: no bots of its own, only steps.
//
// Every step a diner asks for is a task enqueued on a fixed oneTBB arena; whichever worker is
// free does it. The tables are records moved on by the step that ends their action, or by the
// clock thread that ends their waits (TableRecords in threads/restaurant_common.hpp), as in the
// thread-per-bot model; only who does the steps changes. The pool's workers run in parallel, so
// the unsafe variant collides here as it does with a thread per bot.
//
// Compare with threads/restaurant_bots.cpp (the same tables, a thread per bot) and
// asyncloop/restaurant.cpp (the LoopBot, where one thread does every step in turn).
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

#include "scenarios/restaurant.hpp"
#include "threads/restaurant_common.hpp"

namespace tvl::restaurant {
namespace {

class PoolSteps {
 public:
  explicit PoolSteps(const Params& p)
      : p_(p),
        service_(p),
        stats_(service_.roster(true)),
        records_(p, service_.recorder(), [this](const Job& job) { dispatch(job); }) {}

  Result run() {
    // No thread of ours joins the arena (steps arrive by enqueue), so reserve no slot for one,
    // and let oneTBB's global pool hold that many workers.
    const int workers = p_.os_threads > 0 ? p_.os_threads : static_cast<int>(std::thread::hardware_concurrency());
    tbb::global_control pool_size(tbb::global_control::max_allowed_parallelism, workers + 1);
    arena_.emplace(workers, 0);
    records_.serve();
    while (in_pool_.load() > 0) std::this_thread::yield();  // task_arena does not wait for enqueued tasks
    arena_.reset();
    return finish_threads(service_, stats_, workers + 1);  // the workers and the clock
  }

 private:
  // A step as a pool task; a diner ready to order is seen by as many tasks as there are WaitBots.
  void dispatch(const Job& job) {
    service_.call_bots(job, [this](Role role, const Job& called) {
      in_pool_.fetch_add(1);
      arena_->enqueue([this, called, role] {
        step(called, role);
        in_pool_.fetch_sub(1);
      });
    });
  }

  // The pool's bots are not threads, so a step is counted for its role, which tasks on other
  // workers count into at the same time.
  void step(const Job& job, Role role) {
    BotStat done{role, 0};
    thread_step(service_, job, done, [this](int table) { records_.advance(table); });
    std::lock_guard lock(stats_mutex_);
    BotStat& stat = stats_[static_cast<std::size_t>(role)];
    stat.busy_ns += done.busy_ns;
    stat.steps += done.steps;
  }

  const Params& p_;
  Service service_;
  std::mutex stats_mutex_;
  std::vector<BotStat> stats_;  // one per role
  TableRecords records_;
  std::atomic<int> in_pool_{0};  // tasks queued or running
  std::optional<tbb::task_arena> arena_;
};

}  // namespace

Result run_tbb(const Params& p) {
  return serve_measured(p, [&p] { return PoolSteps(p).run(); });
}

}  // namespace tvl::restaurant
