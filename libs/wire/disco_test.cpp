#include "libs/wire/disco.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "libs/wire/derp_vectors_test.h"

namespace tnet::disco {
namespace {

// Go's hex goldens print "01 00 0a"; accept that spacing.
Bytes spacedHex(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), ' '), s.end());
  return hexDecode(s).value();
}

DiscoPrivate keyFill(uint8_t b) {
  crypto::Key32 k;
  k.fill(b);
  return DiscoPrivate::fromSpan(k);
}

DiscoPublic pubOf(const DiscoPrivate& priv) {
  return priv.publicKey();
}

// Go's test keys: raw bytes with the listed indexes set to their own index.
crypto::Key32 sparseRaw(std::initializer_list<int> idx) {
  crypto::Key32 k{};
  for (int i : idx) k[size_t(i)] = uint8_t(i);
  return k;
}
DiscoPublic sparseKey(std::initializer_list<int> idx) {
  return DiscoPublic(sparseRaw(idx));
}
NodePublic sparseNodeKey(std::initializer_list<int> idx) {
  return NodePublic(sparseRaw(idx));
}

TxId tx1to12() {
  TxId t;
  for (size_t i = 0; i < t.size(); ++i) t[i] = uint8_t(i + 1);
  return t;
}

UdpRelayEndpoint goRelayEndpoint() {
  UdpRelayEndpoint e;
  e.serverDisco = sparseKey({1, 2, 30, 31});
  e.clientDisco = {sparseKey({1, 2, 3, 30, 31}), sparseKey({1, 2, 4, 30, 31})};
  e.lamportId = 123;
  e.vni = 456;
  e.bindLifetimeNs = 1'000'000'000;
  e.steadyStateLifetimeNs = 60'000'000'000;
  e.addrPorts = {wire::IpPort::parse("1.2.3.4:567").value(), wire::IpPort::parse("[2001::3456]:789").value()};
  return e;
}

BindUdpRelayEndpoint goBind(MessageType t) {
  BindUdpRelayEndpoint m;
  m.type = t;
  m.vni = 1;
  m.generation = 2;
  m.remoteKey = sparseKey({1, 2, 30, 31});
  for (size_t i = 0; i < 32; ++i) m.challenge[i] = uint8_t(i);
  return m;
}

// Every golden of Go's disco_test.go TestMarshalAndParse: marshal byte for byte, parse back equal.
TEST(DiscoMessages, MarshalAndParseMatchGoGoldens) {
  const std::string bindBody =
      "00 00 00 00 01 00 00 00 02 00 01 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
      "00 "
      "00 00 00 00 1e 1f 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13 14 15 16 17 18 19 1a 1b "
      "1c "
      "1d 1e 1f";
  const std::string relayBody =
      "00 01 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 1e 1f 00 01 "
      "02 "
      "03 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 1e 1f 00 01 02 00 04 "
      "00 "
      "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 1e 1f 00 00 00 00 00 00 00 7b "
      "00 "
      "00 01 c8 00 00 00 00 3b 9a ca 00 00 00 00 0d f8 47 58 00 00 00 00 00 00 00 00 00 00 00 ff ff 01 02 03 "
      "04 "
      "02 37 20 01 00 00 00 00 00 00 00 00 00 00 00 00 34 56 03 15";
  Ping pingKey{tx1to12(), sparseNodeKey({1, 2, 30, 31}), 0};
  Ping pingPadKey = pingKey;
  pingPadKey.padding = 3;
  CallMeMaybeVia via{goRelayEndpoint()};
  AllocateUdpRelayEndpointRequest allocReq{{sparseKey({1, 2, 3, 30, 31}), sparseKey({1, 2, 4, 30, 31})}, 1};
  AllocateUdpRelayEndpointResponse allocResp{1, goRelayEndpoint()};
  const std::string keyHex =
      "00 01 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 1e 1f";
  struct Case {
    const char* name;
    Message msg;
    std::string want;
  } cases[] = {
      {"ping", Ping{tx1to12(), {}, 0}, "01 00 01 02 03 04 05 06 07 08 09 0a 0b 0c"},
      {"ping_with_nodekey_src", pingKey, "01 00 01 02 03 04 05 06 07 08 09 0a 0b 0c " + keyHex},
      {"ping_with_padding", Ping{tx1to12(), {}, 3}, "01 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 00 00 00"},
      {"ping_with_padding_and_nodekey_src", pingPadKey,
       "01 00 01 02 03 04 05 06 07 08 09 0a 0b 0c " + keyHex + " 00 00 00"},
      {"pong", Pong{tx1to12(), wire::IpPort::parse("2.3.4.5:1234").value()},
       "02 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 00 00 00 00 00 00 00 00 00 00 ff ff 02 03 04 05 04 d2"},
      {"pongv6", Pong{tx1to12(), wire::IpPort::parse("[fed0::12]:6666").value()},
       "02 00 01 02 03 04 05 06 07 08 09 0a 0b 0c fe d0 00 00 00 00 00 00 00 00 00 00 00 00 00 12 1a 0a"},
      {"call_me_maybe", CallMeMaybe{}, "03 00"},
      {"call_me_maybe_endpoints",
       CallMeMaybe{
           {wire::IpPort::parse("1.2.3.4:567").value(), wire::IpPort::parse("[2001::3456]:789").value()}},
       "03 00 00 00 00 00 00 00 00 00 00 00 ff ff 01 02 03 04 02 37 20 01 00 00 00 00 00 00 00 00 00 00 00 "
       "00 34 56 03 "
       "15"},
      {"bind_udp_relay_endpoint", goBind(MessageType::BIND_UDP_RELAY_ENDPOINT), "04 " + bindBody},
      {"bind_udp_relay_endpoint_challenge", goBind(MessageType::BIND_UDP_RELAY_ENDPOINT_CHALLENGE),
       "05 " + bindBody},
      {"bind_udp_relay_endpoint_answer", goBind(MessageType::BIND_UDP_RELAY_ENDPOINT_ANSWER),
       "06 " + bindBody},
      {"call_me_maybe_via", via, "07 00 " + relayBody},
      {"allocate_udp_relay_endpoint_request", allocReq,
       "08 00 00 01 02 03 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 1e "
       "1f 00 01 02 "
       "00 04 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 1e 1f 00 00 00 01"},
      {"allocate_udp_relay_endpoint_response", allocResp, "09 00 00 00 00 01 " + relayBody},
  };
  for (const auto& c : cases) {
    Bytes out = {'f', 'o', 'o'};  // appends after existing bytes, as Go's AppendMarshal
    appendMessage(out, c.msg);
    ASSERT_EQ(std::string(out.begin(), out.begin() + 3), "foo") << c.name;
    Bytes got(out.begin() + 3, out.end());
    EXPECT_EQ(hexEncode(got), hexEncode(spacedHex(c.want))) << c.name;
    auto back = parseMessage(got);
    ASSERT_TRUE(back) << c.name << ": " << back.error().message;
    EXPECT_TRUE(*back == c.msg) << c.name << " does not parse back equal";
  }
}

TEST(DiscoKat, PingAndPongPacketsMatchVectors) {
  TNET_LOAD_KAT_OR_SKIP(kat);
  crypto::init();
  const DiscoPrivate aPriv = keyFill(0x03), bPriv = keyFill(0x04);
  const DiscoPublic aPub = pubOf(aPriv), bPub = pubOf(bPriv);
  EXPECT_EQ(aPub.untypedHex(), hexEncode(testvec::hexAfter(kat, "disco_raw", "A pub")));
  EXPECT_EQ(bPub.untypedHex(), hexEncode(testvec::hexAfter(kat, "disco_raw", "B pub")));
  crypto::Key32 two;
  two.fill(0x02);
  const NodePublic nodeKey =
      key::NodePrivate::fromSpan(two).publicKey();  // the DERP vectors' client node key

  Message ping = Ping{tx1to12(), nodeKey, 0};
  Bytes pingPlain = marshalMessage(ping);
  EXPECT_EQ(hexEncode(pingPlain), hexEncode(testvec::hexAfter(kat, "disco_raw", "Ping plaintext")));
  std::array<uint8_t, NONCE_LEN> nonce;
  for (size_t i = 0; i < nonce.size(); ++i) nonce[i] = uint8_t(0x40 + i);
  auto pingPkt = sealPacket(pingPlain, aPriv, bPub, nonce);
  ASSERT_TRUE(pingPkt);
  Bytes wantPing = testvec::hexAfter(kat, "disco_raw", "Ping packet A->B");
  EXPECT_EQ(hexEncode(*pingPkt), hexEncode(wantPing));
  EXPECT_EQ(pingPkt->size(), 124u);

  auto opened = openMessage(wantPing, bPriv);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->sender, aPub);
  EXPECT_TRUE(opened->message == ping);

  Message pong = Pong{tx1to12(), wire::IpPort::parse("2.3.4.5:1234").value()};
  Bytes pongPlain = marshalMessage(pong);
  EXPECT_EQ(hexEncode(pongPlain), hexEncode(testvec::hexAfter(kat, "disco_raw", "Pong plaintext")));
  for (size_t i = 0; i < nonce.size(); ++i) nonce[i] = uint8_t(0x60 + i);
  auto pongPkt = sealPacket(pongPlain, bPriv, aPub, nonce);
  ASSERT_TRUE(pongPkt);
  Bytes wantPong = testvec::hexAfter(kat, "disco_raw", "Pong packet B->A");
  EXPECT_EQ(hexEncode(*pongPkt), hexEncode(wantPong));
  EXPECT_EQ(pongPkt->size(), 110u);
  auto openedPong = openMessage(wantPong, aPriv);
  ASSERT_TRUE(openedPong) << openedPong.error().message;
  EXPECT_EQ(openedPong->sender, bPub);
  EXPECT_TRUE(openedPong->message == pong);
  EXPECT_STREQ(messageName(openedPong->message), "pong");
}

TEST(DiscoPacket, OpenRejectsWrongKeyTamperingAndTruncation) {
  crypto::init();
  const DiscoPrivate aPriv = keyFill(0x03), bPriv = keyFill(0x04), cPriv = keyFill(0x05);
  const DiscoPublic bPub = pubOf(bPriv);
  auto pkt = sealMessage(Ping{tx1to12(), {}, 0}, aPriv, bPub);
  ASSERT_TRUE(pkt);
  ASSERT_TRUE(openMessage(*pkt, bPriv));

  auto wrong = openMessage(*pkt, cPriv);  // e.g. our previous disco key
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().kind, ErrorKind::DENIED);

  for (size_t i : {size_t(6), size_t(40), pkt->size() - 1}) {  // sender key, nonce, ciphertext
    Bytes bad = *pkt;
    bad[i] ^= 0x01;
    auto r = openMessage(bad, bPriv);
    ASSERT_FALSE(r) << "flipped byte " << i;
    EXPECT_EQ(r.error().kind, ErrorKind::DENIED);
  }
  for (size_t n : {size_t(0), size_t(5), size_t(37), size_t(61), size_t(77)}) {
    auto r = openMessage(ByteSpan(pkt->data(), n), bPriv);
    ASSERT_FALSE(r) << n;
    EXPECT_EQ(r.error().kind, ErrorKind::INVALID) << n;
  }
  Bytes noMagic = *pkt;
  noMagic[0] = 'X';
  EXPECT_FALSE(openMessage(noMagic, bPriv));

  // A box holding no message at all (78 bytes) opens but does not parse.
  auto empty = sealPacket(ByteSpan(), aPriv, bPub);
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->size(), PACKET_OVERHEAD);
  auto r = openMessage(*empty, bPriv);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("short"), std::string::npos);

  // openPacket with a scratch buffer that is too small refuses rather than overflowing.
  Bytes small(3);
  auto p = openPacket(*pkt, bPriv, small);
  ASSERT_FALSE(p);
}

TEST(DiscoPacket, UnknownMessageTypesOpenAndReportUnknown) {
  crypto::init();
  const DiscoPrivate aPriv = keyFill(0x03), bPriv = keyFill(0x04);
  const DiscoPublic bPub = pubOf(bPriv);
  Bytes plain = {0x7f, 0x03, 1, 2, 3, 4};
  auto pkt = sealPacket(plain, aPriv, bPub);
  ASSERT_TRUE(pkt);
  auto r = openMessage(*pkt, bPriv);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(std::holds_alternative<UnknownMessage>(r->message));
  EXPECT_EQ(std::get<UnknownMessage>(r->message).type, 0x7f);
  EXPECT_EQ(std::get<UnknownMessage>(r->message).version, 0x03);
  EXPECT_STREQ(messageName(r->message), "unknown");
}

TEST(DiscoPacket, HeaderChecksUseGoThresholds) {
  Bytes p(MAGIC, MAGIC + MAGIC_LEN);
  p.resize(37);
  EXPECT_FALSE(hasDiscoHeader(p));
  EXPECT_FALSE(senderKey(p));
  p.resize(38);
  p[37] = 0xaa;
  EXPECT_TRUE(hasDiscoHeader(p));
  ASSERT_TRUE(senderKey(p));
  EXPECT_EQ(senderKey(p)->raw()[31], 0xaa);
  EXPECT_FALSE(looksLikeDiscoWrapper(p));
  p.resize(61);
  EXPECT_FALSE(looksLikeDiscoWrapper(p));
  p.resize(62);
  EXPECT_TRUE(looksLikeDiscoWrapper(p));
  p[5] = 0;
  EXPECT_FALSE(looksLikeDiscoWrapper(p));
  EXPECT_FALSE(hasDiscoHeader(p));
}

TEST(DiscoMessages, ParseLeniencyAndErrorsAsGo) {
  auto parse = [](const char* h) { return parseMessage(spacedHex(h)); };
  // Too short to have a header / a body.
  EXPECT_FALSE(parseMessage(Bytes{}));
  EXPECT_FALSE(parseMessage(Bytes{0x01}));
  EXPECT_FALSE(parse("01 00 01 02 03 04 05 06 07 08 09 0a 0b"));  // 11-byte ping
  EXPECT_FALSE(
      parse("02 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 00 00 00 00 00 00 00 00 00 00 ff ff 02 03 04 05 04"));
  EXPECT_FALSE(parseMessage(Bytes(2 + 71, 0x04)));  // bind body 71 bytes

  // Ping: 12..43 body bytes have no key (all padding); a key once 32 bytes follow the txid.
  {
    Bytes b = {0x01, 0x05};
    b.resize(2 + 12 + 31, 0);
    auto m = parseMessage(b);
    ASSERT_TRUE(m);
    EXPECT_EQ(std::get<Ping>(*m).padding, 31u);
    EXPECT_TRUE(std::get<Ping>(*m).nodeKey.isZero());
    b.resize(2 + 12 + 32 + 1200, 0);
    b[2 + 12] = 0x99;
    m = parseMessage(b);
    ASSERT_TRUE(m);
    EXPECT_EQ(std::get<Ping>(*m).padding, 1200u);
    EXPECT_EQ(std::get<Ping>(*m).nodeKey.raw()[0], 0x99);
  }
  // Pong ignores trailing bytes and unmaps IPv4.
  {
    auto m = parse(
        "02 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 00 00 00 00 00 00 00 00 00 00 ff ff 02 03 04 05 04 d2 ee");
    ASSERT_TRUE(m);
    EXPECT_EQ(std::get<Pong>(*m).src.toString(), "2.3.4.5:1234");
  }
  // CallMeMaybe: a partial endpoint or version ≠ 0 means "no endpoints", not an error.
  {
    auto m = parse("03 00 00 00 00 00 00 00 00 00 00 00 ff ff 01 02 03 04 02");
    ASSERT_TRUE(m);
    EXPECT_TRUE(std::get<CallMeMaybe>(*m).myNumber.empty());
    m = parse("03 01 00 00 00 00 00 00 00 00 00 00 ff ff 01 02 03 04 02 37");
    ASSERT_TRUE(m);
    EXPECT_TRUE(std::get<CallMeMaybe>(*m).myNumber.empty());
    m = parse("03 00 00 00 00 00 00 00 00 00 00 00 ff ff 01 02 03 04 02 37");
    ASSERT_TRUE(m);
    ASSERT_EQ(std::get<CallMeMaybe>(*m).myNumber.size(), 1u);
    EXPECT_EQ(std::get<CallMeMaybe>(*m).myNumber[0].toString(), "1.2.3.4:567");
  }
  // CallMeMaybeVia / Allocate*: version ≠ 0 gives an empty message; v0 needs whole endpoints (≥ 1).
  {
    Bytes via = marshalMessage(CallMeMaybeVia{goRelayEndpoint()});
    via[1] = 1;
    auto m = parseMessage(via);
    ASSERT_TRUE(m);
    EXPECT_TRUE(std::get<CallMeMaybeVia>(*m) == CallMeMaybeVia{});
    via[1] = 0;
    via.pop_back();
    EXPECT_FALSE(parseMessage(via));
    UdpRelayEndpoint none = goRelayEndpoint();
    none.addrPorts.clear();
    EXPECT_FALSE(parseMessage(marshalMessage(CallMeMaybeVia{none})));  // N ≥ 1
    Bytes req = marshalMessage(AllocateUdpRelayEndpointRequest{});
    req.pop_back();
    EXPECT_FALSE(parseMessage(req));
    req[1] = 1;
    EXPECT_TRUE(parseMessage(req));
    Bytes resp = {0x09, 0x00, 0, 0, 0};
    EXPECT_FALSE(parseMessage(resp));
    resp[1] = 2;
    EXPECT_TRUE(parseMessage(resp));
  }
}

TEST(DiscoEndpoint, IpPortTextAndWireForms) {
  auto v4 = wire::IpPort::parse("1.2.3.4:567");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->is4());
  EXPECT_EQ(v4->toString(), "1.2.3.4:567");
  uint8_t w[wire::IP_PORT_WIRE_LEN];
  wire::putIpPort(w, *v4);
  EXPECT_EQ(hexEncode(w), "00000000000000000000ffff010203040237");
  EXPECT_EQ(wire::getIpPort(w), *v4);
  auto v6 = wire::IpPort::parse("[2001::3456]:789");
  ASSERT_TRUE(v6);
  EXPECT_FALSE(v6->is4());
  EXPECT_EQ(v6->toString(), "[2001::3456]:789");
  for (const char* bad : {"", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3:4", "[::1]", "::1:80", "[::1]:x",
                          "host:80", "1.2.3.4:-1"}) {
    EXPECT_FALSE(wire::IpPort::parse(bad)) << bad;
  }
}

TEST(DiscoMessages, PingWithoutKeyOmitsIt) {
  Bytes b = marshalMessage(Ping{tx1to12(), {}, 0});
  EXPECT_EQ(b.size(), 14u);
  b = marshalMessage(Ping{tx1to12(), sparseNodeKey({1}), 1000});
  EXPECT_EQ(b.size(), 2 + PING_LEN + 1000);
}

}  // namespace
}  // namespace tnet::disco
