// The Restaurant of ThreadBots (Using Asyncio in Python, ch. 1).
//
// Bots staff a restaurant: GreetBot (seats diners, bills them, takes payment), WaitBot (takes
// the order, delivers the food, clears the table), ChefBot (cooks), WineBot (pours). Diners
// arrive at tables on a seeded, open-loop schedule; each meal is a fixed script of short
// service steps (CPU work, done by a bot) and waits (reading the menu, cooking, eating: timers
// that stand for I/O). This header is the domain: the script, the parameters, the shared table
// records with their collision checks, and what a run reports. The models drive the same script
// behind the one signature `RunFn`: threads/restaurant.cpp (a thread per table and per bot) and
// its twin asyncloop/restaurant.cpp (the LoopBot), threads/restaurant_bots.cpp (a thread per bot
// only) and threads/restaurant_tbb.cpp (a oneTBB pool). A bot's step is written once, here
// (Service), and every model calls it.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
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

// Who works: the book's four bots, or the weekend's seven.
enum class Staffing : std::uint8_t { book, weekend };
Staffing parse_staffing(std::string_view name);  // throws std::invalid_argument, naming the valid ones
const char* name_of(Staffing s);

struct Staff {
  std::array<int, kRoles> bots;  // instances per role
};
Staff staff_for(Staffing s);

// The chatty guest, who holds the GreetBot at the bill: nobody, a guest who blocks the bot's
// thread, or one whose talk the LoopBot offloads to a pool.
enum class Chatty : std::uint8_t { none, block, offload };
Chatty parse_chatty(std::string_view name);  // throws std::invalid_argument, naming the valid ones
const char* name_of(Chatty c);

// How many bots a request goes to. A diner ready to order waves, and every WaitBot sees it (the
// first to claim the order takes it); any other request goes to one bot of the step's role.
int bots_called(const Staff& staff, Step step);

struct Params {
  std::string model = "asyncloop";  // threads | threads-per-table | tbb | asyncloop
  std::string variant = "safe";     // safe | unsafe
  Staffing staff = Staffing::book;
  int tables = 20;
  int turns = 3;                                   // diners each table serves, one after another
  double ramp_s = 0.5;                             // first arrivals spread over [0, ramp)
  double period_s = 0.6;                           // a table's next diner arrives this long after the last
  std::array<double, 3> waits_ms = {30, 80, 150};  // menu, cooking, eating
  double service_scale = 1.0;                      // multiplies every step's service time (0: bookkeeping only)
  Chatty chatty = Chatty::none;                    // a guest who talks at the bill
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

// The bot is done with the table (or, unsafe, says so too early): its next action may start.
using HandBack = std::function<void(int table)>;

// One service of the restaurant as every model runs it: the staff, the tables with their
// collision checks, the counts, and a bot's step, written once. A model supplies only how its
// bots get their jobs, how a table waits for its bot, and how the chatty guest holds a bot.
class Service {
 public:
  explicit Service(const Params& p);  // throws std::invalid_argument on an unknown variant

  const Params& params() const { return p_; }
  Recorder& recorder() { return recorder_; }
  Tables& tables() { return tables_; }

  // One record per bot of the staff, or one per role for a pool whose bots are not threads.
  std::vector<BotStat> roster(bool one_per_role = false) const;

  // Sends a diner's request to the bots it calls: send(role, job), once per bot called.
  template <typename Send>
  void call_bots(const Job& job, Send&& send) {
    if (job.step == Step::take_order) tables_.open_order(job.table);
    for (int i = 0; i < bots_called(staff_, job.step); ++i) send(role_of(job.step), job);
  }

  // A bot begins its step at a table. Returns when it began, or nothing when another WaitBot
  // took this order first and there is no step to do.
  std::optional<Clock::time_point> begin_step(const Job& job);

  // Whether a chatty guest holds the bot here, before the step goes on.
  bool guest_talks(const Job& job) const { return job.step == Step::bill && is_chatty(p_, job.table, job.turn); }

  // The step's work, then the table handed back: hand_back(table). The unsafe variant hands it
  // back halfway through the work, so the next bot can come while this one is still there.
  template <typename HandBack>
  void end_step(const Job& job, Clock::time_point began, BotStat& stat, HandBack&& hand_back) {
    const auto half =
        std::chrono::duration_cast<std::chrono::nanoseconds>(service_time(job.step) * p_.service_scale / 2);
    work_for(half);
    if (!safe_) hand_back(job.table);  // too early: the step is not finished
    work_for(half);
    tables_.leave(job.table, job.step);
    if (safe_) hand_back(job.table);
    stat.busy_ns += (Clock::now() - began).count();
    ++stat.steps;
  }

  // What the service did, with these bots' records.
  Result finish(std::vector<BotStat> bots);

 private:
  const Params& p_;
  bool safe_;
  Staff staff_;
  Tables tables_;
  Recorder recorder_;
};

using RunFn = Result (*)(const Params&);

Result run_threads(const Params& p);            // threads/restaurant_bots.cpp: a thread per bot
Result run_threads_per_table(const Params& p);  // threads/restaurant.cpp: and per table
Result run_tbb(const Params& p);                // threads/restaurant_tbb.cpp: steps on a oneTBB pool
Result run_asyncloop(const Params& p);          // asyncloop/restaurant.cpp: the LoopBot

// What every model does around its service, so that all are measured alike: runs `serve` with
// RSS sampled and context switches counted across it (measure/rss_sampler.hpp), and adds those
// and the run's size to the Result that `serve` returns.
Result serve_measured(const Params& p, const std::function<Result()>& serve);

// Throws std::runtime_error unless every table's every diner paid.
void check_work(const Params& p, const Result& r);

}  // namespace tvl::restaurant
