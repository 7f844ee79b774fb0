// measure/forked.hpp: a report comes back whole from a forked child; a child that dies or says
// nothing in time is named for what happened to it, and is reaped.
#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <string>

#include "measure/forked.hpp"

using namespace tvl;

namespace {
struct Report {
  std::int64_t pid = 0;
  std::int32_t value = 0;
  char text[32] = {};
};
}  // namespace

TEST(forked, a_report_comes_back_from_another_process) {
  std::string failure;
  const auto r = forked::run<Report>(
      10,
      [](Report& report) {
        report.pid = getpid();
        report.value = 42;
        report.text[0] = 'x';
      },
      failure);
  ASSERT_TRUE(r.has_value()) << failure;
  EXPECT_TRUE(failure.empty());
  EXPECT_EQ(r->value, 42);
  EXPECT_EQ(r->text[0], 'x');
  EXPECT_NE(r->pid, getpid());  // filled in the child, not here
}

TEST(forked, a_child_killed_by_a_signal_is_named) {
  std::string failure;
  const auto r = forked::run<Report>(
      10, [](Report&) { raise(SIGKILL); }, failure);
  EXPECT_FALSE(r.has_value());
  EXPECT_NE(failure.find("killed by signal 9"), std::string::npos) << failure;
  EXPECT_NE(failure.find("out of memory?"), std::string::npos) << failure;
}

TEST(forked, a_silent_child_is_killed_after_the_timeout) {
  std::string failure;
  const auto r = forked::run<Report>(
      1, [](Report&) { pause(); }, failure);
  EXPECT_FALSE(r.has_value());
  EXPECT_EQ(failure, "no report within 1 s; child killed");
}
