// wgd's own pings: the ICMP echo request and TSMP ping bytes (known answers computed outside this
// code, with an independent RFC 1071 sum and the RFC 8200 pseudo-header), and the reply matchers
// against hostile and truncated input.
#include "services/wgd/core/icmp_echo.h"

#include <gtest/gtest.h>

#include <random>

namespace tnet::wg {
namespace {

const Bytes V4_A = {100, 64, 0, 1}, V4_B = {100, 64, 0, 2};
const Bytes V6_A = *hexDecode("fd7a115ca1e000000000000000000001");
const Bytes V6_B = *hexDecode("fd7a115ca1e000000000000000000002");
const EchoIdSeq ID_SEQ = {0xa1, 0xb2, 0xc3, 0xd4};

// A one's-complement sum written separately from the code under test: a message whose checksum is
// right sums to 0xffff.
uint16_t foldedSum(ByteSpan b) {
  uint64_t s = 0;
  for (size_t i = 0; i < b.size(); ++i) s += (i % 2 == 0) ? uint64_t(b[i]) << 8 : b[i];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(s);
}

TEST(IcmpEcho, RequestV4IsByteExact) {
  Bytes p = buildIcmpEchoRequest(V4_A, V4_B, ID_SEQ);
  // Go's IP4Header.Marshal (ID 0, no flags, TTL 64) + type 8 code 0, checksum, id/seq, no data.
  EXPECT_EQ(hexEncode(p), "4500001c000000004001b25e644000016440000208009278a1b2c3d4");
  EXPECT_EQ(foldedSum(ByteSpan(p).first(20)), 0xffff);
  EXPECT_EQ(foldedSum(ByteSpan(p).subspan(20)), 0xffff);
}

TEST(IcmpEcho, RequestV6ChecksumCoversThePseudoHeader) {
  Bytes p = buildIcmpEchoRequest(V6_A, V6_B, ID_SEQ);
  EXPECT_EQ(hexEncode(p),
            "6000000000083a40fd7a115ca1e000000000000000000001fd7a115ca1e000000000000000000002"
            "8000b8c3a1b2c3d4");
  Bytes pseudo = V6_A;
  pseudo.insert(pseudo.end(), V6_B.begin(), V6_B.end());
  for (uint8_t b : {0, 0, 0, 8, 0, 0, 0, 58}) pseudo.push_back(b);
  pseudo.insert(pseudo.end(), p.begin() + 40, p.end());
  EXPECT_EQ(foldedSum(pseudo), 0xffff);
  // Without the pseudo-header the sum would not verify (the field is not a plain ICMPv4 sum).
  EXPECT_NE(foldedSum(ByteSpan(p).subspan(40)), 0xffff);
}

TEST(IcmpEcho, MixedOrBadAddressesBuildNothing) {
  EXPECT_TRUE(buildIcmpEchoRequest(V4_A, V6_B, ID_SEQ).empty());
  EXPECT_TRUE(buildIcmpEchoRequest(Bytes{1, 2, 3}, Bytes{1, 2, 3}, ID_SEQ).empty());
  EXPECT_TRUE(buildTsmpPing(V6_A, V4_B, {}).empty());
  EXPECT_TRUE(buildTsmpPing(Bytes{}, Bytes{}, {}).empty());
}

// The peer's lwIP turns a request into a reply by swapping addresses and setting the type.
Bytes replyTo(Bytes req) {
  const bool v6 = (req[0] >> 4) == 6;
  const size_t h = v6 ? 40 : 20, a = v6 ? 8 : 12, n = v6 ? 16 : 4;
  for (size_t i = 0; i < n; ++i) std::swap(req[a + i], req[a + n + i]);
  req[h] = v6 ? 129 : 0;
  return req;
}

TEST(IcmpEcho, ReplyMatcherReadsTheIdSeqOfEchoRepliesOnly) {
  for (const auto& [src, dst] : {std::pair{V4_A, V4_B}, std::pair{V6_A, V6_B}}) {
    Bytes req = buildIcmpEchoRequest(src, dst, ID_SEQ);
    auto reqIp = parseIp(req);
    ASSERT_TRUE(reqIp);
    EXPECT_FALSE(parseIcmpEchoReply(*reqIp)) << "a request is not a reply";
    Bytes rep = replyTo(req);
    auto ip = parseIp(rep);
    ASSERT_TRUE(ip);
    auto got = parseIcmpEchoReply(*ip);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, ID_SEQ);
    Bytes badCode = rep;
    badCode[src.size() == 4 ? 21 : 41] = 1;
    EXPECT_FALSE(parseIcmpEchoReply(*parseIp(badCode)));
    // ICMPv4 type 0 under protocol 58 (or v6's 129 under protocol 1) is not an echo reply.
    Bytes wrongProto = rep;
    wrongProto[src.size() == 4 ? 9 : 6] = src.size() == 4 ? 58 : 1;
    EXPECT_FALSE(parseIcmpEchoReply(*parseIp(wrongProto)));
  }
}

TEST(IcmpEcho, TruncatedAndRandomInputIsIgnored) {
  Bytes rep = replyTo(buildIcmpEchoRequest(V4_A, V4_B, ID_SEQ));
  // The IP length says 28; a header that claims less leaves too little ICMP to match.
  for (uint16_t total = 20; total < 28; ++total) {
    Bytes t(rep.begin(), rep.begin() + total);
    putU16BE(t.data() + 2, total);
    auto ip = parseIp(t);
    ASSERT_TRUE(ip);
    EXPECT_FALSE(parseIcmpEchoReply(*ip)) << total;
  }
  for (size_t n = 0; n < rep.size(); ++n) {
    auto ip = parseIp(ByteSpan(rep).first(n));  // shorter than its length field: rejected
    if (ip) {
      EXPECT_FALSE(parseIcmpEchoReply(*ip));
    }
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    Bytes r(rng() % 80);
    for (auto& b : r) b = uint8_t(rng());
    if (!r.empty()) r[0] = (rng() % 2) ? 0x45 : 0x60;
    if (auto ip = parseIp(r)) {
      (void)parseIcmpEchoReply(*ip);
      (void)parseTsmpPong(*ip);
    }
  }
}

TEST(TsmpPing, PingIsByteExactAndItsPongParses) {
  const std::array<uint8_t, 8> data = {1, 2, 3, 4, 5, 6, 7, 8};
  Bytes p = buildTsmpPing(V4_A, V4_B, data);
  EXPECT_EQ(hexEncode(p), "4500001d000000004063b1fb6440000164400002700102030405060708");
  Bytes p6 = buildTsmpPing(V6_A, V6_B, data);
  ASSERT_EQ(p6.size(), 49u);
  EXPECT_EQ(hexEncode(ByteSpan(p6).first(8)), "6000000000096340");
  EXPECT_EQ(hexEncode(ByteSpan(p6).subspan(40)), "700102030405060708");

  // The peer answers with Go's pong (buildTsmpPong), which parses back with its port.
  auto ping = parseTsmp(*parseIp(p));
  ASSERT_TRUE(ping);
  Bytes pong = buildTsmpPong(*parseIp(p), std::get<TsmpPing>(*ping), 0x1f90);
  auto got = parseTsmpPong(*parseIp(pong));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->data, data);
  EXPECT_EQ(got->peerApiPort, 0x1f90);
  EXPECT_FALSE(parseTsmpPong(*parseIp(p))) << "a ping is not a pong";
}

TEST(TsmpPing, PongWithoutPortAndShortPongs) {
  // Go's AsTSMPPong: 9 bytes are a pong with port 0; 8 are nothing.
  auto make = [](const std::string& bodyHex) {
    Bytes body = *hexDecode(bodyHex);
    Bytes p = buildIpHeader(V4_B, V4_A, IPPROTO_TSMP, body.size());
    p.insert(p.end(), body.begin(), body.end());
    return p;
  };
  Bytes nine = make("6f0102030405060708");
  auto got = parseTsmpPong(*parseIp(nine));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->peerApiPort, 0);
  EXPECT_FALSE(parseTsmpPong(*parseIp(make("6f01020304050607"))));
  EXPECT_FALSE(parseTsmpPong(*parseIp(make(""))));
  EXPECT_FALSE(parseTsmpPong(*parseIp(make("7001020304050607080000"))));
  Bytes notTsmp = make("6f01020304050607080000");
  notTsmp[9] = 17;
  EXPECT_FALSE(parseTsmpPong(*parseIp(notTsmp)));
}

}  // namespace
}  // namespace tnet::wg
