#include "services/apid/core/watch_mask.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace tnet::apid {
namespace {

TEST(WatchMask, ParsesDecimal) {
  EXPECT_EQ(*parseWatchMask(""), 0u);
  EXPECT_EQ(*parseWatchMask("mask="), 0u);
  EXPECT_EQ(*parseWatchMask("mask=0"), 0u);
  EXPECT_EQ(*parseWatchMask("mask=6"), 6u);
  EXPECT_EQ(*parseWatchMask("mask=0006"), 6u);
  EXPECT_EQ(*parseWatchMask("x=1&mask=262144"), NOTIFY_PEER_WIREGUARD_STATE);
}

TEST(WatchMask, BadNumbersAreBadMask) {
  for (const char* q :
       {"mask=-1", "mask=+1", "mask=0x10", "mask=1_0", "mask=abc", "mask= 1", "mask=18446744073709551616"}) {
    auto r = parseWatchMask(q);
    ASSERT_FALSE(r) << q;
    EXPECT_EQ(r.error().message, "bad mask") << q;
  }
  EXPECT_EQ(*parseWatchMask("mask=9223372036854775808"), uint64_t(1) << 63);  // unknown bits pass, as Go
}

TEST(WatchMask, GoValidationMessages) {
  auto r = parseWatchMask("mask=65536");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "NotifyInProcessNoDisconnect is only valid for in-process IPN bus subscribers");
  auto rl = parseWatchMask("mask=" + std::to_string(NOTIFY_RATE_LIMIT | NOTIFY_PEER_CHANGES));
  ASSERT_FALSE(rl);
  EXPECT_EQ(rl.error().message,
            "NotifyRateLimit is incompatible with new-style IPN bus subscription bits "
            "ipn.NotifyPeerChanges");
  auto rl2 = parseWatchMask("mask=" +
                            std::to_string(NOTIFY_RATE_LIMIT | NOTIFY_PEER_CHANGES | NOTIFY_INITIAL_STATUS));
  EXPECT_EQ(rl2.error().message,
            "NotifyRateLimit is incompatible with new-style IPN bus subscription bits "
            "(ipn.NotifyPeerChanges | ipn.NotifyInitialStatus)");
  EXPECT_TRUE(parseWatchMask("mask=" + std::to_string(NOTIFY_RATE_LIMIT | NOTIFY_INITIAL_STATE)));
}

TEST(WatchMask, StringLikeGo) {
  EXPECT_EQ(notifyWatchOptString(0), "ipn.NotifyWatchOpt(0x0)");
  EXPECT_EQ(notifyWatchOptString(2), "ipn.NotifyInitialState");
  EXPECT_EQ(notifyWatchOptString(6), "(ipn.NotifyInitialState | ipn.NotifyInitialPrefs)");
  EXPECT_EQ(notifyWatchOptString(1ull << 40), "ipn.NotifyWatchOpt(0x10000000000)");
  EXPECT_EQ(notifyWatchOptString(1 | (1ull << 20)),
            "(ipn.NotifyWatchEngineUpdates | ipn.NotifyWatchOpt(0x100000))");
}

}  // namespace
}  // namespace tnet::apid
