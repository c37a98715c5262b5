#include "libs/log/log.h"

#include <gtest/gtest.h>

namespace tnet::log {
namespace {

TEST(Log, LevelsMapAndChangeAtRuntime) {
  init("logtest", LEVEL_INFO);
  EXPECT_EQ(logger().name(), "logtest");
  EXPECT_EQ(logger().level(), spdlog::level::info);
  ASSERT_TRUE(setLevel(LEVEL_TRACE));
  EXPECT_EQ(logger().level(), spdlog::level::trace);
  EXPECT_EQ(level(), LEVEL_TRACE);
  ASSERT_TRUE(setLevel(LEVEL_DEBUG));
  EXPECT_EQ(logger().level(), spdlog::level::debug);
  auto bad = setLevel(3);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().kind, ErrorKind::INVALID);
  EXPECT_EQ(level(), LEVEL_DEBUG);
  EXPECT_FALSE(setLevel(-1));
}

TEST(Log, ShortKeyAndQuote) {
  const uint8_t key[] = {0x1a, 0x2b, 0x3c, 0x4d, 0x5e, 0x6f};
  EXPECT_EQ(shortKey("nodekey:", key), "nodekey:1a2b3c4d");
  EXPECT_EQ(quote("plain"), "plain");
  EXPECT_EQ(quote("two words"), "\"two words\"");
  EXPECT_EQ(quote("a\nb=c"), "\"a\\x0ab=c\"");
  EXPECT_EQ(quote(""), "\"\"");
}

TEST(Log, RateLimiterBurstThenRefill) {
  RateLimiter limiter(2.0, 3.0);
  auto t = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += limiter.allow(t) ? 1 : 0;
  EXPECT_EQ(allowed, 3);
  EXPECT_EQ(limiter.takeSuppressed(), 7u);
  EXPECT_EQ(limiter.takeSuppressed(), 0u);
  EXPECT_FALSE(limiter.allow(t + std::chrono::milliseconds(100)));
  EXPECT_TRUE(limiter.allow(t + std::chrono::milliseconds(600)));
}

}  // namespace
}  // namespace tnet::log
