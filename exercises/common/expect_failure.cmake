# Runs a starter's grader and passes when it FAILED the way the exercise intends: exit status 1
# (a failed check, not a crash or a grader error) and its teaching message in the output.
#   cmake -DGRADER=<path> -DEXPECT=<regex> -P expect_failure.cmake
execute_process(COMMAND ${GRADER} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT status EQUAL 1)
  message(FATAL_ERROR "the starter's grader exited with '${status}', not 1 (a failed check)")
endif()
if(NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "the starter failed without its teaching message (expected /${EXPECT}/)")
endif()
message("the starter fails as intended, with its lesson")
