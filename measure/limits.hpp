// A run that stopped at a limit of the machine (threads, descriptors), said in fields rather
// than only in words, so that the report can place it without reading the message.
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace tvl::limits {

// The kinds the C++ side writes as `failure_kind` and the plots read.
inline constexpr const char* kThreadLimit = "thread_limit";  // detail: threads (created), limits {name: value}
inline constexpr const char* kFdLimit = "fd_limit";          // detail: needed, hard_limit

// The line a child process prints (stderr) when it stops at a limit:
//   tvl-limit {"kind": "...", "detail": {...}}
// process::Outcome reads it back.
inline constexpr std::string_view kLinePrefix = "tvl-limit ";

struct LimitReached : std::runtime_error {
  LimitReached(const std::string& what, std::string kind_, nlohmann::json detail_)
      : std::runtime_error(what), kind(std::move(kind_)), detail(std::move(detail_)) {}
  std::string kind;
  nlohmann::json detail;
  nlohmann::json to_json() const { return {{"kind", kind}, {"detail", detail}}; }
};

}  // namespace tvl::limits
