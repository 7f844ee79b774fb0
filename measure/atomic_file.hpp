// A result file written whole or not at all. A run that is interrupted, killed or fails half-way
// must never leave a truncated JSON file where a complete one is expected (the report would read
// it, or an older complete one would be lost). So the file is opened at the start, as a
// temporary file beside the final one (in the same folder, so that the rename cannot cross file
// systems) — a path that cannot be written fails before the run — and at the end the text is
// written, flushed to disk and renamed over the final path in one step. Never committed (an
// exception, an interrupted run that keeps nothing), the temporary is removed.
//
// A signal that ends the program before the commit (Ctrl-C during `tvl run ... --json`) removes
// the temporary too (process::remove_on_signal).
#pragma once

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "measure/process.hpp"

namespace tvl {

class AtomicFile {
 public:
  AtomicFile() = default;  // no file: commit() does nothing
  // Creates the temporary beside `path` now; throws std::runtime_error ("cannot write 'PATH':
  // why") when it cannot be.
  explicit AtomicFile(std::string path) : path_(std::move(path)) {
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) fail("it is a folder");
    const std::size_t slash = path_.rfind('/');
    const std::string dir = slash == std::string::npos ? "" : path_.substr(0, slash + 1);
    const std::string base = slash == std::string::npos ? path_ : path_.substr(slash + 1);
    if (base.empty()) fail("it names a folder, not a file");
    // Hidden and not ending in .json: a reader globbing *.json never takes it for a result.
    temp_ = dir + "." + base + kTempInfix + "XXXXXX";
    // No signal between making the temporary and noting it for removal (remove_on_signal).
    sigset_t stop, before;
    sigemptyset(&stop);
    for (const int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop, sig);
    pthread_sigmask(SIG_BLOCK, &stop, &before);
    fd_ = ::mkstemp(temp_.data());
    const int e = errno;
    if (fd_ >= 0) process::remove_on_signal(temp_);
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
    if (fd_ < 0) {
      temp_.clear();
      fail(std::strerror(e));
    }
    // mkstemp makes the file private (0600); a result file gets the usual 0666 less the umask.
    const mode_t mask = ::umask(0);
    ::umask(mask);
    ::fchmod(fd_, 0666 & ~mask);
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  AtomicFile(AtomicFile&& o) noexcept { *this = std::move(o); }
  AtomicFile& operator=(AtomicFile&& o) noexcept {
    if (this != &o) {
      discard();
      path_ = std::move(o.path_), temp_ = std::move(o.temp_), fd_ = std::exchange(o.fd_, -1);
      o.temp_.clear();
    }
    return *this;
  }
  ~AtomicFile() { discard(); }

  // Whether there is a file to write (a path was given and not yet committed).
  explicit operator bool() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }

  // Writes `text`, flushes it to disk and renames the temporary over the path; throws
  // std::runtime_error naming the path when any step fails (the temporary is then removed).
  void commit(std::string_view text) {
    if (fd_ < 0) return;
    for (std::size_t done = 0; done < text.size();) {
      const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail_and_discard();
      done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd_) != 0 || ::close(std::exchange(fd_, -1)) != 0) fail_and_discard();
    if (::rename(temp_.c_str(), path_.c_str()) != 0) fail_and_discard();
    process::keep_on_signal(temp_);
    temp_.clear();
  }

  // Removes the temporary without writing anything (what the destructor does).
  void discard() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    if (!temp_.empty()) {
      ::unlink(temp_.c_str());
      process::keep_on_signal(temp_);
    }
    temp_.clear();
  }

  // What the temporary's name holds after the final file's name: `.NAME.tmp-XXXXXX`.
  static constexpr const char* kTempInfix = ".tmp-";

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw std::runtime_error("cannot write '" + path_ + "': " + why);
  }
  [[noreturn]] void fail_and_discard() {
    const int e = errno;
    discard();
    fail(std::strerror(e));
  }

  std::string path_, temp_;
  int fd_ = -1;
};

}  // namespace tvl
