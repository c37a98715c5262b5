#include "services/netstackd/core/packet.h"

#include <gtest/gtest.h>

#include "services/netstackd/core/test_packets.h"

namespace tnet::netstack {
namespace {

using testing::makePacket;

TEST(Packet, ParsesIpv4Tcp) {
  auto p = makePacket(Addr::v4(100, 64, 0, 2), Addr::v4(100, 64, 0, 1), PROTO_TCP, 40000, 80, TCP_SYN);
  PacketInfo info;
  ASSERT_EQ(parsePacket(p, info), ParseStatus::OK);
  EXPECT_FALSE(info.v6);
  EXPECT_EQ(info.proto, PROTO_TCP);
  EXPECT_EQ(info.src, Addr::v4(100, 64, 0, 2));
  EXPECT_EQ(info.dst, Addr::v4(100, 64, 0, 1));
  EXPECT_EQ(info.srcPort, 40000);
  EXPECT_EQ(info.dstPort, 80);
  EXPECT_TRUE(info.isTcpSyn());
  EXPECT_EQ(info.dst.toString(), "100.64.0.1");
}

TEST(Packet, SynAckIsNotASyn) {
  auto p = makePacket(Addr::v4(1, 2, 3, 4), Addr::v4(5, 6, 7, 8), PROTO_TCP, 1, 2, TCP_SYN | TCP_ACK);
  PacketInfo info;
  ASSERT_EQ(parsePacket(p, info), ParseStatus::OK);
  EXPECT_FALSE(info.isTcpSyn());
}

TEST(Packet, ParsesIpv6UdpThroughExtensionHeaders) {
  auto src = testing::v6addr({0xfd, 0x7a}, 2), dst = testing::v6addr({0xfd, 0x7a}, 1);
  auto p = makePacket(src, dst, PROTO_UDP, 5353, 53, 0, 4);
  // Insert an 8-byte destination-options header (next header 60) before UDP.
  std::vector<uint8_t> q(p.begin(), p.begin() + 40);
  q[6] = 60;
  q.insert(q.end(), {PROTO_UDP, 0, 1, 4, 0, 0, 0, 0});
  q.insert(q.end(), p.begin() + 40, p.end());
  putU16BE(&q[4], uint16_t(q.size() - 40));
  PacketInfo info;
  ASSERT_EQ(parsePacket(q, info), ParseStatus::OK);
  EXPECT_TRUE(info.v6);
  EXPECT_EQ(info.proto, PROTO_UDP);
  EXPECT_EQ(info.dstPort, 53);
  EXPECT_EQ(info.transportOffset, 48u);
  EXPECT_EQ(info.src.toString(), "fd7a:0:0:0:0:0:0:2");
}

TEST(Packet, RejectsBrokenHeaders) {
  PacketInfo info;
  EXPECT_EQ(parsePacket({}, info), ParseStatus::TOO_SHORT);
  std::vector<uint8_t> shortV4(10, 0x45);
  EXPECT_EQ(parsePacket(shortV4, info), ParseStatus::TOO_SHORT);
  auto p = makePacket(Addr::v4(1, 2, 3, 4), Addr::v4(5, 6, 7, 8), PROTO_TCP, 1, 2);
  putU16BE(&p[2], uint16_t(p.size() + 1));  // claims more than there is
  EXPECT_EQ(parsePacket(p, info), ParseStatus::BAD_HEADER);
  p[0] = 0x44;  // IHL 16 bytes
  EXPECT_EQ(parsePacket(p, info), ParseStatus::BAD_HEADER);
  p[0] = 0x75;
  EXPECT_EQ(parsePacket(p, info), ParseStatus::BAD_VERSION);
}

TEST(Packet, NonFirstFragmentHasNoPorts) {
  auto p = makePacket(Addr::v4(1, 2, 3, 4), Addr::v4(5, 6, 7, 8), PROTO_UDP, 1, 2);
  putU16BE(&p[6], 0x0010);  // offset 16*8
  PacketInfo info;
  ASSERT_EQ(parsePacket(p, info), ParseStatus::OK);
  EXPECT_TRUE(info.fragment);
  EXPECT_EQ(info.dstPort, 0);
}

}  // namespace
}  // namespace tnet::netstack
