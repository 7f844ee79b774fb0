// The ThreadSanitizer twin of the strand grader: the student's start_bots() and the LoopBots on
// an io_context run by two threads, built with -fsanitize=thread. Usage: <twin> BOTS TABLES
#include <spawn.hpp>  // the copy being graded, found on the include path

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  const int bots = argc > 1 ? std::atoi(argv[1]) : 10;
  const int tables = argc > 2 ? std::atoi(argv[2]) : 500;
  const auto t = tvl::exercise::run_loop_bots<tvl::exercise::PlainCutlery>(bots, tables, 2, start_bots);
  std::printf("kitchen after service: %d knives, %d forks\n", t.knives, t.forks);
}
