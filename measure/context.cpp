#include "measure/context.hpp"

#include <sys/utsname.h>

#include <oneapi/tbb/version.h>
#include <boost/version.hpp>
#include <cstdio>
#include <fstream>
#include <thread>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <ctime>

namespace tvl {
namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

// Ask git at run time (the binary may be older than the checkout); fall back to configure time.
std::string git_revision() {
  std::string rev;
  const std::string cmd = fmt::format("git -C '{}' describe --always --dirty 2>/dev/null", TVL_SOURCE_DIR);
  if (FILE* pipe = popen(cmd.c_str(), "r")) {
    char buf[128];
    while (fgets(buf, sizeof buf, pipe)) rev += buf;
    pclose(pipe);
  }
  while (!rev.empty() && (rev.back() == '\n' || rev.back() == ' ')) rev.pop_back();
  return rev.empty() ? std::string(TVL_CONFIGURE_REVISION) : rev;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> machine_context() {
  utsname u{};
  uname(&u);
#if defined(__clang__)
  const std::string compiler = fmt::format("Clang {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
  const std::string compiler = fmt::format("GCC {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
  const std::string compiler = "unknown";
#endif
#ifdef TVL_SANITIZER
  const std::string sanitizer = TVL_SANITIZER;
#else
  const std::string sanitizer = "none";
#endif
  return {
      {"compiler", compiler},
      {"boost_version",
       fmt::format("{}.{}.{}", BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000, BOOST_VERSION % 100)},
      {"tbb_version", TBB_VERSION_STRING},
      {"benchmark_version", TVL_BENCHMARK_VERSION},
      {"kernel", fmt::format("{} {} {}", u.sysname, u.release, u.machine)},
      {"cpu_model", cpu_model()},
      {"cores", std::to_string(std::thread::hardware_concurrency())},
      {"git_revision", git_revision()},
      {"sanitizer", sanitizer},
  };
}

nlohmann::json json_context(const std::string& command) {
  nlohmann::json context = nlohmann::json::object();
  for (const auto& [key, value] : machine_context()) context[key] = value;
  context["date"] = fmt::format("{:%Y-%m-%dT%H:%M:%S}+00:00", fmt::gmtime(std::time(nullptr)));
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  context["host_name"] = host;
  context["tvl_command"] = command;
  return context;
}

nlohmann::json benchmark_row(const std::string& name, double real_time_s, const std::string& time_unit) {
  const double per_second = time_unit == "ns" ? 1e9 : time_unit == "us" ? 1e6 : time_unit == "ms" ? 1e3 : 1.0;
  return {{"name", name},
          {"run_name", name},
          {"run_type", "iteration"},
          {"repetitions", 1},
          {"iterations", 1},
          {"time_unit", time_unit},
          {"real_time", real_time_s * per_second},
          {"cpu_time", 0}};
}

}  // namespace tvl
