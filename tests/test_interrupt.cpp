// Interrupted runs and result files (issue 10): Ctrl-C during `tvl sweep fanout`, `tvl sweep
// restaurant` or `tvl capacity` stops every child, keeps the finished points in the --json file
// (marked interrupted) and exits 130; a result file is written whole or not at all; a --json
// path that cannot be written fails before the run.
//
// A terminal's Ctrl-C signals the whole foreground process group, `kill -INT PID` only the
// parent: each sweep is interrupted both ways. The test watches the run's output for the second
// point to start (so the first has finished), notes the children it has then, sends SIGINT and
// checks what is left.
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "measure/atomic_file.hpp"
#include "measure/process.hpp"
#include "tvl_command.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Generous bounds for a loaded machine and sanitizer builds: they only stop a hung run.
constexpr auto kWaitForOutput = 120s;
constexpr auto kWaitForExit = 60s;

// A fresh folder for one test's result file: anything else found in it afterwards was left behind.
struct Folder {
  fs::path path;
  explicit Folder(const std::string& stem) {
    path = fs::temp_directory_path() / (stem + "_" + std::to_string(getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Folder() { fs::remove_all(path); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename().string());
    return names;
  }
};

// The parent of a process from /proc/PID/stat; -1 when it is gone.
pid_t parent_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return -1;
  const std::size_t close = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (close == std::string::npos) return -1;
  std::istringstream rest(stat.substr(close + 2));
  char state = 0;
  pid_t ppid = -1;
  rest >> state >> ppid;
  return state == 'Z' ? -1 : ppid;  // a zombie is gone but for its exit status
}

std::set<pid_t> children_of(pid_t parent) {
  std::set<pid_t> kids;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    if (parent_of(pid) == parent) kids.insert(pid);
  }
  return kids;
}

// `tvl ARGS` as a child of this test, its stdout and stderr read through one pipe.
class TvlRun {
 public:
  TvlRun(const std::vector<std::string>& args, bool own_group) {
    int out[2];
    EXPECT_EQ(pipe(out), 0);
    std::vector<std::string> argv{TVL_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> raw;
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      if (own_group) setpgid(0, 0);  // as a shell puts a foreground job in a group of its own
      dup2(out[1], STDOUT_FILENO);
      dup2(out[1], STDERR_FILENO);
      close(out[0]);
      close(out[1]);
      execv(raw[0], raw.data());
      _exit(127);
    }
    if (own_group) setpgid(pid_, pid_);  // both sides, so the group exists before any signal
    close(out[1]);
    fd_ = out[0];
    fcntl(fd_, F_SETFL, O_NONBLOCK);
  }
  ~TvlRun() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(fd_);
  }

  pid_t pid() const { return pid_; }
  int killed_by() const { return killed_by_; }  // the signal that ended it (0: it exited)
  const std::string& output() const { return output_; }

  // Reads output until `text` has appeared `times` times; false when the run ended or the
  // time ran out first. Meanwhile notes every child the run has.
  bool wait_for(const std::string& text, int times) {
    const auto deadline = Clock::now() + kWaitForOutput;
    while (Clock::now() < deadline) {
      note_children();
      int seen = 0;
      for (std::size_t at = output_.find(text); at != std::string::npos; at = output_.find(text, at + 1)) ++seen;
      if (seen >= times) return true;
      if (!read_some(100)) return false;
    }
    return false;
  }

  // Waits (bounded) until the run has a child now, noting it.
  bool wait_for_child() {
    for (const auto deadline = Clock::now() + kWaitForOutput; Clock::now() < deadline;
         std::this_thread::sleep_for(5ms)) {
      read_some(0);
      if (note_children()) return true;
    }
    return false;
  }

  // Reads the rest of the output and waits for the exit status (-1: it did not exit by itself
  // in time, or was killed by a signal).
  int wait_exit() {
    const auto deadline = Clock::now() + kWaitForExit;
    int status = 0;
    while (Clock::now() < deadline) {
      read_some(10);
      note_children();
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        char buf[4096];  // what is left in the pipe (non-blocking: stops when it is empty)
        for (ssize_t n; (n = read(fd_, buf, sizeof buf)) > 0;) output_.append(buf, static_cast<std::size_t>(n));
        if (WIFSIGNALED(status)) killed_by_ = WTERMSIG(status);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
    }
    return -1;
  }

  // Every child the run was seen with that is still running, checked as soon as the run has
  // exited: a parent that stopped its children has reaped them by then (a zombie counts as gone).
  std::vector<pid_t> children_left() const {
    std::vector<pid_t> left;
    for (const pid_t c : seen_children_)
      if (parent_of(c) != -1) left.push_back(c);
    return left;
  }
  std::size_t children_seen() const { return seen_children_.size(); }

 private:
  bool note_children() {
    if (pid_ <= 0) return false;
    const auto kids = children_of(pid_);
    seen_children_.insert(kids.begin(), kids.end());
    return !kids.empty();
  }
  // False once the pipe is closed (the run and its children ended).
  bool read_some(int timeout_ms) {
    pollfd pfd{fd_, POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) <= 0) return true;
    char buf[4096];
    const ssize_t n = read(fd_, buf, sizeof buf);
    if (n > 0) output_.append(buf, static_cast<std::size_t>(n));
    return n > 0 || (n < 0 && errno == EAGAIN);
  }

  pid_t pid_ = -1;
  int killed_by_ = 0;
  int fd_ = -1;
  std::string output_;
  std::set<pid_t> seen_children_;
};

// Starts `args` (with --json into a fresh folder), waits for `marker` to appear twice (the
// second point has started, so the first has finished) and for a child, sends SIGINT (to the
// parent, or to its whole process group as a terminal does), then checks: exit status 130, the
// JSON file holds the finished points and says it was interrupted, no child is left, no
// temporary file either.
void interrupt_after_first_point(std::vector<std::string> args, const std::string& marker, std::size_t planned,
                                 bool whole_group) {
  const Folder folder("tvl_interrupt");
  const fs::path json = folder.path / "points.json";
  args.insert(args.end(), {"--json", json.string()});
  TvlRun run(args, whole_group);
  ASSERT_TRUE(run.wait_for(marker, 2)) << run.output();
  ASSERT_TRUE(run.wait_for_child()) << "the second point started no child\n" << run.output();
  kill(whole_group ? -run.pid() : run.pid(), SIGINT);
  const int status = run.wait_exit();
  const auto left = run.children_left();
  const std::string out = run.output();
  EXPECT_EQ(status, 130) << out;
  EXPECT_NE(out.find("interrupted: "), std::string::npos) << out;
  EXPECT_NE(out.find("kept in " + json.string()), std::string::npos) << out;
  EXPECT_EQ(left, std::vector<pid_t>{}) << "children of tvl still running\n" << out;
  for (const pid_t c : left) kill(c, SIGKILL);
  EXPECT_GE(run.children_seen(), 1u);
  EXPECT_EQ(folder.entries(), std::vector<std::string>{"points.json"}) << "a temporary file was left behind";
  std::ifstream in(json);
  ASSERT_TRUE(in) << out;
  const auto doc = nlohmann::json::parse(in);  // throws (and fails the test) unless whole
  const auto& rows = doc["benchmarks"];
  EXPECT_GE(rows.size(), 1u) << "the finished point was not kept";
  EXPECT_LT(rows.size(), planned);
  for (const auto& row : rows) EXPECT_FALSE(row.contains("sweep_failed")) << row.dump();
  EXPECT_EQ(doc["context"].value("interrupted", false), true);
  EXPECT_EQ(doc["context"].value("interrupted_by", ""), "SIGINT");
  EXPECT_EQ(doc["context"].value("points_not_run", std::size_t{0}) + rows.size(), planned);
}

const std::vector<std::string> kFanoutSweep{"sweep",    "fanout", "--model", "asyncloop",  "--subscribers",
                                            "10,10,10", "--rate", "200",     "--duration", "0.5"};
const std::vector<std::string> kRestaurantSweep{"sweep", "restaurant", "--model", "asyncloop", "--tables", "10,10,10"};
const std::vector<std::string> kCapacity{
    "capacity", "--model",      "asyncloop", "--subscribers",   "10,10,10", "--start", "2000", "--overload",
    "0",        "--max-probes", "1",         "--probe-seconds", "0.5"};

}  // namespace

TEST(sweep, fanout_sigint_to_parent_keeps_finished_points_and_stops_the_broker) {
  interrupt_after_first_point(kFanoutSweep, "10 subscribers ...", 3, false);
}

TEST(sweep, fanout_sigint_to_process_group_keeps_finished_points_and_stops_the_broker) {
  interrupt_after_first_point(kFanoutSweep, "10 subscribers ...", 3, true);
}

TEST(sweep, restaurant_sigint_to_parent_keeps_finished_points_and_stops_the_child) {
  interrupt_after_first_point(kRestaurantSweep, "10 tables ...", 3, false);
}

TEST(sweep, restaurant_sigint_to_process_group_keeps_finished_points_and_stops_the_child) {
  interrupt_after_first_point(kRestaurantSweep, "10 tables ...", 3, true);
}

TEST(capacity, sigint_to_parent_keeps_finished_points_and_stops_the_broker) {
  interrupt_after_first_point(kCapacity, "capacity fanout/asyncloop/improved: 10 subscribers", 3, false);
}

TEST(capacity, sigint_to_process_group_keeps_finished_points_and_stops_the_broker) {
  interrupt_after_first_point(kCapacity, "capacity fanout/asyncloop/improved: 10 subscribers", 3, true);
}

// Every command that writes --json fails at once, with exit status 2 and one line naming the
// path, when the path cannot be written: before the run, not after it.
TEST(run, json_path_that_cannot_be_written_fails_before_the_run) {
  const std::string bad = "/nonexistent-dir/x.json";
  for (const std::string args :
       {"run cutlery", "run restaurant", "run primitives", "run fanout", "sweep fanout --subscribers 10",
        "sweep restaurant --tables 10", "capacity --model asyncloop --subscribers 10", "load --port 1"}) {
    const auto r = tvl::testing_cli::run_tvl(args + " --json " + bad);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.out;
    EXPECT_EQ(r.out.find("tvl: error: --json: cannot write '" + bad + "'"), 0u) << args << "\n" << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << args << ": more than one line\n" << r.out;
  }
  // A folder is not a file either.
  const auto r = tvl::testing_cli::run_tvl("run cutlery --json " + fs::temp_directory_path().string());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("it is a folder"), std::string::npos) << r.out;
}

// A command without children dies of Ctrl-C as before, but takes the temporary of its --json
// file with it: nothing is left in the folder.
TEST(run, sigint_during_a_run_leaves_no_result_and_no_temporary) {
  const Folder folder("tvl_interrupt_run");
  const fs::path json = folder.path / "cutlery.json";
  TvlRun run({"run", "cutlery", "--trials", "100000", "--tables", "100000", "--json", json.string()}, false);
  const auto deadline = Clock::now() + kWaitForOutput;
  while (folder.entries().empty() && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(folder.entries().size(), 1u) << "no temporary beside the --json file";
  kill(run.pid(), SIGINT);
  EXPECT_EQ(run.wait_exit(), -1) << run.output();
  EXPECT_EQ(run.killed_by(), SIGINT) << "it should die of the signal, as a program does by default";
  EXPECT_EQ(folder.entries(), std::vector<std::string>{});
}

// A program that does not poll for interrupts (tvl-bench, a test) and dies of Ctrl-C still takes
// its children with it: a broker started with process::spawn gets SIGTERM first.
TEST(process, a_program_killed_by_sigint_stops_its_children_first) {
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  const pid_t program = fork();
  if (program == 0) {
    close(report[0]);
    auto broker = tvl::process::spawn({TVL_BINARY, "broker", "--model", "asyncloop", "--port", "0"});
    const bool up = !tvl::process::read_line(broker, "listening on ", 60).empty();
    const pid_t pid = up ? broker.pid : -1;
    if (write(report[1], &pid, sizeof pid) != sizeof pid) _exit(3);
    for (int i = 0; i < 600; ++i) usleep(100'000);  // until the signal (a minute at most)
    _exit(0);
  }
  close(report[1]);
  pid_t broker = -1;
  ASSERT_EQ(read(report[0], &broker, sizeof broker), static_cast<ssize_t>(sizeof broker));
  close(report[0]);
  ASSERT_GT(broker, 0) << "the broker did not start";
  ASSERT_EQ(parent_of(broker), program);
  kill(program, SIGINT);
  int status = 0;
  waitpid(program, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) << "it should die of the signal, as by default";
  // The broker got SIGTERM before its parent died: it exits (its stats line goes to a closed
  // pipe), then is reaped by init. Bounded wait: it must be gone, not merely orphaned.
  for (const auto deadline = Clock::now() + 20s; parent_of(broker) != -1 && Clock::now() < deadline;)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(parent_of(broker), -1) << "the broker outlived the program that started it";
  if (parent_of(broker) != -1) kill(broker, SIGKILL);
}

TEST(atomic_file, commit_writes_the_whole_file_and_leaves_no_temporary) {
  const Folder folder("tvl_atomic");
  const auto path = folder.path / "r.json";
  tvl::AtomicFile f(path.string());
  EXPECT_TRUE(f);
  EXPECT_FALSE(fs::exists(path)) << "the final file appears only when committed";
  EXPECT_EQ(folder.entries().size(), 1u);  // the temporary, hidden
  EXPECT_EQ(folder.entries().front().front(), '.');
  f.commit("{\"a\": 1}\n");
  EXPECT_FALSE(f);
  EXPECT_EQ(folder.entries(), std::vector<std::string>{"r.json"});
  std::ifstream in(path);
  EXPECT_EQ(nlohmann::json::parse(in)["a"], 1);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_NE(st.st_mode & S_IRGRP, 0u) << "a result file is as readable as any other, not private like a temporary";
}

TEST(atomic_file, never_committed_leaves_an_existing_file_as_it_was) {
  const Folder folder("tvl_atomic");
  const auto path = folder.path / "r.json";
  std::ofstream(path) << "old\n";
  {
    tvl::AtomicFile f(path.string());
    EXPECT_EQ(folder.entries().size(), 2u);
  }  // an exception, an interrupted run: never committed
  EXPECT_EQ(folder.entries(), std::vector<std::string>{"r.json"});
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "old");
}

TEST(atomic_file, a_path_that_cannot_be_written_throws_at_once) {
  EXPECT_THROW(tvl::AtomicFile("/nonexistent-dir/x.json"), std::runtime_error);
  EXPECT_THROW(tvl::AtomicFile(fs::temp_directory_path().string()), std::runtime_error);
  tvl::AtomicFile none;  // no path: nothing to write, nothing written
  EXPECT_FALSE(none);
  none.commit("ignored");
}
