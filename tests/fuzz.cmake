# The fuzz corpora (fuzz/corpus/, fuzz/README.md) replayed as ordinary tests: each fuzz target,
# compiled by this build with a main that runs every corpus file through it once. libFuzzer is
# clang's (scripts/fuzz.sh builds the fuzzers apart), but the targets and what they check are
# the same code, so under the asan and tsan presets the corpora run under those sanitizers too.
add_library(fuzz_replay_main OBJECT ${PROJECT_SOURCE_DIR}/fuzz/replay_main.cpp)
target_link_libraries(fuzz_replay_main PRIVATE tvl_options tvl_warnings)
foreach(target frame resp)
  add_executable(fuzz_${target}_replay ${PROJECT_SOURCE_DIR}/fuzz/${target}_fuzzer.cpp)
  target_link_libraries(fuzz_${target}_replay PRIVATE fuzz_replay_main tvl_scenarios tvl_warnings)
  add_test(NAME fanout.fuzz.${target}_corpus_replays COMMAND fuzz_${target}_replay
                                                             ${PROJECT_SOURCE_DIR}/fuzz/corpus/${target})
  # A failed invariant or a sanitizer report fails the test by its exit status (an empty corpus
  # folder too: exit 2), leaks found at exit included, so no pass pattern is matched on the output.
  set_tests_properties(fanout.fuzz.${target}_corpus_replays PROPERTIES LABELS fuzz)
endforeach()

# The RESP parser's regressions, by name (the load generator's wire, load/wire.hpp).
tvl_test(test_wire fanout unit test_wire.cpp)
