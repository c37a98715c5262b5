#include "cli/duration.h"

#include <gtest/gtest.h>

namespace tnet::cli {
namespace {

using namespace std::chrono_literals;

std::chrono::nanoseconds parsed(std::string_view s) {
  auto r = parseDuration(s);
  EXPECT_TRUE(r) << s << ": " << (r ? "" : r.error().message);
  return r ? *r : std::chrono::nanoseconds(-12345);
}

TEST(Duration, GoForms) {
  EXPECT_EQ(parsed("30s"), 30s);
  EXPECT_EQ(parsed("1m30s"), 90s);
  EXPECT_EQ(parsed("500ms"), 500ms);
  EXPECT_EQ(parsed("1h"), 1h);
  EXPECT_EQ(parsed("1.5h"), 90min);
  EXPECT_EQ(parsed("2h45m10s"), 2h + 45min + 10s);
  EXPECT_EQ(parsed("1us"), 1us);
  EXPECT_EQ(parsed("1\xc2\xb5s"), 1us);
  EXPECT_EQ(parsed("1\xce\xbcs"), 1us);
  EXPECT_EQ(parsed("7ns"), 7ns);
  EXPECT_EQ(parsed(".5s"), 500ms);
  EXPECT_EQ(parsed("0"), 0s);
  EXPECT_EQ(parsed("0s"), 0s);
  EXPECT_EQ(parsed("-5s"), -5s);
  EXPECT_EQ(parsed("+5s"), 5s);
}

TEST(Duration, BareNumberIsSeconds) {
  EXPECT_EQ(parsed("30"), 30s);
  EXPECT_EQ(parsed("2.5"), 2500ms);
}

TEST(Duration, Rejects) {
  for (const char* bad : {"", "s", "5x", "5sec", "1..5s", ".s", "-", "5s3", "1e3s", " 5s", "9999999999999h",
                          "10000000000000000000s", "ms", "5 s"}) {
    EXPECT_FALSE(parseDuration(bad)) << bad;
  }
  auto r = parseDuration("5x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "unknown unit \"x\" in duration \"5x\"");
  EXPECT_EQ(parseDuration("5s3").error().message, "missing unit in duration \"5s3\"");
}

TEST(Duration, FormatsLikeGo) {
  EXPECT_EQ(formatDuration(0s), "0s");
  EXPECT_EQ(formatDuration(5s), "5s");
  EXPECT_EQ(formatDuration(90s), "1m30s");
  EXPECT_EQ(formatDuration(60s), "1m0s");
  EXPECT_EQ(formatDuration(1h), "1h0m0s");
  EXPECT_EQ(formatDuration(500ms), "500ms");
  EXPECT_EQ(formatDuration(1500ms), "1.5s");
  EXPECT_EQ(formatDuration(-2s), "-2s");
  EXPECT_EQ(formatDuration(7ns), "7ns");
}

}  // namespace
}  // namespace tnet::cli
