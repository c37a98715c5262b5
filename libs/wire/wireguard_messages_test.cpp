#include "libs/wire/wireguard_messages.h"

#include <gtest/gtest.h>

namespace tnet::wire {
namespace {

// The initiation and response of tailscale-dataplane-kat.json (real wireguard-go accepted them).
const char* INITIATION_HEX =
    "0100000004030201358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd1662544df99f4e2d9c658302e247ec"
    "71c2"
    "06e70c31df074049bd3d8ab636b27d8a20c5795093f125290044fcfd29465fbd1379f5c9ea438513c07d081e117265b1a7db7959"
    "1034"
    "2f66a817ffa1298accf3a6d0020c4ceb0e825844e72f075600000000000000000000000000000000";
const char* RESPONSE_HEX =
    "020000000807060504030201675dd574ed7789310b3d2e7681f3790b466c773b1521fecf36577958371ea52f211abb127d7e7b99"
    "294285"
    "35ad666021324160e75d8f161e9dee7fca4566ec7000000000000000000000000000000000";

TEST(WireguardMessages, InitiationRoundTrip) {
  Bytes b = *hexDecode(INITIATION_HEX);
  ASSERT_EQ(b.size(), WG_INITIATION_SIZE);
  EXPECT_EQ(*classifyWgDatagram(b), WgMessageType::INITIATION);
  auto m = parseWgInitiation(b);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->sender, 0x01020304u);
  EXPECT_EQ(hexEncode(m->ephemeral), "358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254");
  EXPECT_EQ(hexEncode(m->mac1), hexEncode(ByteSpan(b.data() + 116, 16)));
  EXPECT_EQ(hexEncode(m->mac2), "00000000000000000000000000000000");
  EXPECT_EQ(serializeWgInitiation(*m), b);
}

TEST(WireguardMessages, ResponseRoundTrip) {
  Bytes b = *hexDecode(RESPONSE_HEX);
  auto m = parseWgResponse(b);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->sender, 0x05060708u);
  EXPECT_EQ(m->receiver, 0x01020304u);
  EXPECT_EQ(serializeWgResponse(*m), b);
  EXPECT_EQ(*classifyWgDatagram(b), WgMessageType::RESPONSE);
}

TEST(WireguardMessages, CookieReplyAndTransportHeader) {
  WgCookieReply c;
  c.receiver = 1377;
  for (size_t i = 0; i < c.nonce.size(); ++i) c.nonce[i] = uint8_t(i);
  Bytes b = serializeWgCookieReply(c);
  ASSERT_EQ(b.size(), WG_COOKIE_REPLY_SIZE);
  auto back = parseWgCookieReply(b);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->receiver, 1377u);
  EXPECT_EQ(back->nonce, c.nonce);

  Bytes t(WG_KEEPALIVE_SIZE);
  writeWgTransportHeader(t.data(), 0x05060708, 0x0102030405060708ULL);
  EXPECT_EQ(hexEncode(ByteSpan(t.data(), 16)), "04000000080706050807060504030201");
  auto h = parseWgTransportHeader(t);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->receiver, 0x05060708u);
  EXPECT_EQ(h->counter, 0x0102030405060708ULL);
}

TEST(WireguardMessages, RejectsWrongSizesAndTypes) {
  EXPECT_FALSE(classifyWgDatagram(Bytes{}));
  EXPECT_FALSE(classifyWgDatagram(Bytes{1, 0, 0}));
  Bytes init = *hexDecode(INITIATION_HEX);
  Bytes shortInit(init.begin(), init.end() - 1);
  EXPECT_FALSE(classifyWgDatagram(shortInit));
  EXPECT_FALSE(parseWgInitiation(shortInit));
  Bytes typeNoise = init;
  typeNoise[2] = 1;  // the three bytes after the type must be zero
  EXPECT_FALSE(classifyWgDatagram(typeNoise));
  EXPECT_FALSE(parseWgInitiation(typeNoise));
  EXPECT_FALSE(parseWgResponse(init));  // right size for neither
  EXPECT_FALSE(classifyWgDatagram(Bytes(31, 0)));
  Bytes transport(31, 0);
  transport[0] = 4;
  EXPECT_FALSE(classifyWgDatagram(transport));
  EXPECT_FALSE(parseWgTransportHeader(transport));
  transport.push_back(0);
  EXPECT_TRUE(classifyWgDatagram(transport));
  Bytes huge(65536, 0);
  huge[0] = 4;
  EXPECT_FALSE(classifyWgDatagram(huge));
  Bytes unknown(148, 0);
  unknown[0] = 5;
  EXPECT_FALSE(classifyWgDatagram(unknown));
}

}  // namespace
}  // namespace tnet::wire
