// The ThreadSanitizer twin of the race-mutex and race-atomic graders: the student's kitchen.hpp
// under the same ThreadBots, built with -fsanitize=thread. Usage: <twin> BOTS TABLES
#include <cstdio>
#include <cstdlib>

#include <kitchen.hpp>  // the copy being graded, found on the include path
#include "cutlery_bots.hpp"

int main(int argc, char** argv) {
  const int bots = argc > 1 ? std::atoi(argv[1]) : 4;
  const int tables = argc > 2 ? std::atoi(argv[2]) : 1000;
  const auto t = tvl::exercise::run_thread_bots<Cutlery>(bots, tables);
  std::printf("kitchen after service: %d knives, %d forks\n", t.knives, t.forks);
}
