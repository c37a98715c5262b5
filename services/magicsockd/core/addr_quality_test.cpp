#include "services/magicsockd/core/addr_quality.h"

#include <gtest/gtest.h>

namespace tnet::magicsock {
namespace {

using namespace std::chrono_literals;

AddrQuality q(const char* addr, Duration latency, uint16_t mtu = 0) {
  auto ipp = wire::IpPort::parse(addr);
  EXPECT_TRUE(ipp.has_value()) << addr;
  return AddrQuality{*ipp, true, latency, mtu};
}

TEST(BetterAddr, InvalidCurrentLosesToAnything) {
  EXPECT_TRUE(betterAddr(q("1.2.3.4:5", 100ms), AddrQuality{}));
  EXPECT_FALSE(betterAddr(AddrQuality{}, q("1.2.3.4:5", 100ms)));
}

TEST(BetterAddr, LatencyPointsNeedMoreThanOnePercent) {
  // Public v4 vs public v4: 1% faster scores 1 point, which Go treats as "not worth switching".
  EXPECT_FALSE(betterAddr(q("1.1.1.1:1", 99ms), q("2.2.2.2:2", 100ms)));
  EXPECT_TRUE(betterAddr(q("1.1.1.1:1", 98ms), q("2.2.2.2:2", 100ms)));
  EXPECT_FALSE(betterAddr(q("1.1.1.1:1", 100ms), q("2.2.2.2:2", 50ms)));
}

TEST(BetterAddr, ClassBonuses) {
  // Private (+20) beats public unless the public one is more than 20% faster.
  EXPECT_TRUE(betterAddr(q("192.168.1.2:1", 110ms), q("2.2.2.2:2", 100ms)));     // 20 vs 10
  EXPECT_FALSE(betterAddr(q("192.168.1.2:1", 130ms), q("2.2.2.2:2", 100ms)));    // 20 vs 23
  EXPECT_TRUE(betterAddr(q("127.0.0.1:1", 100ms), q("10.0.0.1:2", 100ms)));      // 50 vs 20
  EXPECT_TRUE(betterAddr(q("169.254.1.1:1", 100ms), q("172.16.0.1:2", 100ms)));  // 30 vs 20
  EXPECT_FALSE(betterAddr(q("172.32.0.1:1", 100ms), q("172.31.0.1:2", 100ms)));  // 172.32 is public
  // IPv6 +10: equal latency, v6 wins; v4 needs > 10% better to win back.
  EXPECT_TRUE(betterAddr(q("[2001:db8::1]:1", 100ms), q("2.2.2.2:2", 100ms)));
  EXPECT_FALSE(betterAddr(q("2.2.2.2:2", 95ms), q("[2001:db8::1]:1", 100ms)));
  EXPECT_TRUE(betterAddr(q("2.2.2.2:2", 85ms), q("[2001:db8::1]:1", 100ms)));
  EXPECT_TRUE(betterAddr(q("[fd00::1]:1", 100ms), q("[2001:db8::1]:1", 100ms)));  // ULA private
}

TEST(BetterAddr, SameAddressOnlyMtuMatters) {
  EXPECT_TRUE(betterAddr(q("1.1.1.1:1", 100ms, 1500), q("1.1.1.1:1", 10ms, 1280)));
  EXPECT_FALSE(betterAddr(q("1.1.1.1:1", 1ms, 1280), q("1.1.1.1:1", 100ms, 1280)));
}

}  // namespace
}  // namespace tnet::magicsock
