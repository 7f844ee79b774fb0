// The echo server in the catalog: every model that serves the book's echo protocol.
#include <array>
#include <stdexcept>

#include "catalog/catalog.hpp"

namespace tvl::catalog {

namespace {

constexpr std::array kEcho = {
    EchoVariant{"threads", "per-connection", echo::run_threads_echo, echo::Offload::none,
                "a thread per connection, blocking in read, in the request's wait and in write"},
    EchoVariant{"pool", "fixed", echo::run_pool_echo, echo::Offload::none,
                "a fixed pool of threads behind a queue of connections: each serves one until it leaves"},
    EchoVariant{"asyncloop", "inline", echo::run_asyncloop_echo, echo::Offload::none,
                "one event loop: the wait is an awaited timer, the work spins the loop"},
    EchoVariant{"asyncloop", "executor", echo::run_asyncloop_echo, echo::Offload::executor,
                "one event loop that sends each request's work and blocking wait to its executor"},
    EchoVariant{"asyncloop-mt", "inline", echo::run_asyncloop_mt_echo, echo::Offload::none,
                "an event loop per core, connections handed to the loops in turn"},
};

}  // namespace

std::span<const EchoVariant> echo_variants() { return kEcho; }

const EchoVariant* find_echo(std::string_view model, std::string_view variant) {
  for (const auto& v : kEcho)
    if (v.model == model && (variant.empty() || v.variant == variant)) return &v;
  return nullptr;
}

std::vector<std::string> echo_models() {
  std::vector<std::string> models;
  for (const auto& v : kEcho)
    if (models.empty() || models.back() != v.model) models.emplace_back(v.model);
  return models;
}

}  // namespace tvl::catalog
