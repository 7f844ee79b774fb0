// The cutlery race as the book's Python writes it: plain ints, no atomics, no lock.
//
// In C++ this is a data race, which is undefined behaviour: the compiler may keep the count in
// a register, merge updates or worse. That is why tvl's racy variants use std::atomic<int>
// with relaxed loads and stores (a lost update, but defined behaviour), and why this program
// lives outside the normal build. Built with -fsanitize=thread, it shows what ThreadSanitizer
// reports: two threads touching the same int, at least one writing, with no ordering between.
#include <cstdio>
#include <thread>
#include <vector>

namespace {

struct Cutlery {
  int knives;
  int forks;
  void change(int k, int f) {
    knives += k;  // read, add, write: the data race TSan reports
    forks += f;
  }
};

Cutlery kitchen{100, 100};

void bot(int tables) {
  Cutlery mine{0, 0};
  for (int i = 0; i < tables; ++i) {
    kitchen.change(-4, -4);
    mine.change(4, 4);
    mine.change(-4, -4);
    kitchen.change(4, 4);
  }
}

}  // namespace

int main() {
  std::vector<std::thread> bots;
  for (int b = 0; b < 2; ++b) bots.emplace_back(bot, 1000);
  for (auto& t : bots) t.join();
  std::printf("kitchen after service: %d knives, %d forks (should be 100 and 100)\n", kitchen.knives, kitchen.forks);
}
