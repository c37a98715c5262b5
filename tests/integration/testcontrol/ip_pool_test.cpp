#include "tests/integration/testcontrol/ip_pool.h"

#include <gtest/gtest.h>

#include <set>

namespace tnet::testcontrol {
namespace {

TEST(IpPool, FirstAddressesAndTheirV6Twins) {
  IpPool pool;
  auto a = pool.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->v4.toString(), "100.64.0.1/32");
  EXPECT_EQ(a->v6.toString(), "fd7a:115c:a1e0:ab12:4843:cd96:6240:1/128");
  EXPECT_EQ(pool.next()->v4.toString(), "100.64.0.2/32");
}

TEST(IpPool, GoTailscale4To6) {
  // Go's tsaddr test vector: 100.101.102.103 → fd7a:115c:a1e0:ab12:4843:cd96:6265:6667.
  auto v4 = ipn::parseIpAddr("100.101.102.103");
  ASSERT_TRUE(v4);
  auto v6 = tailscale4To6(*v4);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->toString(), "fd7a:115c:a1e0:ab12:4843:cd96:6265:6667");
  EXPECT_FALSE(tailscale4To6(*ipn::parseIpAddr("100.128.0.1")));
  EXPECT_FALSE(tailscale4To6(*ipn::parseIpAddr("10.0.0.1")));
}

TEST(IpPool, TenThousandUniqueInRangeSkippingReserved) {
  IpPool pool;
  std::set<std::string> seen4, seen6;
  for (int i = 0; i < 10000; ++i) {
    auto a = pool.next();
    ASSERT_TRUE(a);
    const auto& b = a->v4.addr.bytes;
    EXPECT_EQ(b[0], 100);
    EXPECT_EQ(b[1] & 0xc0, 64);
    EXPECT_NE(b[3], 0);
    EXPECT_NE(b[3], 255);
    EXPECT_TRUE(seen4.insert(a->v4.toString()).second);
    EXPECT_TRUE(seen6.insert(a->v6.toString()).second);
    EXPECT_EQ(a->v6.toString().rfind("fd7a:115c:a1e0:", 0), 0u);
  }
  EXPECT_EQ(pool.allocated(), 10000u);
  EXPECT_EQ(seen4.count("100.64.1.0/32"), 0u);
  EXPECT_EQ(seen4.count("100.64.1.1/32"), 1u);
}

}  // namespace
}  // namespace tnet::testcontrol
