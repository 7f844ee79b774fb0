// What the fuzz targets share: a failed invariant aborts with its text (libFuzzer then saves the
// input as a crash), and the front of an input is read as the target's settings, the rest as
// the bytes under test. The same code runs under libFuzzer (clang) and in the corpus replay
// tests of the GCC build (fuzz/replay_main.cpp), so it needs nothing beyond the standard library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace tvl::fuzz {

[[noreturn]] inline void fail(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
  std::abort();
}

// The front of an input as settings: each take_*() uses up bytes (zero once they run out).
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : bytes_(reinterpret_cast<const char*>(data), size) {}

  std::uint8_t take_byte() {
    if (bytes_.empty()) return 0;
    const auto b = static_cast<std::uint8_t>(bytes_.front());
    bytes_.remove_prefix(1);
    return b;
  }
  std::uint32_t take_u32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = v << 8 | take_byte();
    return v;
  }
  std::string_view take(std::size_t n) {
    const std::string_view out = bytes_.substr(0, n);
    bytes_.remove_prefix(out.size());
    return out;
  }
  std::string_view rest() const { return bytes_; }

 private:
  std::string_view bytes_;
};

// Cuts a byte string into pieces whose sizes cycle through `plan` (each byte b: b + 1 bytes,
// times `unit`); an empty plan is one piece. How the network would split a stream.
class Splits {
 public:
  Splits(std::string_view plan, std::size_t unit) : plan_(plan), unit_(unit) {}
  std::size_t next(std::size_t left) {
    if (plan_.empty()) return left;
    const std::size_t n = (static_cast<std::uint8_t>(plan_[i_++ % plan_.size()]) + std::size_t{1}) * unit_;
    return n < left ? n : left;
  }

 private:
  std::string_view plan_;
  std::size_t unit_, i_ = 0;
};

}  // namespace tvl::fuzz

#define TVL_FUZZ_CHECK(cond) ((cond) ? void(0) : ::tvl::fuzz::fail(#cond, __FILE__, __LINE__))
