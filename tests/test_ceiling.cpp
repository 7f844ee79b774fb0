// The ceiling's domain: a limit named from errno and made-up readings of the system, the
// headroom left to the rest of the machine, and the ladder on small N — every kind of task
// reached, measured in a child, and a ladder that stops at its first unreached N.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "catalog/catalog.hpp"
#include "measure/metrics.hpp"
#include "scenarios/ceiling.hpp"

namespace {

using namespace tvl::ceiling;

// This machine's limits, far from any of them.
System quiet() {
  System s;
  s.pid_max = 32'768;
  s.threads_max = 192'735;
  s.max_map_count = 65'530;
  s.nproc = 96'367;
  s.threads_in_system = 200;
  s.maps_in_process = 300;
  s.mem_available_kib = 20'000'000;
  return s;
}

TEST(limits, nothing_failed_names_nothing) { EXPECT_TRUE(name_limit(0, false, 1000, quiet()).empty()); }

TEST(limits, eagain_with_every_pid_taken_names_pid_max) {
  System s = quiet();
  s.threads_in_system = 32'700;
  s.maps_in_process = 2 * 32'500 - 20'000;
  const Limit l = name_limit(EAGAIN, false, 32'500, s);
  EXPECT_EQ(l.name, "pid_max");
  EXPECT_EQ(l.value, 32'768);
  EXPECT_NE(l.text.find("EAGAIN"), std::string::npos) << l.text;
  EXPECT_NE(l.text.find("32768"), std::string::npos) << l.text;
}

TEST(limits, eagain_with_the_mappings_used_up_names_max_map_count) {
  System s = quiet();
  s.pid_max = 4'194'304;  // a 64-bit default: pids are not what runs out
  s.threads_in_system = 32'900;
  s.maps_in_process = 65'529;
  const Limit l = name_limit(EAGAIN, false, 32'700, s);
  EXPECT_EQ(l.name, "max_map_count");
  EXPECT_EQ(l.value, 65'530);
}

TEST(limits, eagain_at_the_user_limit_names_rlimit_nproc) {
  System s = quiet();
  s.nproc = 1'000;
  s.threads_in_system = 999;
  EXPECT_EQ(name_limit(EAGAIN, false, 900, s).name, "RLIMIT_NPROC");
}

TEST(limits, enomem_with_little_memory_left_names_memory) {
  System s = quiet();
  s.mem_available_kib = 10'000;
  const Limit l = name_limit(ENOMEM, false, 5'000, s);
  EXPECT_EQ(l.name, "memory (MemAvailable)");
  EXPECT_EQ(l.value, 10'000);
}

TEST(limits, eagain_far_from_every_limit_names_the_errno) {
  const Limit l = name_limit(EAGAIN, false, 10, quiet());
  EXPECT_EQ(l.name, "EAGAIN");
  EXPECT_NE(l.text.find("no limit was near"), std::string::npos) << l.text;
}

TEST(limits, spared_pids_name_the_tightest_system_wide_limit) {
  System s = quiet();
  s.threads_in_system = 32'000;
  const Limit l = name_limit(0, true, 31'800, s);
  EXPECT_EQ(l.name, "pid_max");
  EXPECT_EQ(l.value, 32'768);
  s.threads_max = 33'000;
  s.pid_max = 4'194'304;
  EXPECT_EQ(name_limit(0, true, 31'800, s).name, "threads-max");
}

TEST(headroom, leaves_the_spare_pids_and_names_the_limit) {
  const Headroom h = thread_headroom(quiet(), 512);
  EXPECT_EQ(h.limit, "pid_max");
  EXPECT_EQ(h.threads, 32'768 - 1 - 200 - 512);
  System s = quiet();
  s.threads_in_system = 32'500;
  EXPECT_EQ(thread_headroom(s, 512).threads, 0);  // never negative
}

// A kind that can hold at most 150 tasks, and fails at the 151st as pthread_create would.
Held at_most_150(const Hold& h, const std::function<void()>& while_waiting) {
  Held held;
  held.created = std::min(h.n, 150);
  if (h.n > 150) held.error = EAGAIN;
  while_waiting();
  held.finished = held.created;
  return held;
}

TEST(ladder, stops_at_the_first_unreached_n_and_says_why) {
  const Params p{.tasks = {100, 200, 400}};
  const auto rows = climb(at_most_150, 0, false, p);
  ASSERT_EQ(rows.size(), 2u);  // 400 is never tried
  EXPECT_TRUE(rows[0].reached);
  EXPECT_FALSE(rows[1].reached);
  EXPECT_EQ(rows[1].created, 150);
  EXPECT_FALSE(rows[1].limit.empty());
  EXPECT_EQ(stopped_text(rows[1]).rfind("stopped at 200: ", 0), 0u) << stopped_text(rows[1]);
}

TEST(ladder, threads_stopped_by_a_real_limit_name_it) {
  // 64 MiB more address space than each child has: a few default stacks, then pthread_create
  // fails with EAGAIN, and the row names RLIMIT_AS. Twice as many threads as fit are asked for.
  const int n = static_cast<int>(2 * 64 * 1024 / std::max<std::int64_t>(1, tvl::metrics::default_stack_kib())) + 10;
  const Params p{.tasks = {4, n}, .address_space_mib = 64};
  const auto rows = climb(threads_hold, 0, true, p);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows[0].reached) << stopped_text(rows[0]);
  EXPECT_FALSE(rows[1].reached);
  EXPECT_LT(rows[1].created, n);
  EXPECT_EQ(rows[1].finished, rows[1].created);  // those created were all released
  EXPECT_EQ(rows[1].limit.name, "RLIMIT_AS (KiB)") << stopped_text(rows[1]);
  EXPECT_TRUE(rows[1].failure.empty()) << rows[1].failure;
}

TEST(ladder, every_kind_reaches_a_hundred_waiting_tasks) {
  const Params p{.tasks = {100, 1000}};
  for (const auto& k : tvl::catalog::ceiling_kinds()) {
    const auto rows = climb(k.hold, k.small_stack ? 64 : 0, k.is_thread, p);
    ASSERT_EQ(rows.size(), 2u) << k.model << "/" << k.variant;
    for (const Row& r : rows) {
      EXPECT_TRUE(r.reached) << k.model << "/" << k.variant << " N=" << r.tasks << ": " << stopped_text(r);
      EXPECT_EQ(r.finished, r.tasks);
      EXPECT_GT(r.kib_per_task(), 0.0) << k.model << "/" << k.variant << " N=" << r.tasks;
      EXPECT_GT(r.us_per_create, 0.0);
    }
    EXPECT_GT(kib_per_task_slope(rows), 0.0) << k.model << "/" << k.variant;
  }
}

}  // namespace
