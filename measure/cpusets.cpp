// CPU sets: the CPUs this process may use, a CPU list as typed ("0-3,6"), and pinning a thread.
// A broker and its load run pinned apart, so that models compare on equal CPUs.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <sstream>
#include <stdexcept>

#include "measure/process.hpp"
#include "measure/process_detail.hpp"

namespace tvl::process {

namespace detail {

cpu_set_t cpu_set_of(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (const int c : cpus) CPU_SET(c, &set);
  return set;
}

}  // namespace detail

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) throw std::runtime_error("sched_getaffinity failed");
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

void check_cpus(const std::vector<int>& cpus) {
  const auto allowed = allowed_cpus();
  for (const int c : cpus)
    if (std::find(allowed.begin(), allowed.end(), c) == allowed.end()) {
      std::string list;
      for (const int a : allowed) list += (list.empty() ? "" : ",") + std::to_string(a);
      throw std::invalid_argument("CPU " + std::to_string(c) + " is not available (this process may use " + list + ")");
    }
}

std::vector<int> parse_cpus(const std::string& text) {
  std::set<int> cpus;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    std::size_t used = 0;
    int first = -1, last = -1;
    try {
      first = std::stoi(item, &used);
      last = first;
      if (used < item.size() && item[used] == '-') {
        last = std::stoi(item.substr(used + 1), &used);
        used = item.size();
      }
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || first < 0 || last < first)
      throw std::invalid_argument("'" + text + "' is not a CPU list (like 0 or 0,1 or 0-3)");
    for (int c = first; c <= last; ++c) cpus.insert(c);
  }
  if (cpus.empty()) throw std::invalid_argument("an empty CPU list");
  std::vector<int> list(cpus.begin(), cpus.end());
  check_cpus(list);
  return list;
}

void pin_this_thread(const std::vector<int>& cpus) {
  if (cpus.empty()) return;
  const cpu_set_t set = detail::cpu_set_of(cpus);
  if (const int e = pthread_setaffinity_np(pthread_self(), sizeof set, &set); e != 0)
    throw std::runtime_error(std::string("cannot pin a thread: ") + strerror(e));
}

}  // namespace tvl::process
