// The restaurant on a oneTBB pool: no bots of its own, only steps.
//
// Every step a diner asks for is a task enqueued on a fixed oneTBB arena; whichever worker is
// free does it. The tables are records moved on by the step that ends their action, or by the
// clock thread that ends their waits (TableRecords in threads/restaurant_common.hpp), as in the
// thread-per-bot model; only who does the steps changes. The pool's workers run in parallel, so
// the unsafe variant collides here as it does with a thread per bot.
//
// Compare with threads/restaurant.cpp (the same tables, a thread per bot) and
// asyncloop/restaurant.cpp (the LoopBot, where one thread does every step in turn).
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include <atomic>
#include <optional>
#include <thread>

#include "scenarios/restaurant.hpp"
#include "threads/restaurant_common.hpp"

namespace tvl::restaurant {
namespace {

class PoolSteps final : public ThreadRestaurant {
 public:
  explicit PoolSteps(const Params& p)
      : ThreadRestaurant(p, true), records_(p, recorder_, [this](const Job& job) { dispatch(job); }) {}

  Result run() {
    // No thread of ours joins the arena (steps arrive by enqueue), so reserve no slot for one,
    // and let oneTBB's global pool hold that many workers.
    const int workers = p_.os_threads > 0 ? p_.os_threads : static_cast<int>(std::thread::hardware_concurrency());
    tbb::global_control pool_size(tbb::global_control::max_allowed_parallelism, workers + 1);
    arena_.emplace(workers, 0);
    records_.serve();
    while (in_pool_.load() > 0) std::this_thread::yield();  // task_arena does not wait for enqueued tasks
    arena_.reset();
    return finish(workers + 1);  // the workers and the clock
  }

 private:
  // A step as a pool task; a diner ready to order is seen by as many tasks as there are WaitBots.
  void dispatch(const Job& job) {
    const auto role = static_cast<std::size_t>(role_of(job.step));
    if (job.step == Step::take_order) tables_.open_order(job.table);
    for (int i = 0; i < bots_called(staff_, job.step); ++i) {
      in_pool_.fetch_add(1);
      arena_->enqueue([this, job, role] {
        step(job, stats_[role]);
        in_pool_.fetch_sub(1);
      });
    }
  }

  void hand_back(const Job& job) override { records_.advance(job.table); }

  TableRecords records_;
  std::atomic<int> in_pool_{0};  // tasks queued or running
  std::optional<tbb::task_arena> arena_;
};

}  // namespace

Result run_tbb(const Params& p) {
  return run_measured(p, "tbb", [&p] { return PoolSteps(p).run(); });
}

}  // namespace tvl::restaurant
