# The soak's one-million-delivery version (scripts/soak.py; `make soak` runs ten million): each
# improved broker carries 100 subscribers at 1,000 messages a second; nothing lost, duplicated or
# reordered, RSS flat over the last third of the load, descriptors back to their count before
# it, a clean stop. It pins the broker and the load to a CPU each, so it runs alone (RUN_SERIAL).
# Release builds only: under a sanitizer the RSS includes the sanitizer's own shadow memory and
# quarantine, which grow by design, and the races and leaks it would look for are the fanout.*
# broker tests' job, which the sanitizer suites run.
if(TVL_PLOT_PYTHON AND NOT TVL_SANITIZER)
  foreach(model threads asyncloop asyncloop-mt)
    string(REPLACE "-" "_" name ${model})
    add_test(NAME fanout.${name}.soak_one_million_deliveries
             COMMAND ${TVL_PLOT_PYTHON} ${PROJECT_SOURCE_DIR}/scripts/soak.py --tvl $<TARGET_FILE:tvl> --model ${model}
                     --deliveries 1000000 --subscribers 100 --rate 1000 --out ${CMAKE_CURRENT_BINARY_DIR}/soak/${model})
    set_tests_properties(fanout.${name}.soak_one_million_deliveries PROPERTIES LABELS soak RUN_SERIAL TRUE TIMEOUT 120)
  endforeach()
endif()
