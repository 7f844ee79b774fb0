# Broker and load on two "hosts": network namespaces joined by veth pairs, with a delay between
# them (netem where the kernel has it, otherwise a relay in a third namespace; the test says
# which). It needs root and namespaces; elsewhere it skips (exit 77) and says why.
if(TVL_PLOT_PYTHON)
  add_test(NAME fanout.netns.load_and_broker_in_two_namespaces
           COMMAND ${TVL_PLOT_PYTHON} ${PROJECT_SOURCE_DIR}/tests/test_netns.py --tvl $<TARGET_FILE:tvl>)
  set_tests_properties(fanout.netns.load_and_broker_in_two_namespaces
                       PROPERTIES LABELS net SKIP_RETURN_CODE 77 RUN_SERIAL TRUE TIMEOUT 120)
endif()
