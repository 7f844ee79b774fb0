// Running the tvl binary from a test as a user would: its exit status and what it printed, or
// the JSON file it wrote. Temporary files carry the test process's pid, so tests run in
// parallel (ctest -j, several build trees) never share one.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace tvl::testing_cli {

struct Result {
  int status = -1;  // exit status; -1 when it did not exit normally
  std::string out;  // stdout and stderr together
};

inline Result run_tvl(const std::string& args) {
  Result r;
  FILE* pipe = popen((std::string(TVL_BINARY) + " " + args + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe)) r.out += buf;
  const int raw = pclose(pipe);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

// A path in the temporary folder for this test process: <stem>_<pid>.json.
inline std::filesystem::path temp_json(const std::string& stem) {
  return std::filesystem::temp_directory_path() / (stem + "_" + std::to_string(getpid()) + ".json");
}

// Runs `tvl <args> --json FILE` and returns what it wrote (null when nothing); status is set.
inline nlohmann::json run_tvl_json(const std::string& args, int& status) {
  const auto path = temp_json("tvl_test");
  std::filesystem::remove(path);
  status = run_tvl(args + " --json " + path.string()).status;
  std::ifstream in(path);
  auto j = in ? nlohmann::json::parse(in) : nlohmann::json{};
  std::filesystem::remove(path);
  return j;
}

}  // namespace tvl::testing_cli
