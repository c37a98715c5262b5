#include "services/netstackd/core/filter.h"

#include <gtest/gtest.h>

#include "services/netstackd/core/test_packets.h"

namespace tnet::netstack {
namespace {

using testing::makePacket;

const Addr ME = Addr::v4(100, 64, 0, 1);
const Addr PEER = Addr::v4(100, 64, 0, 2);
const Addr OTHER = Addr::v4(100, 64, 0, 9);

PacketInfo info(const std::vector<uint8_t>& p) {
  PacketInfo i;
  EXPECT_EQ(parsePacket(p, i), ParseStatus::OK);
  return i;
}

FilterRuleSpec allowAll() {
  return {{"*"}, {{"*", -1, 0, 65535}}, {}};
}

TEST(AddrSet, ParsesGoForms) {
  auto star = parseAddrSet("*");
  ASSERT_TRUE(star);
  ASSERT_EQ(star->size(), 2u);
  EXPECT_TRUE((*star)[0].contains(Addr::v4(8, 8, 8, 8)));
  EXPECT_TRUE((*star)[1].contains(testing::v6addr({0x20, 0x01}, 1)));

  auto cidr = parseAddrSet("100.64.0.0/30");
  ASSERT_TRUE(cidr);
  EXPECT_TRUE((*cidr)[0].contains(Addr::v4(100, 64, 0, 3)));
  EXPECT_FALSE((*cidr)[0].contains(Addr::v4(100, 64, 0, 4)));

  auto range = parseAddrSet("100.64.0.5-100.64.0.7");
  ASSERT_TRUE(range);
  EXPECT_FALSE((*range)[0].contains(Addr::v4(100, 64, 0, 4)));
  EXPECT_TRUE((*range)[0].contains(Addr::v4(100, 64, 0, 5)));
  EXPECT_TRUE((*range)[0].contains(Addr::v4(100, 64, 0, 7)));
  EXPECT_FALSE((*range)[0].contains(Addr::v4(100, 64, 0, 8)));

  auto bits = parseAddrSet("100.64.0.1", 24);  // deprecated Bits on a plain IP
  ASSERT_TRUE(bits);
  EXPECT_TRUE((*bits)[0].contains(Addr::v4(100, 64, 0, 200)));

  auto one = parseAddrSet("100.64.0.1");
  ASSERT_TRUE(one);
  EXPECT_TRUE((*one)[0].contains(ME));
  EXPECT_FALSE((*one)[0].contains(PEER));
  EXPECT_FALSE((*one)[0].contains(testing::v6addr({}, 0)));  // families never mix

  EXPECT_FALSE(parseAddrSet("100.64.0.9-100.64.0.1"));
  EXPECT_FALSE(parseAddrSet("100.64.0.1-fd7a::1"));
  EXPECT_FALSE(parseAddrSet("not-an-ip"));
  EXPECT_FALSE(parseAddrSet("100.64.0.0/33"));
  EXPECT_FALSE(parseAddrSet("100.64.0.1", 40));
}

TEST(Filter, NoFilterFromControlAllowsNoNewInbound) {
  Filter f;
  f.configure({ME}, false, {allowAll()}, false);
  auto r = f.runIn(info(makePacket(PEER, ME, PROTO_TCP, 1234, 22, TCP_SYN)));
  EXPECT_EQ(r.verdict, Verdict::DROP);
}

TEST(Filter, AllowAllAcceptsEveryProtocol) {
  Filter f;
  f.configure({ME}, true, {allowAll()}, false);
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_TCP, 1234, 22, TCP_SYN))).verdict, Verdict::ACCEPT);
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_UDP, 1234, 53))).verdict, Verdict::ACCEPT);
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_ICMP4, 0, 0, 8))).verdict, Verdict::ACCEPT);
}

TEST(Filter, DropsPacketsNotForUs) {
  Filter f;
  f.configure({ME}, true, {allowAll()}, false);
  auto r = f.runIn(info(makePacket(PEER, OTHER, PROTO_TCP, 1234, 22, TCP_SYN)));
  EXPECT_EQ(r.verdict, Verdict::DROP);
  EXPECT_STREQ(r.reason, "destination not allowed");
}

TEST(Filter, PortRangesAndSources) {
  Filter f;
  f.configure({ME}, true, {{{"100.64.0.2"}, {{"100.64.0.1", -1, 80, 90}}, {}}}, false);
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_TCP, 5, 80, TCP_SYN))).verdict, Verdict::ACCEPT);
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_TCP, 5, 90, TCP_SYN))).verdict, Verdict::ACCEPT);
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_TCP, 5, 91, TCP_SYN))).verdict, Verdict::DROP);
  EXPECT_EQ(f.runIn(info(makePacket(OTHER, ME, PROTO_TCP, 5, 80, TCP_SYN))).verdict, Verdict::DROP);
  // ICMP to an address with any open port is allowed, from an allowed source only.
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_ICMP4, 0, 0, 8))).verdict, Verdict::ACCEPT);
  EXPECT_EQ(f.runIn(info(makePacket(OTHER, ME, PROTO_ICMP4, 0, 0, 8))).verdict, Verdict::DROP);
}

TEST(Filter, IpProtoListRestrictsProtocols) {
  Filter f;
  f.configure({ME}, true, {{{"*"}, {{"*", -1, 0, 65535}}, {PROTO_UDP}}}, false);
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_UDP, 5, 53))).verdict, Verdict::ACCEPT);
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_TCP, 5, 53, TCP_SYN))).verdict, Verdict::DROP);
  // The default list has no SCTP; naming it allows it.
  Filter g;
  g.configure({ME}, true, {allowAll()}, false);
  EXPECT_EQ(g.runIn(info(makePacket(PEER, ME, PROTO_SCTP, 5, 9))).verdict, Verdict::DROP);
}

TEST(Filter, TcpNonSynPassesAsGoDoes) {
  Filter f;
  f.configure({ME}, true, {}, true);  // shields up
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_TCP, 80, 40000, TCP_SYN | TCP_ACK))).verdict,
            Verdict::ACCEPT);
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_TCP, 80, 40000, TCP_ACK))).verdict, Verdict::ACCEPT);
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_TCP, 5, 80, TCP_SYN))).verdict, Verdict::DROP);
}

TEST(Filter, ShieldsUpBlocksAllNewInboundButRepliesPass) {
  Filter f;
  f.configure({ME}, true, {allowAll()}, true);
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_TCP, 5, 22, TCP_SYN))).verdict, Verdict::DROP);
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_UDP, 5, 53))).verdict, Verdict::DROP);
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_ICMP4, 0, 0, 8))).verdict, Verdict::DROP);
  // Replies to our own traffic.
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_ICMP4, 0, 0, 0))).verdict, Verdict::ACCEPT);
  f.runOut(info(makePacket(ME, PEER, PROTO_UDP, 4444, 53)));
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_UDP, 53, 4444))).verdict, Verdict::ACCEPT);
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_UDP, 53, 4445))).verdict, Verdict::DROP);
  EXPECT_EQ(f.runIn(info(makePacket(OTHER, ME, PROTO_UDP, 53, 4444))).verdict, Verdict::DROP);
}

TEST(Filter, ConntrackEvictsOldestFlow) {
  Filter f;
  f.configure({ME}, true, {}, false);
  for (uint16_t port = 1; port <= Filter::CONNTRACK_MAX + 1; ++port)
    f.runOut(info(makePacket(ME, PEER, PROTO_UDP, port, 53)));
  EXPECT_EQ(f.conntrackSize(), Filter::CONNTRACK_MAX);
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_UDP, 53, 1))).verdict, Verdict::DROP);
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_UDP, 53, 2))).verdict, Verdict::ACCEPT);
}

TEST(Filter, Ipv6RulesAndDenyByOmission) {
  auto me6 = testing::v6addr({0xfd, 0x7a, 0x11, 0x5c}, 1),
       peer6 = testing::v6addr({0xfd, 0x7a, 0x11, 0x5c}, 2);
  Filter f;
  std::vector<std::string> errors;
  f.configure(
      {ME, me6}, true,
      {{{"fd7a:115c::/32", "bogus"}, {{"*", -1, 22, 22}}, {}}, {{"fd7a:115c::2"}, {{"*", -1, 443, 443}}, {}}},
      false, &errors);
  EXPECT_EQ(errors.size(), 1u);  // the rule with "bogus" is skipped whole
  EXPECT_EQ(f.runIn(info(makePacket(peer6, me6, PROTO_TCP, 5, 22, TCP_SYN))).verdict, Verdict::DROP);
  EXPECT_EQ(f.runIn(info(makePacket(peer6, me6, PROTO_TCP, 5, 443, TCP_SYN))).verdict, Verdict::ACCEPT);
  EXPECT_EQ(f.runIn(info(makePacket(peer6, me6, PROTO_ICMP6, 0, 0, 128))).verdict, Verdict::ACCEPT);
  EXPECT_EQ(f.runIn(info(makePacket(peer6, me6, PROTO_ICMP6, 0, 0, 135))).verdict, Verdict::DROP);
}

TEST(Filter, CapSourcesNeverMatch) {
  Filter f;
  f.configure({ME}, true, {{{"cap:funnel"}, {{"*", -1, 0, 65535}}, {}}}, false);
  EXPECT_EQ(f.runIn(info(makePacket(PEER, ME, PROTO_TCP, 5, 22, TCP_SYN))).verdict, Verdict::DROP);
}

}  // namespace
}  // namespace tnet::netstack
