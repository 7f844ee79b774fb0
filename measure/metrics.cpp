#include "measure/metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace tvl::metrics {
namespace {

std::string proc_path(pid_t pid, const char* file) {
  return pid == 0 ? std::string("/proc/self/") + file : "/proc/" + std::to_string(pid) + "/" + file;
}

double seconds(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }

}  // namespace

std::optional<Memory> memory(pid_t pid) {
  std::ifstream in(proc_path(pid, "status"));
  if (!in) return std::nullopt;
  Memory m;
  bool rss = false, hwm = false;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    std::int64_t kib = 0;
    fields >> key >> kib;
    if (key == "VmRSS:") {
      m.rss_kib = kib;
      rss = true;
    }
    if (key == "VmHWM:") {
      m.hwm_kib = kib;
      hwm = true;
    }
  }
  if (!rss || !hwm) return std::nullopt;
  return m;
}

Usage usage() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return {seconds(ru.ru_utime), seconds(ru.ru_stime), ru.ru_nvcsw, ru.ru_nivcsw};
}

std::optional<Usage> usage_of(pid_t pid) {
  std::ifstream stat(proc_path(pid, "stat"));
  std::string text;
  if (!stat || !std::getline(stat, text)) return std::nullopt;
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stod(field);
    if (i == 15) {
      stime = std::stod(field);
      break;
    }
  }
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  Usage u{utime / ticks, stime / ticks, 0, 0};
  // Context switches are counted per thread: add up every thread's (a threaded broker's main
  // thread only accepts; its connection threads do the switching).
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(proc_path(pid, "task"), ec)) {
    std::ifstream status(task.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      std::istringstream kv(line);
      std::string key;
      std::int64_t n = 0;
      kv >> key >> n;
      if (key == "voluntary_ctxt_switches:") u.vcsw += n;
      if (key == "nonvoluntary_ctxt_switches:") u.ivcsw += n;
    }
  }
  return u;
}

}  // namespace tvl::metrics

#include <pthread.h>

namespace tvl::metrics {
namespace {

std::string read_first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line.empty() ? "?" : line;
}

std::string mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key, value, unit;
  while (in >> key >> value >> unit)
    if (key == "MemAvailable:") return value + " kB";
  return "?";
}

}  // namespace

std::int64_t default_stack_kib() {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  std::size_t size = 0;
  pthread_attr_getstacksize(&attr, &size);
  pthread_attr_destroy(&attr);
  return static_cast<std::int64_t>(size / 1024);
}

static std::string limit_text(int resource, std::uint64_t unit = 1) {
  rlimit lim{};
  getrlimit(resource, &lim);
  return lim.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(lim.rlim_cur / unit);
}

static std::string meminfo(const char* key) {
  std::ifstream in("/proc/meminfo");
  std::string k, value, unit;
  while (in >> k >> value >> unit)
    if (k == key) return value + " kB";
  return "?";
}

nlohmann::json thread_limit_values() {
  std::string pids = read_first_line("/sys/fs/cgroup/pids.max");            // cgroup v2
  if (pids == "?") pids = read_first_line("/sys/fs/cgroup/pids/pids.max");  // v1
  // A number where the kernel gives one; "unlimited", "max" or "?" stay text.
  const auto value = [](const std::string& text) -> nlohmann::json {
    std::size_t used = 0;
    try {
      const long long v = std::stoll(text, &used);
      if (used == text.size() || text.substr(used) == " kB") return v;
    } catch (const std::exception&) {
    }
    return text;
  };
  return {{"pid_max", value(read_first_line("/proc/sys/kernel/pid_max"))},
          {"threads-max", value(read_first_line("/proc/sys/kernel/threads-max"))},
          {"max_map_count", value(read_first_line("/proc/sys/vm/max_map_count"))},
          {"RLIMIT_NPROC", value(limit_text(RLIMIT_NPROC))},
          {"RLIMIT_AS_mib", value(limit_text(RLIMIT_AS, 1024 * 1024))},
          {"cgroup_pids.max", value(pids)},
          {"default_stack_kib", default_stack_kib()},
          {"MemAvailable_kib", value(mem_available())},
          {"overcommit_memory", value(read_first_line("/proc/sys/vm/overcommit_memory"))},
          {"CommitLimit_kib", value(meminfo("CommitLimit:"))},
          {"Committed_AS_kib", value(meminfo("Committed_AS:"))}};
}

// The same figures as one line, name=value.
std::string thread_limits() {
  const nlohmann::json values = thread_limit_values();
  std::string text;
  for (const auto& [name, v] : values.items())
    text += (text.empty() ? "" : " ") + name + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  return text;
}

}  // namespace tvl::metrics
