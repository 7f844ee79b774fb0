// Exercise slow-consumer's clients of the student's broker, as in tests/test_fanout_broker.cpp:
// subscribers whose subscriptions are confirmed before a check begins, and numbered payloads.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/fanout_client.hpp"

namespace tvl::exercise {

using testing::Client;
using Clients = std::vector<std::unique_ptr<Client>>;

// How long a data frame may take to arrive, a subscription to be confirmed, and each look for a
// subscription's sync.
inline constexpr std::chrono::milliseconds kFrameWait{3'000};
inline constexpr std::chrono::seconds kConfirmWait{5};
inline constexpr std::chrono::milliseconds kSyncPoll{10};

inline bool is_sync(const std::string& f) { return f.starts_with("sync-"); }

// The next frame that is not a sync (see subscribers), or nothing within the limit.
inline std::optional<std::string> next_data(Client& c, std::chrono::milliseconds limit = kFrameWait) {
  for (;;)
    if (auto f = c.read_frame(limit); !f || !is_sync(*f)) return f;
}

// n clients subscribed one after another, each confirmed held by the broker: client i
// publishes "sync-i" to the channel, and wherever that arrives, its subscription is in place.
// On a topic, sync-i reaches clients 0..i (i + 1 deliveries); on a queue, one of them.
inline Clients subscribers(std::uint16_t port, const std::string& channel, int n) {
  Clients subs;
  for (int i = 0; i < n; ++i) {
    subs.push_back(std::make_unique<Client>(port));
    const std::string sync = "sync-" + std::to_string(i);
    subs.back()->subscribe(channel);
    subs.back()->publish(channel, sync);
    bool seen = false;
    for (const auto give_up = std::chrono::steady_clock::now() + kConfirmWait;
         !seen && std::chrono::steady_clock::now() < give_up;)
      for (std::size_t j = 0; j < subs.size() && !seen; ++j) seen = subs[j]->read_frame(kSyncPoll) == sync;
    if (!seen) throw std::runtime_error(fmt::format("subscription {} to {} was not confirmed within 5 s", i, channel));
  }
  return subs;
}

// The sync deliveries of k topic subscribers: 1 + 2 + ... + k.
inline std::int64_t topic_sync_deliveries(std::int64_t k) { return k * (k + 1) / 2; }

// A message numbered i after its tag, padded with dots to `size` bytes.
inline std::string payload(const std::string& tag, int i, std::size_t size) {
  std::string p = tag + std::to_string(i) + ":";
  p.resize(std::max(size, p.size()), '.');
  return p;
}

// The number a payload was made with, after its tag.
inline int number(const std::string& p, std::size_t tag_size) { return std::atoi(p.c_str() + tag_size); }

}  // namespace tvl::exercise
