# Interrupted runs and result files (issue 10). Ctrl-C during a sweep or the capacity search
# keeps the finished points and leaves no child behind; result files are written whole or not
# at all; a --json path that cannot be written fails before the run (test_interrupt.cpp).
tvl_test(test_interrupt harness interrupt test_interrupt.cpp)

# Then scripts/report.sh interrupted, with stand-in binaries, and the plot scripts on corrupt or
# foreign JSON. Python, so the sanitizer test presets leave them out (report.*, plots.*).
if(TVL_PLOT_PYTHON)
  add_test(NAME report.script.interrupted_keeps_complete_results
           COMMAND ${TVL_PLOT_PYTHON} ${PROJECT_SOURCE_DIR}/tests/test_interrupt_report.py
                   --source-dir ${PROJECT_SOURCE_DIR})
  add_test(NAME plots.python.bad_input_one_line_and_whole_files
           COMMAND ${TVL_PLOT_PYTHON} ${PROJECT_SOURCE_DIR}/tests/test_interrupt_plots.py
                   --source-dir ${PROJECT_SOURCE_DIR})
  set_tests_properties(report.script.interrupted_keeps_complete_results
                       plots.python.bad_input_one_line_and_whole_files PROPERTIES LABELS interrupt TIMEOUT 300)
endif()
