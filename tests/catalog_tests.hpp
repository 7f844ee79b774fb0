// Tests registered from the catalog: one per scenario x model x variant, named
// <model>.<variant>_<what> (CTest adds the scenario: cutlery.asyncloop_mt.strand_smoke), so a
// variant added to the catalog gets its test without this file or the test file changing.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace tvl::testing_catalog {

// A catalog name as a test name: "asyncloop-mt" -> "asyncloop_mt".
inline std::string test_name(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c == '-') c = '_';
  return out;
}

class BodyTest : public ::testing::Test {
 public:
  explicit BodyTest(std::function<void()> body) : body_(std::move(body)) {}
  void TestBody() override { body_(); }

 private:
  std::function<void()> body_;
};

// Registers TEST(<model>, <variant>_<what>) running body. Call it from a static initializer.
inline void register_test(std::string_view model, std::string_view variant, std::string_view what,
                          std::function<void()> body, const char* file, int line) {
  const std::string suite = test_name(model), name = test_name(variant) + "_" + std::string(what);
  ::testing::RegisterTest(suite.c_str(), name.c_str(), nullptr, nullptr, file, line,
                          [body = std::move(body)]() -> ::testing::Test* { return new BodyTest(body); });
}

}  // namespace tvl::testing_catalog
