// TSMP parsing and Go's pong layout (net/packet tsmp.go, ip4.go, ip6.go ToResponse/Marshal).
#include "services/wgd/core/tsmp.h"

#include <gtest/gtest.h>

namespace tnet::wg {
namespace {

Bytes tsmpV4(ByteSpan body, uint16_t ipId = 0x1234) {
  Bytes p(20 + body.size(), 0);
  p[0] = 0x45;
  putU16BE(p.data() + 2, uint16_t(p.size()));
  putU16BE(p.data() + 4, ipId);
  p[8] = 64;
  p[9] = IPPROTO_TSMP;
  const uint8_t src[4] = {100, 64, 0, 1}, dst[4] = {100, 64, 0, 2};
  std::copy(src, src + 4, p.begin() + 12);
  std::copy(dst, dst + 4, p.begin() + 16);
  std::copy(body.begin(), body.end(), p.begin() + 20);
  return p;
}

TEST(Tsmp, PingIsAnsweredWithGosPongV4) {
  const Bytes ping = *hexDecode("700102030405060708");
  Bytes req = tsmpV4(ping);
  auto ip = parseIp(req);
  ASSERT_TRUE(ip);
  auto msg = parseTsmp(*ip);
  ASSERT_TRUE(msg);
  auto* p = std::get_if<TsmpPing>(&*msg);
  ASSERT_TRUE(p);
  Bytes pong = buildTsmpPong(*ip, *p);
  // 20-byte header (id ^0x1234 = 0xedcb, TTL 64, proto 99, swapped addresses) + 'o' data port 0.
  EXPECT_EQ(pong.size(), 31u);
  EXPECT_EQ(pong[0], 0x45);
  EXPECT_EQ(getU16BE(pong.data() + 2), 31);
  EXPECT_EQ(getU16BE(pong.data() + 4), 0xedcb);
  EXPECT_EQ(pong[8], 64);
  EXPECT_EQ(pong[9], 99);
  EXPECT_EQ(hexEncode(ByteSpan(pong).subspan(12, 8)), "6440000264400001");
  EXPECT_EQ(hexEncode(ByteSpan(pong).subspan(20)),
            "6f010203040506070800"
            "00");
  // The checksum verifies: the sum over the header including it is 0xffff.
  EXPECT_EQ(ipv4HeaderChecksum(ByteSpan(pong).first(20)), 0);
}

TEST(Tsmp, PingIsAnsweredWithGosPongV6) {
  Bytes req(40 + 9, 0);
  req[0] = 0x60;
  req[1] = 0x0a;  // flow label 0xabcde
  req[2] = 0xbc;
  req[3] = 0xde;
  putU16BE(req.data() + 4, 9);
  req[6] = IPPROTO_TSMP;
  req[7] = 64;
  for (int i = 0; i < 16; ++i) {
    req[8 + i] = uint8_t(0x10 + i);
    req[24 + i] = uint8_t(0x30 + i);
  }
  req[40] = 'p';
  for (int i = 0; i < 8; ++i) req[41 + i] = uint8_t(0xa0 + i);
  auto ip = parseIp(req);
  ASSERT_TRUE(ip);
  EXPECT_EQ(ip->ipId, 0xabcdeu);
  auto msg = parseTsmp(*ip);
  ASSERT_TRUE(msg && std::holds_alternative<TsmpPing>(*msg));
  Bytes pong = buildTsmpPong(*ip, std::get<TsmpPing>(*msg), 0x1f90);
  ASSERT_EQ(pong.size(), 51u);
  EXPECT_EQ(getU32BE(pong.data()), 0x60000000u | (~0xabcdeu & 0xfffffu));
  EXPECT_EQ(getU16BE(pong.data() + 4), 11);
  EXPECT_EQ(pong[6], 99);
  EXPECT_EQ(pong[7], 64);
  EXPECT_EQ(pong[8], 0x30);   // source = the request's destination
  EXPECT_EQ(pong[24], 0x10);  // destination = the request's source
  EXPECT_EQ(hexEncode(ByteSpan(pong).subspan(40)), "6fa0a1a2a3a4a5a6a71f90");
}

TEST(Tsmp, DiscoAdvertAndOtherKinds) {
  Bytes advert(33, 0x42);
  advert[0] = 'a';
  auto req = tsmpV4(advert);
  auto ip = parseIp(req);
  auto msg = parseTsmp(*ip);
  ASSERT_TRUE(msg);
  auto* a = std::get_if<TsmpDiscoAdvert>(&*msg);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->discoPublic[0], 0x42);
  EXPECT_EQ(a->discoPublic[31], 0x42);
  // Truncated advert, short ping, a pong and a reject are not handled here.
  for (const char* body : {"61"
                           "4242",
                           "7001020304", "6f01020304050607080000", "2106410001000200"}) {
    auto r = tsmpV4(*hexDecode(body));
    auto v = parseIp(r);
    ASSERT_TRUE(v);
    EXPECT_FALSE(parseTsmp(*v)) << body;
  }
  // Not TSMP at all.
  auto r = tsmpV4(*hexDecode("700102030405060708"));
  r[9] = 1;
  EXPECT_FALSE(parseTsmp(*parseIp(r)));
}

TEST(Tsmp, MalformedIpNeverParses) {
  EXPECT_FALSE(parseIp(Bytes{}));
  EXPECT_FALSE(parseIp(Bytes(19, 0x45)));
  auto r = tsmpV4(*hexDecode("700102030405060708"));
  r[3] = 200;  // total length past the end
  EXPECT_FALSE(parseIp(r));
  r = tsmpV4(*hexDecode("700102030405060708"));
  r[0] = 0x44;  // IHL 16 bytes
  EXPECT_FALSE(parseIp(r));
  r = tsmpV4(*hexDecode("700102030405060708"));
  r[6] = 0x20;  // more fragments
  EXPECT_FALSE(parseIp(r));
  Bytes v6(40, 0);
  v6[0] = 0x60;
  v6[5] = 1;  // payload length 1, nothing there
  EXPECT_FALSE(parseIp(v6));
  // Every truncation of a valid ping is handled without reading past the end.
  auto good = tsmpV4(*hexDecode("700102030405060708"));
  for (size_t n = 0; n < good.size(); ++n) {
    auto v = parseIp(ByteSpan(good).first(n));
    if (v) parseTsmp(*v);
  }
}

}  // namespace
}  // namespace tnet::wg
