// Exercise race-mutex: the reference solution (see ../README.md).
//
// One mutex guards both counts. A bot that holds it does its read, add and write while every
// other bot that wants the kitchen waits in lock(): the three steps become one, as seen from
// the other threads. The getters take the lock too, so that a reader never sees a count
// half-way through a change (and so that ThreadSanitizer sees every access ordered).
#pragma once

#include <mutex>

class Cutlery {
 public:
  Cutlery(int knives, int forks) : knives_(knives), forks_(forks) {}

  void change(int knives, int forks) {
    std::lock_guard lock(mutex_);
    knives_ += knives;
    forks_ += forks;
  }

  int knives() const {
    std::lock_guard lock(mutex_);
    return knives_;
  }
  int forks() const {
    std::lock_guard lock(mutex_);
    return forks_;
  }

 private:
  mutable std::mutex mutex_;
  int knives_;
  int forks_;
};
