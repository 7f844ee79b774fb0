// The subscribers: each reads its socket, dates each read's receipt, and checks every delivery
// for gaps, duplicates and reordering.
//
// A receipt is dated by the kernel: SO_TIMESTAMPNS, switched on when the connection is made,
// stamps each segment as it reaches the socket, and recvmsg() hands over the stamp of the last
// segment it read. So the latency charged to the broker ends when its bytes arrived, not when
// the generator got round to reading them: on one load core, at hundreds of subscribers, the
// generator's own reading time would otherwise count as the broker's. For a read that holds
// several messages the stamp is its last segment's: later than the truth for the earlier ones,
// never earlier. The time the generator read the bytes is kept as a second series
// (user_from_intended_ns), so the difference shows; a read that carried no stamp (the kernel
// switches stamping on lazily, and the first segments after it may miss it) falls back to that
// time, and is counted.
//
// The subscribers of a load thread share one epoll set: when the io_context wakes for it, every
// subscriber with something to read reads until its socket is empty, straight into its own
// buffer: one wake-up per batch of sockets and usually one system call per socket. Every complete message is parsed in
// place; one cut short by the end of a read is moved to the front to wait for its rest: no allocation per message.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include <array>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "load/load.hpp"

namespace tvl::load::detail {

using asio::use_awaitable;

namespace {

constexpr std::int64_t kNsPerS = 1'000'000'000;
constexpr std::size_t kControlBytes = CMSG_SPACE(sizeof(timespec)) * 2;  // room for the receive stamp
constexpr std::size_t kReadyBatch = 256;                                 // sockets taken from the ready set at a time

// Switches on the kernel's receive stamps for this socket; false where the kernel refuses.
bool enable_receive_stamps(tcp::socket& s) {
  const int on = 1;
  return ::setsockopt(s.native_handle(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) == 0;
}

// The receive stamp a recvmsg() returned, in ns on CLOCK_REALTIME; -1 when it carried none.
std::int64_t receive_stamp(msghdr& msg) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts{};
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      return ts.tv_sec * kNsPerS + ts.tv_nsec;
    }
  return -1;
}

// Dates a read that has just returned. The kernel's stamp is on the real-time clock and the
// schedule on the steady clock: the stamp's age, read on the real-time clock now, is taken
// off the steady time now, so a step of the real-time clock cannot enter a latency.
Receipt receipt(Clock::time_point t0, std::int64_t stamp_ns) {
  Receipt at;
  at.user_ns = (Clock::now() - t0).count();
  at.kernel_ns = at.user_ns;
  if (stamp_ns < 0) return at;
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  const std::int64_t age = now.tv_sec * kNsPerS + now.tv_nsec - stamp_ns;
  at.kernel_ns = at.user_ns - std::max<std::int64_t>(0, age);
  at.stamped = true;
  return at;
}

}  // namespace

// A new connection, owned by its thread (closed at the end, whoever still uses it). A
// subscriber's has the kernel's receive stamps on from the start.
asio::awaitable<tcp::socket*> Load::connect(Worker& w, bool stamped) {
  tcp::socket& s = w.sockets.emplace_back(w.io);
  boost::system::error_code ec;
  const tcp::endpoint broker(asio::ip::make_address(p_.host),
                             p_.port);  // named: GCC 12 and co_await (subscribe_request())
  co_await s.async_connect(broker, asio::redirect_error(use_awaitable, ec));
  if (ec) throw std::runtime_error(fmt::format("cannot connect to {}:{}: {}", p_.host, p_.port, ec.message()));
  s.set_option(tcp::no_delay(true));
  if (stamped) enable_receive_stamps(s);  // where it fails, every read falls back and is counted
  co_return &s;
}

void Load::confirm(Sub& sub) {
  if (sub.confirmed) return;
  sub.confirmed = true;
  confirmed_.fetch_add(1);
}

void Load::on_message(Sub& sub, std::string_view payload, const Receipt& at) {
  const auto stamp = lines_ ? wire::decode_line_stamp(payload) : fanout::decode_stamp(payload);
  if (!stamp) return;
  if (stamp->publisher == kProbe) return confirm(sub);
  if (stamp->publisher >= static_cast<std::uint32_t>(p_.publishers)) return;
  if (lines_ && &subs_[stamp->publisher] != &sub) return;  // another connection's answer: not ours
  Worker& w = *sub.w;
  if (!at.stamped) ++w.unstamped;
  if (stamp->intended_ns >= warmup_ns_) {
    const std::int64_t latency = std::max<std::int64_t>(0, at.kernel_ns - stamp->intended_ns);
    w.from_intended_ns.record(static_cast<std::uint64_t>(latency));
    w.from_sent_ns.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, at.kernel_ns - stamp->sent_ns)));
    w.user_from_intended_ns.record(
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, at.user_ns - stamp->intended_ns)));
    if (p_.late_ns > 0 && latency > p_.late_ns) ++w.late;
  }
  ++w.delivered;
  ++sub.received;
  w.last_delivery_ns = at.kernel_ns;
  if (queue_) {  // each message once, to any subscriber
    auto& seen = w.seen[stamp->publisher];
    if (stamp->seq < seen.size() && seen[stamp->seq]) ++w.duplicates_or_reordered;
    if (stamp->seq < seen.size()) seen[stamp->seq] = true;
    w.queue_next[stamp->publisher] = std::max(w.queue_next[stamp->publisher], stamp->seq + 1);
    return;
  }
  auto& next = sub.next_seq[lines_ ? 0 : stamp->publisher];  // a topic, or an echo: every message, in order
  if (stamp->seq == next) {
    ++next;
  } else if (stamp->seq > next) {
    w.gaps += static_cast<std::int64_t>(stamp->seq - next);
    next = stamp->seq + 1;
  } else {
    ++w.duplicates_or_reordered;
  }
}

// Handles every complete message at the front of `data`, where it lies; returns the bytes used.
std::size_t Load::take(Sub& sub, std::string_view data, const Receipt& at) {
  if (lines_) return wire::parse_lines(data, [&](std::string_view line) { on_message(sub, line, at); });
  if (!resp_) return wire::parse_frames(data, [&](std::string_view f) { on_message(sub, f, at); });
  std::size_t used = 0;
  wire::Reply reply;
  while (const std::size_t taken = wire::parse_resp(data.substr(used), reply)) {
    used += taken;
    if (reply.n == 3 && reply.item[0] == "subscribe") confirm(sub);
    if (reply.n == 3 && reply.item[0] == "message") on_message(sub, reply.item[2], at);
  }
  return used;
}

// GCC 12 destroys a temporary with a destructor twice when it sits in a co_await expression
// (a braced list, a string built inline): every such value is built in a named local first.
std::string Load::subscribe_request() const {
  return resp_ ? wire::resp_command({"SUBSCRIBE", p_.channel}) : fanout::frame(p_.channel);
}

// Connects, subscribes, and hands the socket to its thread's ready set (read_ready).
asio::awaitable<void> Load::subscriber(Sub& sub) {
  Worker& w = *sub.w;
  tcp::socket& s = *co_await connect(w, true);
  const std::string hello = subscribe_request();
  co_await asio::async_write(s, asio::buffer(hello), use_awaitable);
  watch(sub, s);
  connected_.fetch_add(1);
  drain(sub);  // what came before it was watched
}

// Hands the socket to its thread's ready set (read_ready).
void Load::watch(Sub& sub, tcp::socket& s) {
  Worker& w = *sub.w;
  s.native_non_blocking(true);
  sub.size = read_chunk_;
  sub.buf = std::make_unique_for_overwrite<char[]>(sub.size);  // untouched pages cost no memory
  sub.socket = &s;
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: a socket left unread is handed over again
  ev.data.ptr = &sub;
  if (::epoll_ctl(w.ready->native_handle(), EPOLL_CTL_ADD, s.native_handle(), &ev) != 0)
    throw std::runtime_error(fmt::format("load: cannot watch a subscriber's socket: {}", std::strerror(errno)));
}

// Reads the subscriber's socket until it is empty, straight into its buffer: a read that fills
// less than it was offered emptied it. Returns false once the broker closed the connection.
bool Load::drain(Sub& sub) {
  Worker& w = *sub.w;
  alignas(cmsghdr) char control[kControlBytes];
  for (;;) {
    iovec room{sub.buf.get() + sub.kept, sub.size - sub.kept};
    msghdr msg{};
    msg.msg_iov = &room;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(sub.socket->native_handle(), &msg, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n <= 0) return false;  // closed by the broker, or reset
    const auto t0 = Clock::time_point(Clock::duration(t0_ns_.load(std::memory_order_acquire)));
    const Receipt at = receipt(t0, receive_stamp(msg));
    const std::string_view data(sub.buf.get(), sub.kept + static_cast<std::size_t>(n));
    const std::size_t used = take(sub, data, at);
    sub.kept = data.size() - used;
    std::memmove(sub.buf.get(), sub.buf.get() + used, sub.kept);
    if (sub.kept * 2 > sub.size) {  // a message longer than half the buffer: make room for it
      auto bigger = std::make_unique_for_overwrite<char[]>(sub.size *= 2);
      std::memcpy(bigger.get(), sub.buf.get(), sub.kept);
      sub.buf = std::move(bigger);
    }
    w.distinct_so_far.store(w.delivered - w.duplicates_or_reordered, std::memory_order_relaxed);
    w.late_so_far.store(w.late, std::memory_order_relaxed);
    if (static_cast<std::size_t>(n) < room.iov_len) return true;
  }
}

// The thread's ready set: one wait of the io_context for all its subscribers, then every
// socket with something to read, read until empty. Asio re-arms a wait with one epoll_ctl();
// waiting on each socket would cost one per socket and wake-up, here it is one per batch.
asio::awaitable<void> Load::read_ready(Worker& w) {
  std::array<epoll_event, kReadyBatch> events;
  const auto read_delay = seconds(p_.read_delay_s);
  boost::system::error_code ec;
  for (;;) {
    co_await w.ready->async_wait(asio::posix::stream_descriptor::wait_read, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;  // closed at the end of the run
    int n = 0;
    do {
      n = ::epoll_wait(w.ready->native_handle(), events.data(), static_cast<int>(events.size()), 0);
      for (int i = 0; i < n; ++i) {
        Sub& sub = *static_cast<Sub*>(events[static_cast<std::size_t>(i)].data.ptr);
        if (read_delay.count() > 0) std::this_thread::sleep_for(read_delay);  // tests only (Params::read_delay_s)
        if (!drain(sub)) ::epoll_ctl(w.ready->native_handle(), EPOLL_CTL_DEL, sub.socket->native_handle(), nullptr);
      }
    } while (n == static_cast<int>(events.size()));
  }
}

// A subscriber that stops reading: its socket buffers fill, and the broker must cope.
asio::awaitable<void> Load::slow_subscriber(Worker& w) {
  tcp::socket& s = *co_await connect(w, false);
  const std::string hello = subscribe_request();
  co_await asio::async_write(s, asio::buffer(hello), use_awaitable);
  connected_.fetch_add(1);
}

}  // namespace tvl::load::detail
