// What every grader shares: a list of checks, each passed or failed with the numbers it
// measured, and for a failed one the lesson to take from it (not a stack trace).
//
//   exercise race-mutex (book ch. 2, docs/cutlery.md), grading exercises/race-mutex/kitchen.hpp
//     PASS  every bot did its work: ...
//     FAIL  no lost update in 9 trials ...: 9 of 9 trials ended with cutlery missing
//           -> <what this means and where to look>
//   exercise race-mutex: 1 of 3 checks failed
//
// Exit status: 0 when every check passed, 1 when one failed, 2 when the grader itself could not
// run (a bad argument, a missing file): the three cases a script or CI can tell apart.
#pragma once

#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace tvl::exercise {

class Grader {
 public:
  // `about` names the chapter and lesson; `graded` the files the student edits.
  Grader(std::string name, const std::string& about, const std::string& graded) : name_(std::move(name)) {
    fmt::print("exercise {} ({}), grading {}\n", name_, about, graded);
    std::fflush(stdout);
  }

  // Records one check. `measured` says what was seen either way; `lesson` is printed only on
  // failure. Returns `passed`, so a grader can skip checks that make no sense after a failure.
  bool check(const std::string& what, bool passed, const std::string& measured, const std::string& lesson) {
    ++checks_;
    if (!passed) ++failed_;
    fmt::print("  {}  {}: {}\n", passed ? "PASS" : "FAIL", what, measured);
    if (!passed) fmt::print("        -> {}\n", lesson);
    std::fflush(stdout);
    return passed;
  }

  // Something the student should know that is neither a pass nor a fail.
  void note(const std::string& what) {
    fmt::print("  NOTE  {}\n", what);
    std::fflush(stdout);
  }

  // A check that could not be made because an earlier one failed.
  void skip(const std::string& what, const std::string& why) {
    fmt::print("  SKIP  {}: {}\n", what, why);
    std::fflush(stdout);
  }

  int finish() const {
    if (failed_ == 0)
      fmt::print("exercise {}: all {} checks passed\n", name_, checks_);
    else
      fmt::print("exercise {}: {} of {} checks failed\n", name_, failed_, checks_);
    return failed_ == 0 ? 0 : 1;
  }

 private:
  std::string name_;
  int checks_ = 0;
  int failed_ = 0;
};

// Runs a grader's body; an exception means the grader could not run (exit 2), not a failed check.
inline int run_grader(const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grader error: %s\n", e.what());
    return 2;
  }
}

}  // namespace tvl::exercise
