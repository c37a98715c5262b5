#include "services/netstackd/core/socks5.h"

#include <gtest/gtest.h>

namespace tnet::netstack::socks5 {
namespace {

using V = std::vector<uint8_t>;

TEST(Socks5, Greeting) {
  EXPECT_EQ(parseGreeting(V{5}).status, Status::NEED_MORE);
  EXPECT_EQ(parseGreeting(V{5, 2, 0}).status, Status::NEED_MORE);
  auto g = parseGreeting(V{5, 2, 2, 0, 0xaa});
  EXPECT_EQ(g.status, Status::OK);
  EXPECT_TRUE(g.noAuthOffered);
  EXPECT_EQ(g.consumed, 4u);
  EXPECT_FALSE(parseGreeting(V{5, 1, 2}).noAuthOffered);
  EXPECT_EQ(parseGreeting(V{4, 1, 0}).status, Status::FAIL);
}

TEST(Socks5, ConnectIpv4Ipv6Domain) {
  auto r = parseRequest(V{5, 1, 0, 1, 100, 64, 0, 2, 0x1f, 0x90});
  ASSERT_EQ(r.status, Status::OK);
  EXPECT_EQ(r.command, CMD_CONNECT);
  EXPECT_EQ(r.target.toString(), "100.64.0.2:8080");
  EXPECT_EQ(r.consumed, 10u);

  V v6{5, 1, 0, 4, 0xfd, 0x7a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80};
  r = parseRequest(v6);
  ASSERT_EQ(r.status, Status::OK);
  EXPECT_TRUE(r.target.addr.v6);
  EXPECT_EQ(r.target.toString(), "[fd7a:0:0:0:0:0:0:1]:80");

  V dom{5, 1, 0, 3, 4, 'p', 'e', 'e', 'r', 0, 80, 'x'};
  r = parseRequest(dom);
  ASSERT_EQ(r.status, Status::OK);
  EXPECT_TRUE(r.target.isDomain);
  EXPECT_EQ(r.target.domain, "peer");
  EXPECT_EQ(r.consumed, 11u);  // the trailing byte is payload
  for (size_t n = 0; n < 11; ++n) EXPECT_EQ(parseRequest({dom.data(), n}).status, Status::NEED_MORE) << n;
}

TEST(Socks5, Refusals) {
  auto bind = parseRequest(V{5, CMD_BIND, 0, 1, 1, 2, 3, 4, 0, 1});
  EXPECT_EQ(bind.status, Status::FAIL);
  EXPECT_EQ(bind.failReply, REP_COMMAND_NOT_SUPPORTED);
  auto atyp = parseRequest(V{5, 1, 0, 9, 1, 2, 3, 4, 0, 1});
  EXPECT_EQ(atyp.status, Status::FAIL);
  EXPECT_EQ(atyp.failReply, REP_ADDRESS_NOT_SUPPORTED);
  EXPECT_EQ(parseRequest(V{5, 1, 0, 3, 0, 0, 80}).status, Status::FAIL);          // empty name
  EXPECT_EQ(parseRequest(V{5, 1, 0, 3, 2, 'a', 0, 0, 80}).status, Status::FAIL);  // NUL in name
  EXPECT_EQ(parseRequest(V{4, 1, 0, 1}).status, Status::FAIL);
}

TEST(Socks5, ReplyBytes) {
  EXPECT_EQ(buildReply(REP_SUCCEEDED, Addr::v4(127, 0, 0, 1), 1080),
            (V{5, 0, 0, 1, 127, 0, 0, 1, 0x04, 0x38}));
  EXPECT_EQ(buildReply(REP_NETWORK_UNREACHABLE, Addr{}, 0), (V{5, 3, 0, 1, 0, 0, 0, 0, 0, 0}));
}

TEST(Socks5, UdpHeaderRoundTrip) {
  V d;
  appendUdpHeader(d, Addr::v4(100, 100, 100, 100), 53);
  d.push_back(0xab);
  auto h = parseUdpHeader(d);
  ASSERT_EQ(h.status, Status::OK);
  EXPECT_EQ(h.headerLen, 10u);
  EXPECT_EQ(h.target.toString(), "100.100.100.100:53");
  EXPECT_EQ(parseUdpHeader(V{0, 1, 0, 1, 1, 2, 3, 4, 0, 1}).status, Status::FAIL);
  EXPECT_EQ(parseUdpHeader(V{0, 0, 0, 1, 1, 2}).status, Status::FAIL);
}

TEST(Socks5, UdpHeaderWithADomainRoundTrips) {
  std::vector<uint8_t> d;
  appendUdpHeader(d, std::string("localhost"), 53);
  d.push_back('x');
  auto h = parseUdpHeader(d);
  ASSERT_EQ(h.status, Status::OK);
  EXPECT_TRUE(h.target.isDomain);
  EXPECT_EQ(h.target.domain, "localhost");
  EXPECT_EQ(h.target.port, 53);
  EXPECT_EQ(h.headerLen, d.size() - 1);
}

}  // namespace
}  // namespace tnet::netstack::socks5
