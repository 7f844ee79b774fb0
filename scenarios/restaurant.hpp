// The Restaurant of ThreadBots (Using Asyncio in Python, ch. 1).
//
// Bots staff a restaurant: GreetBot (seats diners, bills them, takes payment), WaitBot (takes
// the order, delivers the food, clears the table), ChefBot (cooks), WineBot (pours). Diners
// arrive at tables on a seeded, open-loop schedule; each meal is a fixed script of short
// service steps (CPU work, done by a bot) and waits (reading the menu, cooking, eating: timers
// that stand for I/O). This header is the domain: the script, the parameters, the shared table
// records with their collision checks, and what a run reports. The models drive the same script
// behind the one signature `RunFn`: threads/restaurant.cpp (a thread per bot),
// threads/restaurant_per_table.cpp (a thread per table as well), threads/restaurant_tbb.cpp (a
// oneTBB pool) and asyncloop/restaurant.cpp (the LoopBot).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "measure/histogram.hpp"

namespace tvl::restaurant {

using Clock = std::chrono::steady_clock;

enum class Role : std::uint8_t { greet, wait, chef, wine };
inline constexpr int kRoles = 4;
const char* role_name(Role r);

// The steps a bot performs; each belongs to one role.
enum class Step : std::uint8_t { seat, take_order, pour, prep, plate, deliver, bill, clear };
inline constexpr int kSteps = 8;
const char* step_name(Step s);
Role role_of(Step s);

// One line of a meal's script: a bot's step, or a wait of the diner's.
struct Action {
  enum Kind : std::uint8_t { request, wait, done } kind;
  Step step;       // for request
  int wait_index;  // for wait: 0 menu, 1 cooking, 2 eating
};

// The meal, in order. The diner has paid when `bill` completes; `clear` frees the table.
const std::vector<Action>& script();

// A diner's request, as it travels to a bot of the step's role.
struct Job {
  int table;
  int turn;
  Step step;
};

// The book's three collisions, and any other overlap of two bots at one table.
enum class Collision : std::uint8_t { duplicate_order, seated_while_clearing, plate_grabbed, other };
inline constexpr int kCollisionKinds = 4;
const char* collision_name(Collision c);

struct Staff {
  std::array<int, kRoles> bots;  // instances per role
};
Staff staff_named(const std::string& name);  // "book" (4 bots) or "weekend" (7); throws otherwise

// How many bots a request goes to. A diner ready to order waves, and every WaitBot sees it (the
// first to claim the order takes it); any other request goes to one bot of the step's role.
int bots_called(const Staff& staff, Step step);

struct Params {
  std::string model = "asyncloop";  // threads | threads-per-table | tbb | asyncloop
  std::string variant = "safe";     // safe | unsafe
  std::string staff = "book";
  int tables = 20;
  int turns = 3;                                   // diners each table serves, one after another
  double ramp_s = 0.5;                             // first arrivals spread over [0, ramp)
  double period_s = 0.6;                           // a table's next diner arrives this long after the last
  std::array<double, 3> waits_ms = {30, 80, 150};  // menu, cooking, eating
  double service_scale = 1.0;                      // multiplies every step's service time (0: bookkeeping only)
  std::string chatty = "none";                     // none | block | offload: a guest who talks at the bill
  double chatty_ms = 20;                           // how long the chatty guest holds the bot
  int chatty_every = 10;                           // every n-th diner is chatty
  int os_threads = 0;                              // tbb pool / offload pool size; 0 = one per core
  std::uint64_t seed = 1;
  double deadline_s = 120;  // a run that has not finished by then fails
};

// Service time of a step (CPU work done by a bot), before service_scale.
std::chrono::nanoseconds service_time(Step s);

// How long a wait of the script (a.kind == Action::wait) lasts.
std::chrono::nanoseconds wait_time(const Params& p, const Action& a);

// Busy-waits for d: the bot is working, not waiting.
void work_for(std::chrono::nanoseconds d);

// When diner `turn` of table `table` arrives, relative to the start of the run.
std::chrono::nanoseconds arrival(const Params& p, int table, int turn);

// The ideal meal: every service time and every wait, with no queueing at all.
std::chrono::nanoseconds ideal_meal(const Params& p);

// How long a WaitBot takes to walk over to a table that called (a fifth of taking the order).
std::chrono::nanoseconds walk_time(const Params& p);

// Whether diner (table, turn) is a chatty guest.
bool is_chatty(const Params& p, int table, int turn);

// A table as every bot sees it. `enter`/`leave` bracket a bot's step at the table: a second bot
// arriving while one is still there is a collision. A safe model never lets that happen.
struct Table {
  std::atomic<int> bots_here{0};
  std::atomic<Step> last_step{Step::clear};
  std::atomic<int> order_claims{0};  // WaitBots that took the current order
  std::atomic<bool> order_open{false};
};

class Tables {
 public:
  explicit Tables(int n) : tables_(static_cast<std::size_t>(n)) {}
  Table& operator[](int i) { return tables_[static_cast<std::size_t>(i)]; }
  int size() const { return static_cast<int>(tables_.size()); }

  void enter(int table, Step step);
  void leave(int table, Step step);
  // A WaitBot answering the diner's call. Safe: one atomic exchange. Unsafe: look, walk over
  // (for `walk`), then take: two WaitBots can both see the order open. Returns whether this
  // WaitBot took it.
  bool claim_order(int table, bool safe, std::chrono::nanoseconds walk = std::chrono::microseconds(5));
  void open_order(int table);

  std::array<std::int64_t, kCollisionKinds> collisions() const;

 private:
  std::vector<Table> tables_;
  std::array<std::atomic<std::int64_t>, kCollisionKinds> collisions_{};
};

struct BotStat {
  Role role;
  int instance;
  std::int64_t busy_ns = 0;  // time spent on steps
  std::int64_t steps = 0;
};

// What a run measured; the harness checks it did the work before it reports anything.
struct Result {
  int tables = 0, turns = 0;
  std::int64_t meals = 0;           // diners who paid
  std::int64_t tables_started = 0;  // tables whose first diner arrived
  double seconds = 0;
  Histogram latency_ns;   // arrival -> paid
  Histogram overhead_ns;  // latency - ideal meal
  Histogram lateness_ns;  // how late each wait ended, past its deadline
  std::vector<BotStat> bots;
  double loop_cpu_s = -1;     // asyncloop: CPU time of the loop thread
  double loop_blocked_s = 0;  // asyncloop: time the loop thread slept inside a step
  std::array<std::int64_t, kCollisionKinds> collisions{};
  std::int64_t rss_before_kib = 0, rss_peak_kib = 0;
  std::int64_t vcsw = 0, ivcsw = 0;
  int os_threads = 0;          // OS threads the model used (bots, tables, pool)
  std::int64_t stack_kib = 0;  // stack size of the threads it created (0: none)
};

// Where a run keeps its counts while it runs, shared by every bot, table and thread of a
// model; each model fills its Result from one.
class Recorder {
 public:
  explicit Recorder(const Params& p);
  std::chrono::nanoseconds now() const { return Clock::now() - start_; }
  Clock::time_point at(std::chrono::nanoseconds since_start) const { return start_ + since_start; }

  void table_started() { tables_started_.fetch_add(1, std::memory_order_relaxed); }
  void meal_paid(std::chrono::nanoseconds arrived);  // latency and overhead of one diner
  void woke(std::chrono::nanoseconds late);          // how late one wait ended
  std::int64_t meals() const { return meals_.load(); }

  // Moves the counts into r (meals, histograms, seconds since start).
  void finish(Result& r);

 private:
  Clock::time_point start_ = Clock::now();
  std::chrono::nanoseconds ideal_;
  std::atomic<std::int64_t> meals_{0}, tables_started_{0};
  std::mutex mutex_;
  Histogram latency_, overhead_, lateness_;
};

using RunFn = Result (*)(const Params&);

Result run_threads(const Params& p);            // threads/restaurant.cpp: a thread per bot
Result run_threads_per_table(const Params& p);  // threads/restaurant_per_table.cpp: and per table
Result run_tbb(const Params& p);                // threads/restaurant_tbb.cpp: steps on a oneTBB pool
Result run_asyncloop(const Params& p);          // asyncloop/restaurant.cpp: the LoopBot

// What every model does around its service, so that all are measured alike: refuses an unknown
// variant (std::invalid_argument), then runs `serve` with RSS sampled and context switches
// counted across it, and adds those and the run's size to the Result that `serve` returns.
Result run_measured(const Params& p, const char* model, const std::function<Result()>& serve);

// Throws std::runtime_error unless every table's every diner paid.
void check_work(const Params& p, const Result& r);

// Samples this process's RSS every few milliseconds while alive; keeps the peak.
class RssSampler {
 public:
  RssSampler();
  ~RssSampler();
  std::int64_t before_kib() const { return before_; }
  std::int64_t peak_kib() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::int64_t before_ = 0;
};

}  // namespace tvl::restaurant
