// Exercise await-inside: the reference solution (see ../README.md).
//
// On one thread, code between two co_awaits runs without interruption: no other coroutine can
// run until this one suspends. So the whole read-add-write goes before the suspension point,
// and the audit log is called after it, with nothing held across the await. The lesson of the
// book's ch. 2: on an event loop the critical sections are exactly the stretches without an
// await, and a co_await in the middle of one opens it to every other coroutine.
#pragma once

#include <boost/asio/awaitable.hpp>

#include "audit_log.hpp"

class Cutlery {
 public:
  Cutlery(int knives, int forks) : knives_(knives), forks_(forks) {}

  boost::asio::awaitable<void> change(int knives, int forks, tvl::exercise::AuditLog& log) {
    knives_ += knives;  // read, add, write: no co_await in between, so no other bot in between
    forks_ += forks;
    co_await log.record(knives, forks);  // then report it: the loop may run other bots now
  }

  int knives() const { return knives_; }
  int forks() const { return forks_; }

 private:
  int knives_;
  int forks_;
};
