# Build options as INTERFACE targets, linked PRIVATE where they apply (cmake-init style).
set(CMAKE_CXX_EXTENSIONS OFF)
set(CMAKE_EXPORT_COMPILE_COMMANDS ON)

add_library(tvl_options INTERFACE)
target_compile_features(tvl_options INTERFACE cxx_std_20)

add_library(tvl_warnings INTERFACE)
target_compile_options(tvl_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                               -Wcast-align -Woverloaded-virtual)

# TVL_SANITIZER: "" (none), "address" (AddressSanitizer + UndefinedBehaviorSanitizer) or "thread".
# ThreadSanitizer cannot be combined with AddressSanitizer, hence one choice, one preset each.
set(TVL_SANITIZER "" CACHE STRING "Sanitizer build: empty, address or thread")
set_property(CACHE TVL_SANITIZER PROPERTY STRINGS "" address thread)
if(TVL_SANITIZER STREQUAL "address")
  set(_tvl_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
elseif(TVL_SANITIZER STREQUAL "thread")
  set(_tvl_san -fsanitize=thread -fno-omit-frame-pointer)
elseif(NOT TVL_SANITIZER STREQUAL "")
  message(FATAL_ERROR "TVL_SANITIZER must be empty, 'address' or 'thread', not '${TVL_SANITIZER}'")
endif()
if(_tvl_san)
  # -O1 rather than RelWithDebInfo's -O2 under a sanitizer: the sanitizers ask for "-O1 or
  # higher" for reasonable speed, and nothing they check needs -O2 (optimizing harder can only
  # remove accesses they would have checked). Their instrumentation makes -O2 expensive: a
  # translation unit compiles about 30% faster at -O1 (app/restaurant_cli.cpp under TSan 29 s ->
  # 19 s, tests/test_restaurant.cpp under ASan 32 s -> 22 s), and these presets compile
  # everything. The warnings that only -O2 enables still come from the normal build.
  string(REPLACE "-O2" "-O1" CMAKE_CXX_FLAGS_RELWITHDEBINFO "${CMAKE_CXX_FLAGS_RELWITHDEBINFO}")
  target_compile_options(tvl_options INTERFACE ${_tvl_san})
  target_link_options(tvl_options INTERFACE ${_tvl_san})
  target_compile_definitions(tvl_options INTERFACE TVL_SANITIZER="${TVL_SANITIZER}")
endif()

# The git revision at configure time; the harness asks git again at run time and prefers that.
execute_process(COMMAND git rev-parse --short HEAD WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
                OUTPUT_VARIABLE TVL_GIT_REVISION OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT TVL_GIT_REVISION)
  set(TVL_GIT_REVISION "unknown")
endif()
