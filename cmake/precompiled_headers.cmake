# Precompiled headers for the heavy third-party headers: CLI11, nlohmann/json, fmt, GoogleTest.
# Parsing them is 2-6 s of every translation unit that includes them (the command line's and
# the tests'), in every preset; a precompiled header parses them once per target, and the test
# executables share one (REUSE_FROM: they are compiled with the same flags). Only headers that
# change with the system's packages go in, never ours, so editing a project header rebuilds
# what includes it and nothing more. Off: -DTVL_PCH=OFF (e.g. to check that every file includes
# what it uses, which a precompiled header can hide).
option(TVL_PCH "Precompile the heavy third-party headers" ON)

# ccache caches a compile that uses a precompiled header only with sloppiness pch_defines and
# time_macros (its manual, "Precompiled headers"); without them it runs the compiler uncached.
# When the launcher is ccache, the targets with a precompiled header call it with those added
# to whatever sloppiness is configured. Nothing changes when there is no launcher.
set(_tvl_pch_launcher "")
if(TVL_PCH AND CMAKE_CXX_COMPILER_LAUNCHER MATCHES "ccache")
  list(GET CMAKE_CXX_COMPILER_LAUNCHER 0 _tvl_ccache)
  execute_process(COMMAND ${_tvl_ccache} --get-config sloppiness OUTPUT_VARIABLE _tvl_sloppiness
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  string(REPLACE " " "" _tvl_sloppiness "${_tvl_sloppiness}")
  if(_tvl_sloppiness)
    string(APPEND _tvl_sloppiness ",")
  endif()
  set(_tvl_pch_launcher ${CMAKE_COMMAND} -E env "CCACHE_SLOPPINESS=${_tvl_sloppiness}pch_defines,time_macros"
                        ${CMAKE_CXX_COMPILER_LAUNCHER})
endif()

# tvl_precompile_headers(<target> REUSE_FROM <other>) or tvl_precompile_headers(<target> <header>...)
function(tvl_precompile_headers target)
  if(NOT TVL_PCH)
    return()
  endif()
  if(ARGV1 STREQUAL "REUSE_FROM")
    target_precompile_headers(${target} REUSE_FROM ${ARGV2})
  else()
    target_precompile_headers(${target} PRIVATE ${ARGN})
  endif()
  if(_tvl_pch_launcher)
    set_target_properties(${target} PROPERTIES CXX_COMPILER_LAUNCHER "${_tvl_pch_launcher}")
  endif()
endfunction()
