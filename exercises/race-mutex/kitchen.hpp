// Exercise race-mutex (book ch. 2, docs/cutlery.md): YOUR COPY. Edit this file, then run
//   make exercise NAME=race-mutex
//
// The kitchen's cutlery, shared by ten ThreadBots (one OS thread each). change() is the book's:
// it reads a count, adds to it and writes it back. Two bots can both read 100 knives, both take
// 4 and both write 96: the kitchen has lost 4 knives that no bot holds.
//
// Your task: make change() safe with a lock (std::mutex), so that no update is ever lost.
// Keep the class's interface: the grader's bots call Cutlery(knives, forks), change(), knives()
// and forks(), from many threads at once.
#pragma once

class Cutlery {
 public:
  Cutlery(int knives, int forks) : knives_(knives), forks_(forks) {}

  void change(int knives, int forks) {
    knives_ += knives;  // read, add, write: another thread may do the same in between
    forks_ += forks;
  }

  int knives() const { return knives_; }
  int forks() const { return forks_; }

 private:
  int knives_;
  int forks_;
};
