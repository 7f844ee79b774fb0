# Faults every fan-out broker must survive (issue 10): subscribers killed, connection churn, the
# descriptor limit, a stopped subscriber, a stopped broker. Each runs `tvl broker` as a child
# process; tests are named fanout.<model>_<design>.<fault>.
tvl_test(test_fanout_faults fanout fault test_fanout_faults.cpp)
