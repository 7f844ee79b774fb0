// Robots and Cutlery (Using Asyncio in Python, ch. 2 and appendix B).
//
// A kitchen holds 100 knives and 100 forks. Ten bots each receive N "prepare table" tasks
// (the kitchen hands the bot 4 knives and 4 forks) and N "clear table" tasks (the bot gives
// them back), then "shutdown". Afterwards the kitchen must hold exactly 100 and 100 again.
//
// This header is the domain only: the cutlery counts, the parameters, what one trial returns
// and how a trial is checked. The concurrency models live in threads/cutlery.cpp and
// asyncloop/cutlery.cpp, behind the one signature `TrialFn` below.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace tvl::cutlery {

inline constexpr int kKitchenKnives = 100;
inline constexpr int kKitchenForks = 100;
inline constexpr int kPerTable = 4;  // knives and forks handed over per table

// How change() updates a shared count. All three are well-defined C++: the racy one loses
// updates (load, add, store: another writer can slip in between) but has no undefined
// behaviour, because the count is a std::atomic<int> accessed with relaxed loads and stores.
enum class Update { racy, locked, atomic };

// A heap of cutlery: the kitchen's, or the handful a bot is carrying.
class Cutlery {
 public:
  Cutlery(int knives, int forks) : knives_(knives), forks_(forks) {}

  int knives() const { return knives_.load(); }
  int forks() const { return forks_.load(); }

  void change(int knives, int forks, Update how) {
    switch (how) {
      case Update::racy:
        racy_add(knives_, knives);
        racy_add(forks_, forks);
        break;
      case Update::locked: {
        std::lock_guard lock(mutex_);
        racy_add(knives_, knives);
        racy_add(forks_, forks);
        break;
      }
      case Update::atomic:
        knives_.fetch_add(knives);
        forks_.fetch_add(forks);
        break;
    }
  }

  // The two halves of the racy update, exposed so that a coroutine can suspend between them
  // (asyncloop "await-inside") and so that `tvl explain` can replay an interleaving.
  int read_knives() const { return knives_.load(std::memory_order_relaxed); }
  int read_forks() const { return forks_.load(std::memory_order_relaxed); }
  void write(int knives, int forks) {
    knives_.store(knives, std::memory_order_relaxed);
    forks_.store(forks, std::memory_order_relaxed);
  }

 private:
  static void racy_add(std::atomic<int>& count, int delta) {
    const int seen = count.load(std::memory_order_relaxed);
    count.store(seen + delta, std::memory_order_relaxed);
  }

  std::atomic<int> knives_;
  std::atomic<int> forks_;
  std::mutex mutex_;
};

// The book's give(): the giver's change() and the receiver's change() are separate steps.
inline void give(Cutlery& from, Cutlery& to, int knives, int forks, Update how) {
  from.change(-knives, -forks, how);
  to.change(knives, forks, how);
}

// What a bot is asked to do; the bots pull these from a queue, as in the book.
enum class Task : std::uint8_t { prepare_table, clear_table, shutdown };

// The variants of the models (the catalog, `tvl list`, says which model has which): how the
// threads change the counts (racy, mutex, atomic; tbb: racy, safe), whether a coroutine
// suspends inside change() (asyncloop: racy, await-inside), and whether the bots of a loop run
// by several threads share a strand (asyncloop-mt: nostrand, strand).
enum class Variant : std::uint8_t { racy, mutex, atomic, safe, await_inside, nostrand, strand };
Variant parse_variant(std::string_view name);  // throws std::invalid_argument, naming the valid ones
const char* name_of(Variant v);

// How the bots of a variant change the counts: only mutex and atomic (safe) close the window.
Update update_for(Variant v);

struct Params {
  std::string model = "threads";    // threads | tbb | asyncloop | asyncloop-mt
  Variant variant = Variant::racy;  // see the catalog (`tvl list`)
  int bots = 10;
  int tables = 100;  // tables per bot: N prepare + N clear tasks each
  int trials = 1;
  int os_threads = 0;  // pool size for tbb / asyncloop-mt; 0 = hardware threads
};

// What one trial did. Each bot counts its own completed tasks, so the harness can prove
// the work was done before it reports a number.
struct Trial {
  int kitchen_knives = 0;
  int kitchen_forks = 0;
  int bots_started = 0;
  std::int64_t table_ops = 0;  // prepare + clear tasks completed, over all bots
  double seconds = 0.0;
  int os_threads = 0;  // OS threads the model actually used
};

// The one signature every model implements.
using TrialFn = Trial (*)(const Params&);

Trial run_threads(const Params& p);       // threads/cutlery.cpp: a std::thread per bot
Trial run_tbb(const Params& p);           // threads/cutlery.cpp: bots on a oneTBB pool
Trial run_asyncloop(const Params& p);     // asyncloop/cutlery.cpp: one io_context, one thread
Trial run_asyncloop_mt(const Params& p);  // asyncloop/cutlery.cpp: one io_context, K threads

// Throws std::invalid_argument unless p.variant is one of the model's.
void require_variant(const Params& p, std::initializer_list<Variant> known);

// How many tasks a bot gets: a prepare and a clear per table, then the shutdown.
inline int bot_tasks(const Params& p) { return 2 * p.tables + 1; }

// As in the book, every bot's queue is filled before any bot starts: push(task) for each of
// the bot's tasks, in order.
template <typename Push>
void fill_tasks(const Params& p, Push&& push) {
  for (int i = 0; i < p.tables; ++i) {
    push(Task::prepare_table);
    push(Task::clear_table);
  }
  push(Task::shutdown);
}

// A trial as every model ends it: what the kitchen holds, how many bots started and how many
// tasks the bots did (bot->done() each), since `began`, with the model's OS threads.
template <typename Bots>
Trial finish(const Cutlery& kitchen, const Bots& bots, int started, std::chrono::steady_clock::time_point began,
             int os_threads) {
  Trial t;
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  t.kitchen_knives = kitchen.knives();
  t.kitchen_forks = kitchen.forks();
  t.bots_started = started;
  for (const auto& bot : bots) t.table_ops += bot->done();
  t.os_threads = os_threads;
  return t;
}

// Expected table operations for a trial of these parameters.
std::int64_t expected_ops(const Params& p);

// Throws std::runtime_error if the trial did not do the work it claims (bots missing,
// tasks not done). A broken kitchen invariant is not an error: it is the race we measure.
void check_work(const Params& p, const Trial& t);

// True when the kitchen ended with exactly what it started with.
bool kitchen_intact(const Trial& t);

// Everything reported for a configuration, with the counter names used everywhere.
struct Summary {
  int trials = 0;
  int failures = 0;
  double fail_rate = 0.0, fail_lo = 0.0, fail_hi = 0.0;  // Wilson 95% interval
  double drift_knives = 0.0, drift_forks = 0.0;          // mean |kitchen - 100|
  double items_per_second = 0.0;                         // table operations per second
  std::int64_t table_ops = 0;
  double seconds = 0.0;
  int os_threads = 0;
};

// Summarises checked trials (check_work must have passed on each).
Summary summarize(const std::vector<Trial>& trials);

// One step of a replayed interleaving: which bot reads or writes the kitchen's knives.
struct Step {
  int bot;
  enum Kind { read, write } kind;
};

// Replays `schedule` of two bots each taking kPerTable knives from a fresh kitchen with the
// racy read-then-write change(), narrating every step into `out`. Returns the knives left.
int replay(const std::vector<Step>& schedule, std::vector<std::string>& out);

// The classroom explanation printed by `tvl explain cutlery`.
std::string explain();

}  // namespace tvl::cutlery
