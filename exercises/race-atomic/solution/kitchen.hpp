// Exercise race-atomic: the reference solution (see ../README.md).
//
// Each count is a std::atomic<int>, and change() adds with fetch_add: the processor does the
// read, the add and the write as one indivisible instruction (lock xadd on x86), so no other
// thread can come in between and nothing waits. The two counts are updated separately: a
// reader may see the knives changed and the forks not yet, which is fine here, because every
// count on its own is always right and the kitchen is only read once all bots are done.
#pragma once

#include <atomic>

class Cutlery {
 public:
  Cutlery(int knives, int forks) : knives_(knives), forks_(forks) {}

  void change(int knives, int forks) {
    knives_.fetch_add(knives);
    forks_.fetch_add(forks);
  }

  int knives() const { return knives_.load(); }
  int forks() const { return forks_.load(); }

 private:
  std::atomic<int> knives_;
  std::atomic<int> forks_;
};
