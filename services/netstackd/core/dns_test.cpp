#include "services/netstackd/core/dns.h"

#include <gtest/gtest.h>

#include "libs/base/bytes.h"

namespace tnet::netstack::dns {
namespace {

std::vector<uint8_t> query(std::string_view name, uint16_t type, uint16_t id = 0x1234) {
  std::vector<uint8_t> q{uint8_t(id >> 8), uint8_t(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  size_t start = 0;
  while (start <= name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    if (dot > start) {
      q.push_back(uint8_t(dot - start));
      q.insert(q.end(), name.begin() + long(start), name.begin() + long(dot));
    }
    start = dot + 1;
  }
  q.push_back(0);
  q.insert(q.end(), {uint8_t(type >> 8), uint8_t(type), 0, 1});
  return q;
}

NameTable table() {
  NameTable t;
  Addr v6;
  v6.v6 = true;
  v6.bytes = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  t.add("peer.tail.ts.net.", {Addr::v4(100, 64, 0, 2), Addr::v4(100, 64, 0, 3), v6}, "tail.ts.net");
  t.add("v4only.tail.ts.net.", {Addr::v4(100, 64, 0, 4)}, "tail.ts.net");
  return t;
}

uint8_t rcode(const std::vector<uint8_t>& r) {
  return r[3] & 0x0f;
}
uint16_t ancount(const std::vector<uint8_t>& r) {
  return getU16BE(&r[6]);
}

TEST(Dns, AnswersFqdnAndShortNameOneAddressPerFamily) {
  auto t = table();
  for (auto name : {"peer.tail.ts.net", "PEER.Tail.ts.net", "peer"}) {
    auto r = answer(query(name, TYPE_A), t);
    ASSERT_GE(r.size(), 12u);
    EXPECT_EQ(getU16BE(&r[0]), 0x1234);
    EXPECT_EQ(r[2] & 0x80, 0x80);  // QR
    EXPECT_EQ(rcode(r), RCODE_NOERROR) << name;
    ASSERT_EQ(ancount(r), 1) << name;
    std::vector<uint8_t> tail(r.end() - 14, r.end());
    EXPECT_EQ(tail, (std::vector<uint8_t>{0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 100, 64, 0, 2}));
  }
  auto aaaa = answer(query("peer", TYPE_AAAA), t);
  ASSERT_EQ(ancount(aaaa), 1);
  EXPECT_EQ(aaaa.back(), 2);
  EXPECT_EQ(aaaa[aaaa.size() - 17], 16);  // RDLENGTH low byte
}

TEST(Dns, NoDataNxdomainNotimp) {
  auto t = table();
  auto nodata = answer(query("v4only", TYPE_AAAA), t);
  EXPECT_EQ(rcode(nodata), RCODE_NOERROR);
  EXPECT_EQ(ancount(nodata), 0);
  EXPECT_EQ(rcode(answer(query("nobody.tail.ts.net", TYPE_A), t)), RCODE_NXDOMAIN);
  EXPECT_EQ(rcode(answer(query("example.com", TYPE_A), t)), RCODE_NXDOMAIN);
  EXPECT_EQ(rcode(answer(query("peer", TYPE_SOA), t)), RCODE_NOTIMP);
  auto quad = answer(query("magicdns.localhost-tailscale-daemon", TYPE_A), t);
  ASSERT_EQ(ancount(quad), 1);
  EXPECT_EQ(quad.back(), 100);
}

TEST(Dns, MalformedQueries) {
  auto t = table();
  EXPECT_TRUE(answer(std::vector<uint8_t>(5, 0), t).empty());
  auto q = query("peer", TYPE_A);
  q[2] |= 0x80;  // a response is never answered
  EXPECT_TRUE(answer(q, t).empty());
  q = query("peer", TYPE_A);
  q.resize(q.size() - 2);
  EXPECT_EQ(rcode(answer(q, t)), RCODE_FORMERR);
  q = query("peer", TYPE_A);
  q[12] = 0xc0;  // compression pointer in the question
  EXPECT_EQ(rcode(answer(q, t)), RCODE_FORMERR);
  q = query("peer", TYPE_A);
  q[5] = 2;  // two questions
  EXPECT_EQ(rcode(answer(q, t)), RCODE_FORMERR);
  q = query("peer", TYPE_A);
  q[2] = 0x28;  // opcode 5 (UPDATE)
  EXPECT_EQ(rcode(answer(q, t)), RCODE_NOTIMP);
}

TEST(Dns, ResolveForProxies) {
  auto t = table();
  EXPECT_EQ(resolve(t, "peer.tail.ts.net.").size(), 3u);
  EXPECT_TRUE(resolve(t, "unknown").empty());
}

}  // namespace
}  // namespace tnet::netstack::dns
