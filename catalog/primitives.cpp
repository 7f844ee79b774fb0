// The primitives in the catalog: what a switch, a creation and a waiting task cost under each model.
#include "catalog/catalog.hpp"

#include <array>

namespace tvl::catalog {

namespace {

using primitives::Mechanism, primitives::Waiter;
constexpr std::array kSwitches = {
    Mechanism{"threads", "semaphore", "thread ping-pong through a pair of std::binary_semaphore",
              primitives::threads_semaphore},
    Mechanism{"threads", "pipe", "thread ping-pong through a pair of pipes, 1 byte each way", primitives::threads_pipe},
    Mechanism{"asyncloop", "post", "coroutine ping-pong: co_await asio::post(use_awaitable)",
              primitives::asyncloop_post},
    Mechanism{"asyncloop", "post-nolock", "the same on an io_context with locking off (hint UNSAFE)",
              primitives::asyncloop_post_nolock},
    Mechanism{"asyncloop", "handle", "bare coroutine: await_suspend posts its handle to the loop",
              primitives::asyncloop_handle},
    Mechanism{"asyncloop", "handle-nolock", "the same on an io_context with locking off",
              primitives::asyncloop_handle_nolock},
};

constexpr std::array kCreates = {
    Mechanism{"threads", "create", "create a std::thread, join it", primitives::threads_create},
    Mechanism{"asyncloop", "create", "co_spawn a coroutine, co_await its completion", primitives::asyncloop_create},
};

constexpr std::array kWaiters = {
    Waiter{"threads", "waiting", "N std::threads blocked on one std::latch", primitives::threads_waiting},
    Waiter{"asyncloop", "timer-each", "N asio::awaitable coroutines, a steady_timer each",
           primitives::asyncloop_timer_each},
    Waiter{"asyncloop", "timer-shared", "N asio::awaitable coroutines waiting on one steady_timer",
           primitives::asyncloop_timer_shared},
    Waiter{"asyncloop", "sleep-queue", "N LoopTasks asleep in the restaurant's SleepQueue (one heap, one timer)",
           primitives::asyncloop_sleep_queue},
};

}  // namespace

std::span<const primitives::Mechanism> primitive_switches() { return kSwitches; }
std::span<const primitives::Mechanism> primitive_creates() { return kCreates; }
std::span<const primitives::Waiter> primitive_waiters() { return kWaiters; }

}  // namespace tvl::catalog
