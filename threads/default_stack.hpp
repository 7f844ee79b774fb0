// The stack size of std::thread. std::thread has no attribute for it: a thread takes the
// process's default, which glibc lets a program set (pthread_setattr_default_np). DefaultStack
// sets it for the threads created while it lives and puts the old default back when it goes.
#pragma once

#include <pthread.h>

#include <cstddef>

namespace tvl {

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer's pthread_create refuses (EINVAL) a thread whose default stack was made
// smaller than it needs for itself: under it, threads keep the system's default stack.
inline constexpr bool kSetDefaultStack = false;
#else
inline constexpr bool kSetDefaultStack = true;
#endif

class DefaultStack {
 public:
  // `kib` KiB for every thread created from now on (0: leave the default alone).
  explicit DefaultStack(std::size_t kib) : set_(kSetDefaultStack && kib > 0 && pthread_getattr_default_np(&old_) == 0) {
    if (!set_) return;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, kib * 1024);
    pthread_setattr_default_np(&attr);
    pthread_attr_destroy(&attr);
  }
  ~DefaultStack() {
    if (!set_) return;
    pthread_setattr_default_np(&old_);
    pthread_attr_destroy(&old_);
  }
  DefaultStack(const DefaultStack&) = delete;
  DefaultStack& operator=(const DefaultStack&) = delete;

 private:
  pthread_attr_t old_{};
  bool set_;
};

}  // namespace tvl
