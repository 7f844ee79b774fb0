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
