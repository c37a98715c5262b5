#include "services/wgd/core/allowed_ips.h"

#include <gtest/gtest.h>

namespace tnet::wg {
namespace {

IpPrefix P(std::string_view s) {
  auto p = IpPrefix::parse(s);
  EXPECT_TRUE(p) << s;
  return *p;
}

std::optional<PeerId> L(const AllowedIps& t, std::string_view addr) {
  auto p = IpPrefix::parse(addr);
  EXPECT_TRUE(p) << addr;
  return t.lookup(ByteSpan(p->addr.data(), p->isV6 ? 16 : 4));
}

TEST(AllowedIps, ParsesAndMasks) {
  EXPECT_EQ(P("10.1.2.3/8").toString(), "10.0.0.0/8");
  EXPECT_EQ(P("100.64.0.1").toString(), "100.64.0.1/32");
  EXPECT_EQ(P("fd7a:115c:a1e0::1").toString(), "fd7a:115c:a1e0::1/128");
  EXPECT_EQ(P("fd7a:115c:a1e0:ab12::1/48").toString(), "fd7a:115c:a1e0::/48");
  EXPECT_EQ(P("0.0.0.0/0").toString(), "0.0.0.0/0");
  EXPECT_EQ(P("1.2.3.255/30").toString(), "1.2.3.252/30");
  for (auto bad :
       {"10.0.0.0/33", "::/129", "10.0.0/8", "hello", "10.0.0.0/", "10.0.0.0/x", "", "10.0.0.0/0008"}) {
    EXPECT_FALSE(IpPrefix::parse(bad)) << bad;
  }
}

TEST(AllowedIps, LongestPrefixWinsV4) {
  AllowedIps t;
  t.insert(P("0.0.0.0/0"), 1);
  t.insert(P("10.0.0.0/8"), 2);
  t.insert(P("10.1.0.0/16"), 3);
  t.insert(P("10.1.2.3/32"), 4);
  EXPECT_EQ(L(t, "8.8.8.8"), 1u);
  EXPECT_EQ(L(t, "10.200.0.1"), 2u);
  EXPECT_EQ(L(t, "10.1.9.9"), 3u);
  EXPECT_EQ(L(t, "10.1.2.3"), 4u);
  EXPECT_EQ(L(t, "10.1.2.4"), 3u);
  EXPECT_EQ(t.size(), 4u);
  t.removePeer(3);
  EXPECT_EQ(L(t, "10.1.9.9"), 2u);
  t.removePeer(1);
  EXPECT_EQ(L(t, "8.8.8.8"), std::nullopt);
}

TEST(AllowedIps, LongestPrefixWinsV6AndFamiliesAreSeparate) {
  AllowedIps t;
  t.insert(P("::/0"), 1);
  t.insert(P("fd7a:115c:a1e0::/48"), 2);
  t.insert(P("fd7a:115c:a1e0::5/128"), 3);
  t.insert(P("fd7a:115c:a1e0:8000::/65"), 4);
  EXPECT_EQ(L(t, "2001:db8::1"), 1u);
  EXPECT_EQ(L(t, "fd7a:115c:a1e0::6"), 2u);
  EXPECT_EQ(L(t, "fd7a:115c:a1e0::5"), 3u);
  EXPECT_EQ(L(t, "fd7a:115c:a1e0:8000:7fff::1"), 4u);  // bit 64 is 0, as in the /65
  EXPECT_EQ(L(t, "fd7a:115c:a1e0:8000:8000::1"), 2u);  // bit 64 is 1: only the /48 matches
  EXPECT_EQ(L(t, "100.64.0.1"), std::nullopt);         // no IPv4 entries at all
  EXPECT_EQ(t.lookup(Bytes{1, 2, 3}), std::nullopt);
}

TEST(AllowedIps, ReassigningAPrefixMovesIt) {
  AllowedIps t;
  t.insert(P("100.64.0.2/32"), 1);
  t.insert(P("100.64.0.2/32"), 2);
  EXPECT_EQ(L(t, "100.64.0.2"), 2u);
  EXPECT_EQ(t.prefixesOf(1).size(), 0u);
  ASSERT_EQ(t.prefixesOf(2).size(), 1u);
  EXPECT_EQ(t.prefixesOf(2)[0].toString(), "100.64.0.2/32");
}

}  // namespace
}  // namespace tnet::wg
