// The LoopBot's bots: a coroutine per bot, a channel per role, and the chatty guest's talk.
#include "asyncloop/restaurant_bots.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>
#include <thread>

#include "asyncloop/loop_task.hpp"
#include "measure/thread_time.hpp"

namespace tvl::restaurant {

namespace asio = boost::asio;
using asio::use_awaitable;

namespace {

// A role's channel holds every job that can be waiting at once: at most one request per table
// for each bot it calls (three WaitBots hear an order), and a few to spare.
constexpr std::size_t kJobsPerTable = 3;
constexpr std::size_t kSpareJobs = 16;

double thread_cpu_seconds() { return static_cast<double>(metrics::thread_time().cpu_ns) / 1e9; }

int pool_size(const Params& p) {
  return p.os_threads > 0 ? p.os_threads : static_cast<int>(std::thread::hardware_concurrency());
}

}  // namespace

LoopBots::LoopBots(Service& service, asio::io_context& loop, ChatFn chat)
    : service_(service),
      loop_(loop),
      chat_(std::move(chat)),
      waiting_(static_cast<std::size_t>(service.params().tables)),
      stats_(service.roster()) {
  const auto capacity = static_cast<std::size_t>(service.params().tables) * kJobsPerTable + kSpareJobs;
  for (int r = 0; r < kRoles; ++r) queues_.push_back(std::make_unique<JobQueue>(loop, capacity));
  if (service.params().chatty == Chatty::offload) pool_.emplace(pool_size(service.params()));
}

void LoopBots::start() {
  cpu_at_start_ = thread_cpu_seconds();
  for (auto& stat : stats_) co_spawn(loop_, bot(stat), rethrow);
}

void LoopBots::send(const Job& job, Wake handed_back) {
  waiting_[static_cast<std::size_t>(job.table)] = std::move(handed_back);
  service_.call_bots(job, [this](Role role, const Job& called) {
    if (!queues_[static_cast<std::size_t>(role)]->try_send(boost::system::error_code{}, called))
      throw std::runtime_error("restaurant/asyncloop: a role's job queue is full");
  });
}

// Once the last diner has left, each bot finds its role's channel closed and goes home.
void LoopBots::table_done() {
  if (++tables_done_ < service_.params().tables) return;
  for (auto& queue : queues_) queue->close();
}

Result LoopBots::finish() {
  Result r = service_.finish(stats_);
  r.loop_cpu_s = thread_cpu_seconds() - cpu_at_start_;
  r.loop_blocked_s = std::chrono::duration<double>(blocked_).count();
  r.os_threads = 1 + (pool_ ? pool_size(service_.params()) : 0);  // the loop's thread, and the pool's
  return r;
}

ChatFn checked_chat(const Params& p, ChatFn chat) {
  if (!chat) throw std::invalid_argument("restaurant/asyncloop: no chat function");
  if (p.chatty == Chatty::none)
    throw std::invalid_argument("restaurant/asyncloop: a chat function needs chatty guests");
  return chat;
}

// A bot: await a job from its role's channel, do the step, hand the table back.
asio::awaitable<void> LoopBots::bot(BotStat& stat) {
  JobQueue& jobs = *queues_[static_cast<std::size_t>(stat.role)];
  for (;;) {
    auto [closed, job] = co_await jobs.async_receive(asio::as_tuple(use_awaitable));
    if (closed) co_return;  // the restaurant is shut: the bot goes home
    const auto began = service_.begin_step(job);
    if (!began) continue;  // another WaitBot took the order
    if (service_.guest_talks(job)) co_await chat();
    service_.end_step(job, *began, stat, [this](int table) { hand_back(table); });
  }
}

// Resumes the table's coroutine later, on the loop, never inside the bot's step.
void LoopBots::hand_back(int table) {
  post_wake(loop_.get_executor(), std::move(waiting_[static_cast<std::size_t>(table)]));
}

// The chatty guest holds the GreetBot. Blocking here blocks the whole loop; offloading moves
// the talk to a pool thread and lets the loop serve everyone else meanwhile.
asio::awaitable<void> LoopBots::chat() {
  const auto talk_for = std::chrono::duration<double, std::milli>(service_.params().chatty_ms);
  auto talk = [talk_for] { std::this_thread::sleep_for(talk_for); };
  if (chat_) {  // the exercise's way (asyncloop/restaurant_chat.hpp)
    // Named, not a temporary inside the co_await: GCC 12 destroys such temporaries twice.
    auto chatting = chat_(loop_.get_executor(), talk);
    co_await std::move(chatting);
  } else if (pool_) {  // this bot resumes on the loop once the pool has talked
    auto offloaded = co_spawn(
        pool_->get_executor(),
        [talk]() -> asio::awaitable<void> {
          talk();
          co_return;
        },
        use_awaitable);
    co_await std::move(offloaded);
  } else {  // the loop thread itself sleeps: CPU time would count this as idle, so count it
    const auto before = Clock::now();
    talk();
    blocked_ += Clock::now() - before;
  }
}

}  // namespace tvl::restaurant
