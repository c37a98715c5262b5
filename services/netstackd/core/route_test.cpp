#include "services/netstackd/core/route.h"

#include <gtest/gtest.h>
#include <netdb.h>

#include <cerrno>

namespace tnet::netstack::route {
namespace {

Addr v6(std::initializer_list<uint8_t> b) {
  Addr a;
  a.v6 = true;
  size_t i = 0;
  for (uint8_t x : b) a.bytes[i++] = x;
  return a;
}

TEST(Route, NodesGoToTheNetstackQuad100InProcessEverythingElseToTheOs) {
  TailnetAddrs t;
  t.add(Addr::v4(100, 64, 0, 1));                                           // self
  t.add(Addr::v4(100, 64, 0, 2));                                           // a peer
  t.add(v6({0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}));  // its IPv6
  EXPECT_EQ(classify(Addr::v4(100, 64, 0, 2), t), Via::TAILNET);
  EXPECT_EQ(classify(Addr::v4(100, 64, 0, 1), t), Via::TAILNET);
  EXPECT_EQ(classify(v6({0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}), t), Via::TAILNET);
  EXPECT_EQ(classify(Addr::v4(100, 100, 100, 100), t), Via::QUAD100);
  EXPECT_EQ(classify(v6({0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53}), t), Via::QUAD100);
  // A CGNAT or Tailscale-ULA address no node owns: Go's PeerForIP misses, so the OS dials it.
  EXPECT_EQ(classify(Addr::v4(100, 64, 0, 3), t), Via::OS);
  EXPECT_EQ(classify(v6({0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3}), t), Via::OS);
  EXPECT_EQ(classify(Addr::v4(127, 0, 0, 1), t), Via::OS);
  EXPECT_EQ(classify(v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), t), Via::OS);
  EXPECT_EQ(classify(Addr::v4(192, 0, 2, 1), t), Via::OS);
  // IPv4-mapped IPv6 is unmapped first (Go: ip.Unmap()).
  EXPECT_EQ(classify(v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 100, 64, 0, 2}), t), Via::TAILNET);
  EXPECT_EQ(classify(v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 100, 100, 100, 100}), t), Via::QUAD100);
  // An empty netmap sends only quad-100 in-process.
  TailnetAddrs none;
  EXPECT_EQ(classify(Addr::v4(100, 64, 0, 2), none), Via::OS);
  EXPECT_EQ(classify(Addr::v4(100, 100, 100, 100), none), Via::QUAD100);
}

TEST(Route, ErrorsMapToSocksRepliesAndGoTexts) {
  EXPECT_EQ(socksReplyFor(ECONNREFUSED), 0x05);
  EXPECT_EQ(socksReplyFor(ENETUNREACH), 0x03);
  EXPECT_EQ(socksReplyFor(EHOSTUNREACH), 0x04);
  EXPECT_EQ(socksReplyFor(ETIMEDOUT), 0x04);
  EXPECT_EQ(socksReplyFor(EACCES), 0x01);
  EXPECT_EQ(dialErrorText("tcp", Addr::v4(127, 0, 0, 1), 9, ECONNREFUSED),
            "dial tcp 127.0.0.1:9: connect: connection refused");
  EXPECT_EQ(dialErrorText("tcp", Addr::v4(192, 0, 2, 1), 80, ETIMEDOUT), "dial tcp 192.0.2.1:80: i/o timeout");
  EXPECT_EQ(dialErrorText("tcp", v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}), 9, ENETUNREACH),
            "dial tcp [::1]:9: connect: network is unreachable");
  EXPECT_EQ(lookupErrorText("nothing.invalid", EAI_NONAME), "lookup nothing.invalid: no such host");
  EXPECT_EQ(hostPort(v6({0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}), 80),
            "[fd7a:115c:a1e0::2]:80");
}

}  // namespace
}  // namespace tnet::netstack::route
