# Debian bookworm packages only (SPEC §2); `make deps` installs what is missing.
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
# 1.81, not Debian's default 1.74: asio::experimental channels and awaitable operators.
find_package(Boost 1.81 CONFIG REQUIRED)
find_package(TBB REQUIRED)
find_package(benchmark REQUIRED)
find_package(CLI11 REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json REQUIRED)
if(BUILD_TESTING OR NOT DEFINED BUILD_TESTING)
  find_package(GTest REQUIRED)
endif()
