// What a run proves: the threads' counts merged, what was lost, and counts that cannot be
// true (more delivered than was published): a bug in the broker or the generator, never a
// result.
#include <algorithm>

#include <fmt/format.h>

#include "load/load.hpp"

namespace tvl::load::detail {

// Merges what the threads counted, and says whether the counts can be true.
void Load::tally(Result& r) {
  r.load_threads = threads_;
  for (auto& w : workers_) {
    r.delivered += w->delivered;
    r.gaps += w->gaps;
    r.duplicates_or_reordered += w->duplicates_or_reordered;
    r.late += w->late;
    r.unstamped += w->unstamped;
    r.from_intended_ns.merge(w->from_intended_ns);
    r.from_sent_ns.merge(w->from_sent_ns);
    r.user_from_intended_ns.merge(w->user_from_intended_ns);
    r.seconds = std::max(r.seconds, static_cast<double>(w->last_delivery_ns) / 1e9);
    r.load_cpu_s += static_cast<double>(w->at_end.cpu_ns - w->at_go.cpu_ns) / 1e9;
    r.load_busy = std::max(
        {r.load_busy, metrics::busy_between(w->at_go, w->at_sent), metrics::busy_between(w->at_go, w->at_end)});
  }
  // The kernel's clock, unless no delivery at all carried its stamp.
  r.receive_clock = r.delivered > 0 && r.unstamped >= r.delivered ? kUserClock : kKernelClock;
  if (r.seconds <= 0) r.seconds = 1e-9;
  r.load_bound = r.load_busy >= kLoadBoundBusy;
  if (queue_ && workers_.size() > 1) {  // a message that reached two threads was delivered twice
    for (std::size_t j = 0; j < pubs_.size(); ++j)
      for (std::size_t seq = 0; seq < static_cast<std::size_t>(per_publisher_count_); ++seq) {
        int times = 0;
        for (const auto& w : workers_) times += w->seen[j][seq];
        if (times > 1) r.duplicates_or_reordered += times - 1;
      }
  }
  r.lost = std::max<std::int64_t>(0, r.expected - r.delivered);
  r.impossible = impossible(r);
}

std::string Load::impossible(const Result& r) const {
  if (r.delivered > r.expected)
    return queue_ ? fmt::format("delivered {} but only {} were published", r.delivered, r.published)
                  : fmt::format("delivered {} but only {} were published to {} subscribers ({} deliveries at most)",
                                r.delivered, r.published, p_.subscribers, r.expected);
  for (std::size_t i = 0; i < subs_.size() && !queue_; ++i) {
    const Sub& s = subs_[i];
    if (s.received > r.published)
      return fmt::format("subscriber {} received {} messages but only {} were published", i, s.received, r.published);
    for (std::size_t k = 0; k < s.next_seq.size(); ++k) {
      const std::size_t j = lines_ ? i : k;  // an echo connection hears only its own publisher
      if (static_cast<std::int64_t>(s.next_seq[k]) > pubs_[j].published.load())
        return fmt::format("subscriber {} received message {} of publisher {}, which published only {}", i,
                           s.next_seq[k] - 1, j, pubs_[j].published.load());
    }
  }
  for (const auto& w : workers_)
    for (std::size_t j = 0; j < w->queue_next.size(); ++j)
      if (static_cast<std::int64_t>(w->queue_next[j]) > pubs_[j].published.load())
        return fmt::format("a subscriber received message {} of publisher {}, which published only {}",
                           w->queue_next[j] - 1, j, pubs_[j].published.load());
  return {};
}

}  // namespace tvl::load::detail
