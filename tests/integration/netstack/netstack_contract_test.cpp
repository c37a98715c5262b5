// Contract tests for netstackd: two real netstackd processes (A and B) with the test playing wgd
// between them. curl goes through A's SOCKS5 and HTTP proxies to a server that B forwards to
// 127.0.0.1 (Go's userspace inbound), and the filter, shields-up and quad-100 are checked with
// crafted packets.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "libs/base/bytes.h"
#include "services/netstackd/core/filter.h"
#include "services/netstackd/core/packet.h"
#include "services/netstackd/core/socks5.h"
#include "tests/integration/netstack/netstack_fixture.h"

namespace tnet::netstack::testing {
namespace {

using namespace std::chrono_literals;

const Addr A4 = Addr::v4(100, 64, 0, 1);
const Addr B4 = Addr::v4(100, 64, 0, 2);

NodeConfig configFor(const Node& self, const Node& peer) {
  NodeConfig c;
  c.addresses = {self.addr4 + "/32", self.addr6 + "/128"};
  c.names = {{"b.tail.ts.net.", {peer.addr4 + "/32", peer.addr6 + "/128"}}};
  if (self.name == "B") c.names = {{"a.tail.ts.net.", {peer.addr4 + "/32", peer.addr6 + "/128"}}};
  return c;
}

int connectTcp(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::vector<uint8_t> readN(int fd, size_t n) {
  std::vector<uint8_t> out(n);
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, out.data() + got, n - got);
    if (r <= 0) break;
    got += size_t(r);
  }
  out.resize(got);
  return out;
}

class NetstackContract : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pair.start()) << "netstackd did not start; logs: " << pair.a.logPath << " " << pair.b.logPath;
  }
  void TearDown() override {
    for (Node* n : {&pair.a, &pair.b}) {
      n->kill();
      if (n->exitCode != 0) {
        std::ifstream f(n->logPath);
        std::stringstream ss;
        ss << f.rdbuf();
        ADD_FAILURE() << "netstackd " << n->name << " exited with " << n->exitCode << "; log:\n"
                      << ss.str().substr(0, 8000);
      }
    }
  }
  void configureBoth(bool shieldsUpB = false) {
    auto ca = configFor(pair.a, pair.b);
    auto cb = configFor(pair.b, pair.a);
    cb.shieldsUp = shieldsUpB;
    ASSERT_TRUE(pair.a.configure(ca, ++gen));
    ASSERT_TRUE(pair.b.configure(cb, ++gen));
    ASSERT_TRUE(pair.pipesUp(pair.a));
    ASSERT_TRUE(pair.pipesUp(pair.b));
  }
  std::vector<std::string> curlVia(const Node& n, bool socks) {
    if (socks)
      return {
          "curl", "-sS", "--max-time", "60", "--socks5-hostname", "127.0.0.1:" + std::to_string(n.socksPort)};
    return {"curl", "-sS", "--max-time", "60", "-x", "http://127.0.0.1:" + std::to_string(n.httpPort)};
  }
  Pair pair;
  uint64_t gen = 0;
};

TEST_F(NetstackContract, ProxiesAnswerNetworkUnreachableBeforeAddresses) {
  // SOCKS5: greeting, then CONNECT → reply 0x01 (Go's server answers every failure so).
  int fd = connectTcp(pair.a.socksPort);
  ASSERT_GE(fd, 0);
  uint8_t hello[] = {5, 1, 0};
  ASSERT_EQ(write(fd, hello, 3), 3);
  EXPECT_EQ(readN(fd, 2), (std::vector<uint8_t>{5, 0}));
  uint8_t req[] = {5, 1, 0, 1, 100, 64, 0, 2, 0, 80};
  ASSERT_EQ(write(fd, req, sizeof req), ssize_t(sizeof req));
  auto reply = readN(fd, 10);
  ASSERT_GE(reply.size(), 2u);
  EXPECT_EQ(reply[1], socks5::REP_GENERAL_FAILURE);
  close(fd);
  // HTTP proxy: 502.
  auto [rc, out] = pair.run({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-x",
                             "http://127.0.0.1:" + std::to_string(pair.a.httpPort), "http://100.64.0.2/"},
                            10s);
  EXPECT_EQ(out, "502");
}

TEST_F(NetstackContract, SocksAndHttpProxyReachPeerThroughInboundForwarding) {
  HttpServer server("hello from B\n");
  configureBoth();
  std::string port = std::to_string(server.port());
  // MagicDNS name resolved by A (curl sends the name: --socks5-hostname), short name, IPv4, IPv6.
  for (std::string url : {"http://b.tail.ts.net:" + port + "/", "http://b:" + port + "/",
                          "http://100.64.0.2:" + port + "/", "http://[fd7a:115c:a1e0::2]:" + port + "/"}) {
    auto argv = curlVia(pair.a, true);
    argv.push_back(url);
    auto [rc, out] = pair.run(argv, 30s);
    EXPECT_EQ(rc, 0) << url;
    EXPECT_EQ(out, "hello from B\n") << url;
  }
  // HTTP proxy: absolute URI and CONNECT (-p tunnels through CONNECT).
  auto argv = curlVia(pair.a, false);
  argv.push_back("http://b.tail.ts.net:" + port + "/");
  auto [rc1, out1] = pair.run(argv, 30s);
  EXPECT_EQ(rc1, 0);
  EXPECT_EQ(out1, "hello from B\n");
  argv = curlVia(pair.a, false);
  argv.push_back("-p");
  argv.push_back("http://b:" + port + "/");
  auto [rc2, out2] = pair.run(argv, 30s);
  EXPECT_EQ(rc2, 0);
  EXPECT_EQ(out2, "hello from B\n");
  // A name outside MagicDNS goes to the OS resolver (its lookups fail locally in the test's
  // namespace): SOCKS5 host unreachable.
  if (pair.a.hermeticDns) {
    argv = curlVia(pair.a, true);
    argv.push_back("http://nobody.tail.ts.net/");
    EXPECT_NE(pair.run(argv, 30s).first, 0);
  }
  // Nothing listening behind B: B answers the SYN with RST once its local dial fails.
  argv = curlVia(pair.a, true);
  argv.push_back("http://b:" + std::to_string(freeTcpPort()) + "/");
  auto refused = pair.run(argv, 30s);
  EXPECT_EQ(refused.first, 97) << "curl should report a SOCKS5 connection failure";
  EXPECT_GE(server.served(), 6);
}

TEST_F(NetstackContract, TenMegabytesArriveIntactBothWays) {
  HttpServer server("x");
  configureBoth();
  std::string port = std::to_string(server.port());
  for (Node* via : {&pair.a, &pair.b}) {
    auto argv = curlVia(*via, true);
    std::string host = via == &pair.a ? "b" : "a";
    argv.push_back("http://" + host + ":" + port + "/big");
    auto t0 = std::chrono::steady_clock::now();
    auto [rc, out] = pair.run(argv, 120s);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(out.size(), 10u << 20);
    size_t bad = 0;
    for (size_t i = 0; i < out.size(); ++i)
      if (uint8_t(out[i]) != HttpServer::bigByte(i)) ++bad;
    EXPECT_EQ(bad, 0u);
    std::printf("10 MiB via %s's SOCKS5 in %.2f s (%.1f MB/s)\n", via->name.c_str(), secs, 10.48576 / secs);
  }
}

TEST_F(NetstackContract, TwoHundredConcurrentSocksConnections) {
  HttpServer server("ok\n");
  configureBoth();
  std::vector<std::string> argv = {"curl",
                                   "-s",
                                   "--no-progress-meter",
                                   "--parallel",
                                   "--parallel-max",
                                   "200",
                                   "--max-time",
                                   "90",
                                   "--socks5-hostname",
                                   "127.0.0.1:" + std::to_string(pair.a.socksPort)};
  for (int i = 0; i < 200; ++i)
    argv.push_back("http://b:" + std::to_string(server.port()) + "/?" + std::to_string(i));
  auto [rc, out] = pair.run(argv, 120s);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out.size(), 200u * 3);
  EXPECT_EQ(server.served(), 200);
}

TEST_F(NetstackContract, IcmpEchoAndUdpInboundWhenAllowed) {
  UdpEcho echo;
  configureBoth();
  int echoReplies = 0, udpReplies = 0;
  pair.intercept = [&](const Node& from, std::span<const uint8_t> p) {
    PacketInfo info;
    if (&from != &pair.a || parsePacket(p, info) != ParseStatus::OK || info.dst != Addr::v4(100, 64, 0, 9))
      return false;
    if (info.isEchoReply()) ++echoReplies;
    if (info.proto == PROTO_UDP && info.srcPort == echo.port()) ++udpReplies;
    return true;
  };
  // 100.64.0.9 is a peer that only the test plays.
  const Addr peer = Addr::v4(100, 64, 0, 9);
  pair.inject(pair.a, icmpEcho(peer, A4, 7, 1));
  std::vector<uint8_t> payload{'h', 'i'};
  pair.inject(pair.a, udpPacket(peer, A4, 5555, echo.port(), payload));
  EXPECT_TRUE(bus::testing::runUntil(
      pair.loop, [&] { return echoReplies == 1 && udpReplies == 1; }, 5000ms));
  EXPECT_EQ(echo.received(), 1);
  // Nothing listens on the local port: the peer gets ICMP port unreachable (IPv4).
  int unreachable = 0;
  auto saved = pair.intercept;
  pair.intercept = [&](const Node& from, std::span<const uint8_t> p) {
    PacketInfo info;
    if (&from == &pair.a && parsePacket(p, info) == ParseStatus::OK && info.proto == PROTO_ICMP4 &&
        info.icmpType == 3 && info.icmpCode == 3)
      ++unreachable;
    return saved(from, p);
  };
  uint16_t closed = 0;
  {
    UdpEcho probe;  // a port that was just free
    closed = probe.port();
  }
  pair.inject(pair.a, udpPacket(peer, A4, 5556, closed, payload));
  EXPECT_TRUE(bus::testing::runUntil(
      pair.loop, [&] { return unreachable == 1; }, 5000ms));
  // IPv6: ICMPv6 destination unreachable, code 4 (port), with a valid checksum (netstackd builds
  // it itself: lwIP's ICMPv6 error path only works while the packet is being input).
  auto a6 = parseAddr(pair.a.addr6), b6 = parseAddr(pair.b.addr6);
  int unreachable6 = 0;
  pair.intercept = [&](const Node& from, std::span<const uint8_t> p) {
    PacketInfo info;
    if (&from == &pair.a && parsePacket(p, info) == ParseStatus::OK && info.proto == PROTO_ICMP6 &&
        info.icmpType == 1 && info.icmpCode == 4 && info.dst == *b6) {
      uint32_t sum = 0;
      for (size_t i = 8; i < 40; i += 2) sum += getU16BE(&p[i]);
      sum += PROTO_ICMP6 + uint32_t(p.size() - 40);
      for (size_t i = 40; i + 1 < p.size(); i += 2) sum += getU16BE(&p[i]);
      if (p.size() & 1) sum += uint32_t(p.back()) << 8;
      while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
      if (sum == 0xffff) ++unreachable6;
      return true;
    }
    return false;
  };
  pair.inject(pair.a, udpPacket6(*b6, *a6, 5557, closed, payload));
  EXPECT_TRUE(bus::testing::runUntil(
      pair.loop, [&] { return unreachable6 == 1; }, 5000ms));
  pair.intercept = saved;
  // Packets to an address that is not ours are dropped before lwIP.
  pair.inject(pair.a, icmpEcho(peer, Addr::v4(100, 64, 0, 77), 7, 2));
  pair.loop.runFor(300ms);
  EXPECT_EQ(echoReplies, 1);
}

// Shields-up on A, then a deny rule on A: inbound TCP, UDP and ICMP echo are all blocked while A's
// own outbound connections to B still work (their replies pass).
TEST_F(NetstackContract, ShieldsUpAndDenyRuleBlockInbound) {
  HttpServer server("hello\n");
  UdpEcho echo;
  configureBoth();
  const Addr peer = Addr::v4(100, 64, 0, 9);
  int echoReplies = 0, udpReplies = 0, synAcks = 0, rsts = 0;
  uint16_t current = 0;  // only answers to the current probe count (lwIP retransmits old SYN-ACKs)
  pair.intercept = [&](const Node& from, std::span<const uint8_t> p) {
    PacketInfo info;
    if (&from != &pair.a || parsePacket(p, info) != ParseStatus::OK || info.dst != peer) return false;
    if (info.isEchoReply() && getU16BE(&p[info.transportOffset + 6]) == current) ++echoReplies;
    if (info.dstPort != current) return true;
    if (info.proto == PROTO_UDP) ++udpReplies;
    if (info.proto == PROTO_TCP && (info.tcpFlags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK)) ++synAcks;
    if (info.proto == PROTO_TCP && (info.tcpFlags & TCP_RST)) ++rsts;
    return true;
  };
  auto probe = [&](uint16_t sport) {
    current = sport;
    std::vector<uint8_t> payload{'x'};
    pair.inject(pair.a, icmpEcho(peer, A4, 9, sport));
    pair.inject(pair.a, udpPacket(peer, A4, sport, echo.port(), payload));
    pair.inject(pair.a, tcpSyn(peer, A4, sport, server.port(), 1000));
    pair.loop.runFor(bus::testing::scaled(700ms));
  };
  // Allowed: all three answer (the SYN gets a SYN-ACK after A dials 127.0.0.1).
  probe(40001);
  EXPECT_EQ(echoReplies, 1);
  EXPECT_EQ(udpReplies, 1);
  EXPECT_EQ(synAcks, 1);

  for (int variant = 0; variant < 2; ++variant) {
    auto ca = configFor(pair.a, pair.b);
    if (variant == 0) {
      ca.shieldsUp = true;
    } else {
      ca.allowAll = false;  // only port 1 from 100.64.0.2: nothing the probe uses
      ca.rules = {{{"100.64.0.2"}, "*", 1, 1}};
    }
    ASSERT_TRUE(pair.a.configure(ca, ++gen));
    echoReplies = udpReplies = synAcks = rsts = 0;
    int udpBefore = echo.received();
    probe(uint16_t(40010 + variant));
    EXPECT_EQ(echoReplies, 0) << "variant " << variant;
    EXPECT_EQ(udpReplies, 0) << "variant " << variant;
    EXPECT_EQ(synAcks, 0) << "variant " << variant;
    EXPECT_EQ(rsts, 0) << "variant " << variant;
    EXPECT_EQ(echo.received(), udpBefore) << "variant " << variant;
    // A's outbound to B still works.
    auto argv = curlVia(pair.a, true);
    argv.push_back("http://b:" + std::to_string(server.port()) + "/");
    auto [rc, out] = pair.run(argv, 30s);
    EXPECT_EQ(out, "hello\n") << "variant " << variant;
  }
}

// SOCKS5 UDP ASSOCIATE: quad-100 answers MagicDNS names, and datagrams reach B's inbound UDP.
TEST_F(NetstackContract, SocksUdpAssociateQuad100AndPeer) {
  UdpEcho echo;
  configureBoth();
  int ctl = connectTcp(pair.a.socksPort);
  ASSERT_GE(ctl, 0);
  uint8_t hello[] = {5, 1, 0};
  ASSERT_EQ(write(ctl, hello, 3), 3);
  uint8_t req[] = {5, 3, 0, 1, 0, 0, 0, 0, 0, 0};
  ASSERT_EQ(write(ctl, req, sizeof req), ssize_t(sizeof req));
  std::vector<uint8_t> reply;
  // The replies come while the test's loop is not needed (netstackd answers by itself).
  reply = readN(ctl, 2 + 10);
  ASSERT_EQ(reply.size(), 12u);
  ASSERT_EQ(reply[3], 0);  // succeeded
  uint16_t relayPort = getU16BE(&reply[10]);
  int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in relay{};
  relay.sin_family = AF_INET;
  relay.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  relay.sin_port = htons(relayPort);
  auto sendVia = [&](const Addr& dst, uint16_t port, std::span<const uint8_t> payload) {
    std::vector<uint8_t> d;
    socks5::appendUdpHeader(d, dst, port);
    d.insert(d.end(), payload.begin(), payload.end());
    sendto(u, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&relay), sizeof relay);
  };
  auto recvVia = [&](std::vector<uint8_t>& out) {
    uint8_t buf[2048];
    bool got = bus::testing::runUntil(
        pair.loop,
        [&] {
          ssize_t n = recv(u, buf, sizeof buf, 0);
          if (n <= 0) return false;
          out.assign(buf, buf + n);
          return true;
        },
        5000ms);
    return got;
  };
  // DNS A query for "b" to 100.100.100.100:53.
  std::vector<uint8_t> q{0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'b', 0, 0, 1, 0, 1};
  sendVia(Addr::v4(100, 100, 100, 100), 53, q);
  std::vector<uint8_t> got;
  ASSERT_TRUE(recvVia(got));
  ASSERT_GT(got.size(), 10u + 12u);
  std::vector<uint8_t> tail(got.end() - 4, got.end());
  EXPECT_EQ(tail, (std::vector<uint8_t>{100, 64, 0, 2}));
  EXPECT_EQ(got[10 + 3] & 0x0f, 0);  // NOERROR
  // Through the tailnet to B's 127.0.0.1 echo server, and back.
  std::vector<uint8_t> payload{'p', 'i', 'n', 'g'};
  sendVia(B4, echo.port(), payload);
  ASSERT_TRUE(recvVia(got));
  ASSERT_EQ(got.size(), 10u + 4u);
  EXPECT_EQ(std::vector<uint8_t>(got.begin() + 10, got.end()), payload);
  EXPECT_EQ(std::vector<uint8_t>(got.begin() + 4, got.begin() + 8), (std::vector<uint8_t>{100, 64, 0, 2}));
  close(u);
  close(ctl);
}

// setConfig: an older generation is acknowledged with the current one and changes nothing; a
// malformed address is refused as invalid.
TEST_F(NetstackContract, SetConfigGenerationsAndInvalidInput) {
  auto cfg = configFor(pair.a, pair.b);
  ASSERT_TRUE(pair.a.configure(cfg, 5));
  auto stale = configFor(pair.a, pair.b);
  stale.addresses = {"100.64.0.77/32"};
  auto r = pair.a.configure(stale, 3);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "setConfig: ack for another generation");
  EXPECT_TRUE(pair.pipesUp(pair.a));  // still answers on 100.64.0.1
  auto bad = configFor(pair.a, pair.b);
  bad.addresses = {"100.64.0.300/32"};
  r = pair.a.configure(bad, 6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::INVALID);
  EXPECT_TRUE(pair.pipesUp(pair.a));
}

// quad-100 over TCP through the SOCKS5 proxy: RFC 7766 framing, two queries on one connection.
TEST_F(NetstackContract, Quad100DnsOverTcpViaSocks) {
  configureBoth();
  int fd = connectTcp(pair.a.socksPort);
  ASSERT_GE(fd, 0);
  uint8_t req[] = {5, 1, 0, 5, 1, 0, 1, 100, 100, 100, 100, 0, 53};
  ASSERT_EQ(write(fd, req, sizeof req), ssize_t(sizeof req));
  auto reply = readN(fd, 2 + 10);
  ASSERT_EQ(reply.size(), 12u);
  ASSERT_EQ(reply[3], socks5::REP_SUCCEEDED);
  std::vector<uint8_t> q1{0, 19, 0x11, 0x11, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'b', 0, 0, 1, 0, 1};
  std::vector<uint8_t> q2{0, 24, 0x22, 0x22, 1,   0,   0,   1,   0, 0, 0, 0, 0,
                          0, 6,  'n',  'o',  'b', 'o', 'd', 'y', 0, 0, 1, 0, 1};
  std::vector<uint8_t> both = q1;
  both.insert(both.end(), q2.begin(), q2.end());
  ASSERT_EQ(write(fd, both.data(), both.size()), ssize_t(both.size()));
  auto len1 = readN(fd, 2);
  ASSERT_EQ(len1.size(), 2u);
  auto r1 = readN(fd, getU16BE(len1.data()));
  ASSERT_GE(r1.size(), 12u);
  EXPECT_EQ(getU16BE(r1.data()), 0x1111);
  EXPECT_EQ(std::vector<uint8_t>(r1.end() - 4, r1.end()), (std::vector<uint8_t>{100, 64, 0, 2}));
  auto len2 = readN(fd, 2);
  ASSERT_EQ(len2.size(), 2u);
  auto r2 = readN(fd, getU16BE(len2.data()));
  ASSERT_GE(r2.size(), 12u);
  EXPECT_EQ(getU16BE(r2.data()), 0x2222);
  EXPECT_EQ(r2[3] & 0x0f, 3);  // NXDOMAIN
  close(fd);
  // Any other quad-100 port is refused.
  fd = connectTcp(pair.a.socksPort);
  uint8_t other[] = {5, 1, 0, 5, 1, 0, 1, 100, 100, 100, 100, 0, 80};
  ASSERT_EQ(write(fd, other, sizeof other), ssize_t(sizeof other));
  reply = readN(fd, 2 + 10);
  ASSERT_EQ(reply.size(), 12u);
  EXPECT_EQ(reply[3], socks5::REP_GENERAL_FAILURE);
  close(fd);
}

// ---- outside the tailnet: the proxies dial the OS, as Go's userspace mode does ----------------
// Hermetic: 127.0.0.1 / ::1 stand for "outside"; names come from /etc/hosts ("localhost") or fail
// at the test's resolver (127.0.0.2, where nothing listens).

// One SOCKS5 CONNECT request; returns the reply (10 bytes for an IPv4 bound address).
std::vector<uint8_t> socksConnect(uint16_t socksPort, const std::vector<uint8_t>& target, int* fdOut = nullptr) {
  int fd = connectTcp(socksPort);
  if (fd < 0) return {};
  std::vector<uint8_t> req{5, 1, 0, 5, 1, 0};
  req.insert(req.end(), target.begin(), target.end());
  if (write(fd, req.data(), req.size()) != ssize_t(req.size())) {
    close(fd);
    return {};
  }
  if (readN(fd, 2) != std::vector<uint8_t>{5, 0}) {
    close(fd);
    return {};
  }
  auto reply = readN(fd, 10);
  if (fdOut) {
    *fdOut = fd;
  } else {
    close(fd);
  }
  return reply;
}

std::vector<uint8_t> ipv4Target(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
  return {1, a, b, c, d, uint8_t(port >> 8), uint8_t(port)};
}

std::vector<uint8_t> nameTarget(const std::string& name, uint16_t port) {
  std::vector<uint8_t> t{3, uint8_t(name.size())};
  t.insert(t.end(), name.begin(), name.end());
  t.push_back(uint8_t(port >> 8));
  t.push_back(uint8_t(port));
  return t;
}

// A raw request to the HTTP proxy; the whole response (the proxy closes after an error).
std::string httpProxyExchange(uint16_t httpPort, const std::string& request) {
  int fd = connectTcp(httpPort);
  if (fd < 0) return "";
  if (write(fd, request.data(), request.size()) != ssize_t(request.size())) {
    close(fd);
    return "";
  }
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  close(fd);
  return out;
}

TEST_F(NetstackContract, ProxiesDialOutsideTheTailnetThroughTheOs) {
  HttpServer server("hello from outside\n");
  configureBoth();
  std::string port = std::to_string(server.port());
  uint64_t relayedBefore = pair.relayed;
  // SOCKS5: an IPv4 literal (curl --socks5 resolves itself and sends the address) and a name
  // sent to the proxy (--socks5-hostname) that /etc/hosts answers.
  std::vector<std::string> urls = {"http://127.0.0.1:" + port + "/"};
  if (pair.a.hermeticDns) urls.push_back("http://localhost:" + port + "/");
  for (const auto& url : urls) {
    auto argv = curlVia(pair.a, true);
    argv.push_back(url);
    auto [rc, out] = pair.run(argv, 30s);
    EXPECT_EQ(rc, 0) << url;
    EXPECT_EQ(out, "hello from outside\n") << url;
  }
  // HTTP proxy: absolute URI and CONNECT.
  for (const auto& url : urls) {
    for (bool tunnel : {false, true}) {
      auto argv = curlVia(pair.a, false);
      if (tunnel) argv.push_back("-p");
      argv.push_back(url);
      auto [rc, out] = pair.run(argv, 30s);
      EXPECT_EQ(rc, 0) << url << (tunnel ? " CONNECT" : "");
      EXPECT_EQ(out, "hello from outside\n") << url << (tunnel ? " CONNECT" : "");
    }
  }
  // 10 MiB intact through the OS path.
  auto argv = curlVia(pair.a, true);
  argv.push_back("http://127.0.0.1:" + port + "/big");
  auto t0 = std::chrono::steady_clock::now();
  auto [rcBig, big] = pair.run(argv, 60s);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("10 MiB from 127.0.0.1 via A's SOCKS5 (OS path) in %.2f s (%.1f MB/s)\n", secs, 10.48576 / secs);
  ASSERT_EQ(rcBig, 0);
  ASSERT_EQ(big.size(), 10u << 20);
  size_t bad = 0;
  for (size_t i = 0; i < big.size(); ++i)
    if (uint8_t(big[i]) != HttpServer::bigByte(i)) ++bad;
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(server.served(), int(urls.size() * 3 + 1));
  // None of it went into the tailnet.
  EXPECT_EQ(pair.relayed, relayedBefore) << "OS-dialled traffic must not reach the pipes";
  // The SOCKS5 success reply carries the OS socket's local address (Go: srv.LocalAddr()).
  int fd = -1;
  auto reply = socksConnect(pair.a.socksPort, ipv4Target(127, 0, 0, 1, server.port()), &fd);
  ASSERT_EQ(reply.size(), 10u);
  EXPECT_EQ(reply[1], socks5::REP_SUCCEEDED);
  EXPECT_EQ(std::vector<uint8_t>(reply.begin() + 4, reply.begin() + 8), (std::vector<uint8_t>{127, 0, 0, 1}));
  std::string get = "GET / HTTP/1.0\r\n\r\n";
  ASSERT_EQ(write(fd, get.data(), get.size()), ssize_t(get.size()));
  std::string resp;
  char buf[512];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) resp.append(buf, size_t(n));
  EXPECT_NE(resp.find("hello from outside"), std::string::npos);
  close(fd);
}

// SOCKS5 CONNECT with an IPv6 address outside the tailnet: [::1] through the OS; the reply's
// bound address is the OS socket's (::1, so a 22-byte reply).
TEST_F(NetstackContract, SocksConnectIpv6OutsideTheTailnet) {
  int l = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  if (l < 0 || bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l, 4) != 0) {
    if (l >= 0) close(l);
    GTEST_SKIP() << "no IPv6 loopback here";
  }
  socklen_t len = sizeof a;
  getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
  uint16_t port = ntohs(a.sin6_port);
  std::thread server([l] {
    int c = accept(l, nullptr, nullptr);
    if (c < 0) return;
    const char msg[] = "hello over v6\n";
    [[maybe_unused]] ssize_t n = write(c, msg, sizeof msg - 1);
    close(c);
  });
  // On an early ASSERT return too: unblock accept() and join.
  struct Joiner {
    std::thread& t;
    int l;
    ~Joiner() {
      shutdown(l, SHUT_RDWR);
      t.join();
      close(l);
    }
  } joiner{server, l};
  configureBoth();
  int fd = connectTcp(pair.a.socksPort);
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> req{5, 1, 0, 5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, uint8_t(port >> 8),
                           uint8_t(port)};
  ASSERT_EQ(write(fd, req.data(), req.size()), ssize_t(req.size()));
  auto reply = readN(fd, 2 + 22);
  ASSERT_EQ(reply.size(), 24u);
  EXPECT_EQ(reply[3], socks5::REP_SUCCEEDED);
  EXPECT_EQ(reply[5], 4) << "IPv6 bound address";
  EXPECT_EQ(reply[21], 1) << "::1";
  std::string got;
  char buf[256];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) got.append(buf, size_t(n));
  EXPECT_EQ(got, "hello over v6\n");
  close(fd);
}

TEST_F(NetstackContract, OutsideDialFailuresAnswerAsGo) {
  configureBoth();
  uint16_t closed = freeTcpPort();
  std::string cp = std::to_string(closed);
  // SOCKS5: refused → 0x01 (Go's general failure), for an address and for a name.
  auto reply = socksConnect(pair.a.socksPort, ipv4Target(127, 0, 0, 1, closed));
  ASSERT_EQ(reply.size(), 10u);
  EXPECT_EQ(reply[1], socks5::REP_GENERAL_FAILURE);
  // The client learns only "general failure"; netstackd's log says why (Go logs it too).
  std::string why = "proxy.dial_failed proxy=socks5 err=\"dial tcp 127.0.0.1:" + cp + ": connect: connection refused\"";
  bool logged = false;
  for (int i = 0; i < 250 && !logged; ++i) {
    std::ifstream in(pair.a.logPath);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    logged = text.find(why) != std::string::npos;
    if (!logged) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(logged) << why;
  std::vector<uint8_t> v6{4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, uint8_t(closed >> 8), uint8_t(closed)};
  reply = socksConnect(pair.a.socksPort, v6);
  ASSERT_EQ(reply.size(), 10u);
  EXPECT_EQ(reply[1], socks5::REP_GENERAL_FAILURE) << "[::1]";
  if (pair.a.hermeticDns) {
    reply = socksConnect(pair.a.socksPort, nameTarget("localhost", closed));
    ASSERT_EQ(reply.size(), 10u);
    EXPECT_EQ(reply[1], socks5::REP_GENERAL_FAILURE) << "localhost";
    // A name neither MagicDNS nor the OS resolver knows: host unreachable.
    reply = socksConnect(pair.a.socksPort, nameTarget("nothing.invalid", 80));
    ASSERT_EQ(reply.size(), 10u);
    EXPECT_EQ(reply[1], socks5::REP_GENERAL_FAILURE);
  }
  // HTTP CONNECT: Go's 500 with the dial error in Tailscale-Connect-Error and the body.
  auto resp = httpProxyExchange(pair.a.httpPort, "CONNECT 127.0.0.1:" + cp + " HTTP/1.1\r\nHost: 127.0.0.1:" + cp +
                                                     "\r\n\r\n");
  EXPECT_TRUE(resp.starts_with("HTTP/1.1 500 ")) << resp;
  EXPECT_NE(resp.find("Tailscale-Connect-Error: dial tcp 127.0.0.1:" + cp + ": connect: connection refused\r\n"),
            std::string::npos)
      << resp;
  EXPECT_TRUE(resp.ends_with("\r\n\r\ndial tcp 127.0.0.1:" + cp + ": connect: connection refused\n")) << resp;
  if (pair.a.hermeticDns) {
    resp = httpProxyExchange(pair.a.httpPort, "CONNECT nothing.invalid:80 HTTP/1.1\r\n\r\n");
    EXPECT_TRUE(resp.starts_with("HTTP/1.1 500 ")) << resp;
    EXPECT_NE(resp.find("Tailscale-Connect-Error: lookup nothing.invalid: "), std::string::npos) << resp;
  }
  // Absolute URI: Go's ReverseProxy answers 502 with an empty body.
  resp = httpProxyExchange(pair.a.httpPort, "GET http://127.0.0.1:" + cp + "/ HTTP/1.1\r\nHost: 127.0.0.1:" + cp +
                                                "\r\n\r\n");
  EXPECT_TRUE(resp.starts_with("HTTP/1.1 502 Bad Gateway\r\n")) << resp;
  EXPECT_NE(resp.find("Content-Length: 0\r\n"), std::string::npos) << resp;
  // (A peer's address still goes into the netstack: SocksAndHttpProxyReachPeerThroughInboundForwarding.
  // A CGNAT address no node owns goes to the OS as in Go; not tried here, it would leave the host.)
}

// Go's SOCKS5 server gives a dial 5 s. A loopback listener whose accept queue is full drops new
// SYNs, so a connect there hangs until our deadline: general failure (0x01, as Go) after ~5 s.
TEST_F(NetstackContract, SocksOutsideDialTimesOutAfterFiveSeconds) {
  configureBoth();
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(l, 0), 0);
  socklen_t len = sizeof a;
  getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
  uint16_t port = ntohs(a.sin_port);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fillers.push_back(c);
  }
  usleep(200 * 1000);
  int fd = connectTcp(pair.a.socksPort);
  ASSERT_GE(fd, 0);
  timeval tv{15, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::vector<uint8_t> req{5, 1, 0, 5, 1, 0};
  auto t = ipv4Target(127, 0, 0, 1, port);
  req.insert(req.end(), t.begin(), t.end());
  ASSERT_EQ(write(fd, req.data(), req.size()), ssize_t(req.size()));
  auto t0 = std::chrono::steady_clock::now();
  auto reply = readN(fd, 2 + 10);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(reply.size(), 12u);
  EXPECT_EQ(reply[3], socks5::REP_GENERAL_FAILURE);
  EXPECT_GE(secs, 4.5);
  EXPECT_LE(secs, 9.0);
  close(fd);
  for (int c : fillers) close(c);
  close(l);
}

// UDP ASSOCIATE to a destination outside the tailnet: Go relays it through an OS socket.
TEST_F(NetstackContract, SocksUdpAssociateOutsideTheTailnet) {
  UdpEcho echo;
  configureBoth();
  int ctl = connectTcp(pair.a.socksPort);
  ASSERT_GE(ctl, 0);
  uint8_t req[] = {5, 1, 0, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0};
  ASSERT_EQ(write(ctl, req, sizeof req), ssize_t(sizeof req));
  auto reply = readN(ctl, 2 + 10);
  ASSERT_EQ(reply.size(), 12u);
  ASSERT_EQ(reply[3], 0);
  uint16_t relayPort = getU16BE(&reply[10]);
  int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in relay{};
  relay.sin_family = AF_INET;
  relay.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  relay.sin_port = htons(relayPort);
  uint64_t relayedBefore = pair.relayed;
  auto roundTrip = [&](std::vector<uint8_t> header, const std::string& payload) {
    header.insert(header.end(), payload.begin(), payload.end());
    sendto(u, header.data(), header.size(), 0, reinterpret_cast<sockaddr*>(&relay), sizeof relay);
    uint8_t buf[2048];
    ssize_t n = recv(u, buf, sizeof buf, 0);
    return n > 0 ? std::vector<uint8_t>(buf, buf + n) : std::vector<uint8_t>{};
  };
  std::vector<uint8_t> h4{0, 0, 0, 1, 127, 0, 0, 1, uint8_t(echo.port() >> 8), uint8_t(echo.port())};
  auto got = roundTrip(h4, "outside");
  ASSERT_EQ(got.size(), 10u + 7u);
  EXPECT_EQ(std::string(got.begin() + 10, got.end()), "outside");
  EXPECT_EQ(std::vector<uint8_t>(got.begin() + 3, got.begin() + 8), (std::vector<uint8_t>{1, 127, 0, 0, 1}));
  if (pair.a.hermeticDns) {
    std::vector<uint8_t> hn{0, 0, 0, 3, 9, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', uint8_t(echo.port() >> 8),
                            uint8_t(echo.port())};
    got = roundTrip(hn, "by name");
    ASSERT_EQ(got.size(), hn.size() + 7u);
    // The reply names the target as the client did (Go repeats the target address it was given).
    EXPECT_EQ(std::vector<uint8_t>(got.begin(), got.begin() + long(hn.size())), hn);
    EXPECT_EQ(std::string(got.end() - 7, got.end()), "by name");
  }
  EXPECT_EQ(echo.received(), pair.a.hermeticDns ? 2 : 1);
  EXPECT_EQ(pair.relayed, relayedBefore);
  close(u);
  close(ctl);
}

}  // namespace
}  // namespace tnet::netstack::testing
