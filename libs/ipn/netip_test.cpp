#include "libs/ipn/netip.h"

#include <gtest/gtest.h>

namespace tnet::ipn {
namespace {

TEST(NetIp, AddrTextAsGo) {
  EXPECT_EQ(parseIpAddr("100.64.0.1")->toString(), "100.64.0.1");
  EXPECT_EQ(parseIpAddr("FD7A:115C:A1E0:0:0:0:0:1")->toString(), "fd7a:115c:a1e0::1");
  EXPECT_EQ(parseIpAddr("::ffff:1.2.3.4")->toString(), "::ffff:1.2.3.4");
  EXPECT_EQ(parseIpAddr("::")->toString(), "::");
  EXPECT_EQ(parseIpAddr("1:0:0:2:0:0:0:3")->toString(), "1:0:0:2::3");
  EXPECT_EQ(parseIpAddr("fe80::1%eth0")->toString(), "fe80::1%eth0");
  EXPECT_FALSE(parseIpAddr("01.2.3.4"));
  EXPECT_FALSE(parseIpAddr("1.2.3.256"));
  EXPECT_FALSE(parseIpAddr("1.2.3"));
  EXPECT_FALSE(parseIpAddr("1.2.3.4.5"));
  EXPECT_FALSE(parseIpAddr(""));
  EXPECT_FALSE(parseIpAddr("::g"));
}

TEST(NetIp, Prefixes) {
  auto p = parseIpPrefix("10.1.2.3/8");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->isMasked());
  EXPECT_EQ(p->masked().toString(), "10.0.0.0/8");
  EXPECT_TRUE(parseIpPrefix("::/0")->isMasked());
  EXPECT_FALSE(parseIpPrefix("10.0.0.0/33"));
  EXPECT_FALSE(parseIpPrefix("10.0.0.0/08"));
  EXPECT_FALSE(parseIpPrefix("10.0.0.0"));
  EXPECT_FALSE(parseIpPrefix("fe80::%eth0/64"));
}

TEST(NetIp, AddrPorts) {
  EXPECT_EQ(parseIpAddrPort("1.2.3.4:80")->toString(), "1.2.3.4:80");
  EXPECT_EQ(parseIpAddrPort("[::1]:41641")->toString(), "[::1]:41641");
  EXPECT_FALSE(parseIpAddrPort("::1:80"));
  EXPECT_FALSE(parseIpAddrPort("1.2.3.4:65536"));
  EXPECT_FALSE(parseIpAddrPort("1.2.3.4"));
}

}  // namespace
}  // namespace tnet::ipn
