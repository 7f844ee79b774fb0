// `tvl broker`, `tvl load` and `tvl sweep fanout`: the book's message broker (ch. 4) under
// each model, an open-loop load against it, and a sweep that starts each broker (or a peer:
// redis-server, the Python asyncio broker) as a child process, loads it, stops it with SIGTERM
// and checks its counters against the load's.
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <ctime>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/cli.hpp"
#include "app/loadgen.hpp"
#include "app/sweep.hpp"
#include "bench/context.hpp"
#include "bench/metrics.hpp"
#include "scenarios/fanout.hpp"

namespace tvl::cli {
namespace {

nlohmann::json stats_json(const fanout::BrokerStats& s) {
  return {{"accepted", s.accepted},
          {"closed", s.closed},
          {"subscribers", s.subscribers},
          {"messages_in", s.messages_in},
          {"deliveries", s.deliveries},
          {"dropped", s.dropped},
          {"slow_disconnects", s.slow_disconnects},
          {"protocol_errors", s.protocol_errors},
          {"unflushed", s.unflushed},
          {"bytes_in", s.bytes_in},
          {"bytes_out", s.bytes_out}};
}

// Runs a broker in this process until SIGINT or SIGTERM. Prints `listening on HOST:PORT` once
// bound and `tvl-broker-stats {json}` at the end: the harness reads both.
int run_broker(const fanout::BrokerConfig& c) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // before any thread exists: all inherit it
  load::raise_fd_limit(0);                             // as many connections as the hard limit allows
  int stop_pipe[2];
  if (pipe(stop_pipe) != 0) throw std::runtime_error("pipe failed");
  std::thread([stop_signals, w = stop_pipe[1]] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    [[maybe_unused]] const auto n = write(w, "x", 1);
  }).detach();
  fanout::Control ctl;
  ctl.stop_fd = stop_pipe[0];
  ctl.listening = [&c](std::uint16_t port) {
    fmt::print("listening on {}:{}\n", c.host, port);
    std::fflush(stdout);
  };
  const auto stats = c.model == "threads" ? fanout::run_threads_broker(c, ctl) : fanout::run_asyncloop_broker(c, ctl);
  fmt::print("tvl-broker-stats {}\n", stats_json(stats).dump());
  std::fflush(stdout);
  return 0;
}

void print_load(const load::Params& p, const load::Result& r) {
  const auto c = load::counters(p, r);
  auto get = [&](const char* k) {
    for (const auto& [key, v] : c)
      if (key == k) return v;
    return 0.0;
  };
  fmt::print("load: {} subscribers, {} publishers, {} B payload, {} msg/s for {} s on {} ({})\n", p.subscribers,
             p.publishers, p.payload, p.rate, p.duration_s, p.channel, p.protocol);
  fmt::print("  published {} ({:.0f}/s), delivered {} of {} ({:.0f}/s), lost {}, gaps {}, duplicates/reordered {}\n",
             r.published, get("published_per_second"), r.delivered, r.expected, get("items_per_second"), r.lost, r.gaps,
             r.duplicates_or_reordered);
  fmt::print("  latency from intended send  p50 {:.0f} us  p99 {:.0f}  p99.9 {:.0f}  max {:.0f}\n", get("p50_us"),
             get("p99_us"), get("p999_us"), get("max_us"));
  fmt::print("  latency from actual send    p50 {:.0f} us  p99 {:.0f}  p99.9 {:.0f}\n", get("sent_p50_us"),
             get("sent_p99_us"), get("sent_p999_us"));
  if (p.broker_pid > 0)
    fmt::print("  broker: RSS {} KiB (peak {}), CPU {:.3f} s, context switches {} voluntary, {} involuntary\n",
               r.broker_rss_kib, r.broker_hwm_kib, r.broker_cpu_s, r.broker_vcsw, r.broker_ivcsw);
}

void add_load_options(CLI::App* cmd, load::Params& p, bool subscribers = true) {
  if (subscribers)
    cmd->add_option("--subscribers", p.subscribers, "subscriber connections")
        ->check(CLI::Range(1, 1'000'000))
        ->capture_default_str();
  cmd->add_option("--publishers", p.publishers, "publisher connections")
      ->check(CLI::Range(1, 10'000))
      ->capture_default_str();
  cmd->add_option("--payload", p.payload, "bytes per message")
      ->check(CLI::Range(fanout::kStampBytes, std::size_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--rate", p.rate, "messages per second, all publishers together (open loop)")
      ->check(CLI::Range(1.0, 1e8))
      ->capture_default_str();
  cmd->add_option("--duration", p.duration_s, "seconds of load")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  cmd->add_option("--channel", p.channel, "/topic/... (everyone) or /queue/... (round-robin)")->capture_default_str();
  cmd->add_option("--slow-subscribers", p.slow_subscribers, "extra subscribers that never read")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  cmd->add_option("--drain", p.drain_s, "seconds the last deliveries may take")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
}

struct SweepOptions {
  std::string model = "asyncloop";  // threads | asyncloop | redis | python | python-uvloop
  std::string design = "improved";
  std::vector<int> subscribers{10, 100, 1000};
  std::size_t queue_depth = 10'000;
  std::string slow_policy = "drop";
  double deliveries = 0;  // > 0: each point's rate is deliveries / subscribers (a constant load)
  std::string json;
};

// A free loopback port for a peer that cannot pick its own and tell us (redis-server).
std::uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool can_connect(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// Starts the broker of one sweep point; returns it with the port it listens on.
std::pair<sweep::Child, std::uint16_t> start_broker(const SweepOptions& o) {
  std::vector<std::string> argv;
  std::uint16_t port = 0;
  if (o.model == "redis") {
    port = free_port();  // persistence off, loopback only, enough clients for the largest point
    argv = {"redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1",    "--save", "",
            "--appendonly", "no",     "--protected-mode",   "no",     "--maxclients", "19000",  "--loglevel",
            "warning"};
  } else if (o.model.starts_with("python")) {
    argv = {"/usr/bin/python3", std::string(TVL_SOURCE_DIR) + "/peers/asyncio_broker.py",
            "--port",           "0",
            "--queue-depth",    std::to_string(o.queue_depth),
            "--slow-policy",    o.slow_policy};
    if (o.model == "python-uvloop") argv.push_back("--uvloop");
  } else {
    argv = {sweep::self_exe(), "broker",     "--model", o.model,         "--design",
            o.design,          "--port",     "0",       "--queue-depth", std::to_string(o.queue_depth),
            "--slow-policy",   o.slow_policy};
  }
  sweep::Child child = sweep::spawn(argv);
  if (o.model == "redis") {
    for (int i = 0; i < 500 && !can_connect(port); ++i) usleep(10'000);
    if (!can_connect(port)) throw std::runtime_error("redis-server did not start (is it installed?)");
    return {std::move(child), port};
  }
  const std::string line = sweep::read_line(child, "listening on ", 10);
  if (line.empty()) {
    sweep::stop(child, SIGKILL, 1);
    throw std::runtime_error(o.model + " broker did not say where it listens");
  }
  port = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
  return {std::move(child), port};
}

// What a point proves: everything published reached every subscriber, once, in order, and the
// broker's own counters agree with the load's. Returns an empty string when it holds.
std::string check_point(const load::Params& lp, const load::Result& r, const nlohmann::json& stats) {
  if (r.publishers_stalled > 0)
    return fmt::format("{} publisher(s) stalled: the broker stopped reading them; {} of {} deliveries arrived",
                       r.publishers_stalled, r.delivered, r.expected);
  if (r.lost > 0) return fmt::format("lost {} of {} deliveries", r.lost, r.expected);
  if (r.gaps > 0 || r.duplicates_or_reordered > 0)
    return fmt::format("{} gaps, {} duplicated or reordered", r.gaps, r.duplicates_or_reordered);
  if (!stats.is_null() && stats.value("messages_in", 0) < r.published)
    return fmt::format("broker counted {} messages in, {} were published", stats.value("messages_in", 0), r.published);
  if (!stats.is_null() && stats.value("deliveries", 0) < r.delivered)
    return fmt::format("broker counted {} deliveries, subscribers received {}", stats.value("deliveries", 0),
                       r.delivered);
  (void)lp;
  return {};
}

int run_fanout_sweep(const SweepOptions& o, load::Params lp) {
  std::ofstream out;
  if (!o.json.empty()) {
    out.open(o.json);
    if (!out) throw UsageError("cannot write --json file '" + o.json + "'");
  }
  if (o.model == "redis") lp.protocol = "resp";
  nlohmann::json context = nlohmann::json::object();
  for (const auto& [key, value] : machine_context()) context[key] = value;
  context["tvl_command"] = fmt::format(
      "tvl sweep fanout --model {}{} --subscribers {} {} --duration {} --payload {}{}", o.model,
      o.model == "threads" || o.model == "asyncloop" ? " --design " + o.design : "", fmt::join(o.subscribers, ","),
      o.deliveries > 0 ? fmt::format("--deliveries {}", o.deliveries) : fmt::format("--rate {}", lp.rate),
      lp.duration_s, lp.payload, lp.slow_subscribers ? fmt::format(" --slow-subscribers {}", lp.slow_subscribers) : "");
  context["date"] = fmt::format("{:%Y-%m-%dT%H:%M:%S}", fmt::gmtime(std::time(nullptr)));
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  context["host_name"] = host;
  nlohmann::json rows = nlohmann::json::array();
  int failed = 0;
  const std::string design = o.model == "threads" || o.model == "asyncloop" ? o.design : "peer";
  for (const int n : o.subscribers) {
    fmt::print(stderr, "sweep fanout/{}/{}: {} subscribers ...\n", o.model, design, n);
    const std::string name = fmt::format("fanout/{}/{}/{}subscribers:{}", o.model, design,
                                         lp.slow_subscribers ? fmt::format("slow:{}/", lp.slow_subscribers) : "", n);
    if (o.deliveries > 0) lp.rate = std::max(1.0, o.deliveries / n);
    nlohmann::json row = {{"name", name},     {"run_name", name}, {"run_type", "iteration"},
                          {"repetitions", 1}, {"iterations", 1},  {"time_unit", "ns"},
                          {"real_time", 0},   {"cpu_time", 0},    {"subscribers", n}};
    std::string failure;
    try {
      lp.subscribers = n;
      load::raise_fd_limit(n + lp.publishers + 64);  // the broker, a child, inherits the raised limit
      auto [broker, port] = start_broker(o);
      lp.port = port;
      lp.broker_pid = broker.pid;
      load::Result r;
      try {
        r = load::run(lp);
      } catch (...) {
        sweep::stop(broker, SIGKILL, 2);
        close(broker.out_fd);
        throw;
      }
      sweep::stop(broker, SIGTERM, 10);
      nlohmann::json stats;
      if (o.model != "redis") {
        const std::string line = sweep::read_line(broker, "tvl-broker-stats ", 1);
        if (!line.empty()) stats = nlohmann::json::parse(line.substr(17));
      }
      close(broker.out_fd);
      for (const auto& [k, v] : load::counters(lp, r)) row[k] = v;
      if (!stats.is_null())
        for (const auto& [k, v] : stats.items()) row["broker_" + k] = v;
      row["real_time"] = r.seconds * 1e9;
      failure = check_point(lp, r, stats);
      fmt::print("  {:>6} subscribers  delivered {:>10.0f}/s  p50 {:>8.0f} us  p99 {:>9.0f} us  broker RSS {} KiB{}\n",
                 n, row["items_per_second"].get<double>(), row["p50_us"].get<double>(), row["p99_us"].get<double>(),
                 r.broker_rss_kib, failure.empty() ? "" : "  CHECK FAILED: " + failure);
      if (!failure.empty()) row["check_failed"] = failure;
      failure.clear();  // a failed check is recorded with the numbers, not as a missing point
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty()) {
      ++failed;
      row["sweep_failed"] = true;
      row["failure_reason"] = failure;
      fmt::print("  {:>6} subscribers  FAILED: {}\n", n, failure);
    }
    rows.push_back(row);
  }
  if (out.is_open()) out << nlohmann::json{{"context", context}, {"benchmarks", rows}}.dump(2) << '\n';
  fmt::print("{} of {} points reached\n", o.subscribers.size() - static_cast<std::size_t>(failed),
             o.subscribers.size());
  return 0;
}

}  // namespace

void add_fanout(Commands c) {
  auto cfg = std::make_shared<fanout::BrokerConfig>();
  auto* b = c.app.add_subcommand("broker", "run the book's message broker (ch. 4) until SIGINT or SIGTERM");
  b->add_option("--model", cfg->model, "threads or asyncloop")
      ->check(CLI::IsMember({"threads", "asyncloop"}))
      ->capture_default_str();
  b->add_option("--design", cfg->design, "naive (the book's prototype) or improved (bounded queues, a writer each)")
      ->check(CLI::IsMember({"naive", "improved"}))
      ->capture_default_str();
  b->add_option("--host", cfg->host, "address to listen on (loopback unless told otherwise)")->capture_default_str();
  b->add_option("--port", cfg->port, "port (0: any free one, printed)")->capture_default_str();
  b->add_option("--max-frame", cfg->max_frame, "largest frame accepted, bytes")
      ->check(CLI::Range(1u, 1u << 30))
      ->capture_default_str();
  b->add_option("--queue-depth", cfg->queue_depth, "messages one subscriber's send queue holds (improved)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24))
      ->capture_default_str();
  b->add_option("--slow-policy", cfg->slow_policy, "when a subscriber's queue is full: drop or disconnect")
      ->check(CLI::IsMember({"drop", "disconnect"}))
      ->capture_default_str();
  b->add_option("--flush-timeout", cfg->flush_timeout_s, "seconds to flush queued messages at shutdown")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  b->callback([cfg, &code = c.exit_code] { code = run_broker(*cfg); });

  auto lp = std::make_shared<load::Params>();
  auto json = std::make_shared<std::string>();
  auto* l = c.app.add_subcommand("load", "an open-loop load against a broker listening on host:port");
  l->add_option("--host", lp->host, "broker address")->capture_default_str();
  l->add_option("--port", lp->port, "broker port")->required();
  l->add_option("--protocol", lp->protocol, "tvl (the book's frames) or resp (redis-server)")
      ->check(CLI::IsMember({"tvl", "resp"}))
      ->capture_default_str();
  l->add_option("--broker-pid", lp->broker_pid, "read the broker's RSS, CPU and context switches from /proc/PID");
  add_load_options(l, *lp);
  l->add_option("--json", *json, "also write the counters to this JSON file");
  l->callback([lp, json, &code = c.exit_code] {
    std::ofstream out;
    if (!json->empty()) {
      out.open(*json);
      if (!out) throw UsageError("cannot write --json file '" + *json + "'");
    }
    const auto r = load::run(*lp);
    print_load(*lp, r);
    if (out.is_open()) {
      nlohmann::json counters = nlohmann::json::object();
      for (const auto& [k, v] : load::counters(*lp, r)) counters[k] = v;
      out << nlohmann::json{{"name", "fanout/load"}, {"counters", counters}}.dump(2) << '\n';
    }
    code = 0;
  });

  auto so = std::make_shared<SweepOptions>();
  auto sp = std::make_shared<load::Params>();
  sp->rate = 20'000;
  auto* sw = c.sweep.add_subcommand("fanout",
                                    "load a broker (or a peer) at many subscriber counts, each broker a child process");
  sw->add_option("--model", so->model, "threads, asyncloop, or a peer: redis, python, python-uvloop")
      ->check(CLI::IsMember({"threads", "asyncloop", "redis", "python", "python-uvloop"}))
      ->capture_default_str();
  sw->add_option("--design", so->design, "naive or improved (tvl brokers)")
      ->check(CLI::IsMember({"naive", "improved"}))
      ->capture_default_str();
  sw->add_option("--subscribers", so->subscribers, "subscriber counts, comma separated")
      ->delimiter(',')
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  sw->add_option("--queue-depth", so->queue_depth, "per-subscriber send queue (improved)")->capture_default_str();
  sw->add_option("--slow-policy", so->slow_policy, "drop or disconnect")
      ->check(CLI::IsMember({"drop", "disconnect"}))
      ->capture_default_str();
  add_load_options(sw, *sp, false);
  sw->add_option("--deliveries", so->deliveries,
                 "deliveries per second at every point: the rate becomes this / subscribers")
      ->check(CLI::Range(0.0, 1e9));
  sw->add_option("--json", so->json, "write the points (Google Benchmark JSON format) to this file");
  sw->callback([so, sp, &code = c.exit_code] { code = run_fanout_sweep(*so, *sp); });
}

}  // namespace tvl::cli
