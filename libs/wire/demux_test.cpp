#include "libs/wire/demux.h"

#include <gtest/gtest.h>

#include <cstring>

#include "libs/wire/derp_vectors_test.h"
#include "libs/wire/disco.h"
#include "libs/wire/stun.h"

namespace tnet::demux {
namespace {

// Go's Test_packetLooksLike fixtures.
Bytes nakedDisco() {
  Bytes b(disco::HEADER_LEN, 0);  // 38 bytes: header only
  std::memcpy(b.data(), disco::MAGIC, disco::MAGIC_LEN);
  b[disco::MAGIC_LEN + 1] = 1;
  b[disco::MAGIC_LEN + 30] = 30;
  b[disco::MAGIC_LEN + 31] = 31;
  return b;
}

Bytes geneve(uint16_t protocol, bool control, uint32_t vni, uint8_t version, ByteSpan inner) {
  Bytes b(GENEVE_HEADER_LEN + inner.size(), 0);
  b[0] = uint8_t(version << 6);
  if (control) b[1] |= 0x80;
  putU16BE(&b[2], protocol);
  putU32BE(&b[4], vni << 8);
  if (!inner.empty()) std::memcpy(b.data() + GENEVE_HEADER_LEN, inner.data(), inner.size());
  return b;
}

Bytes wgTyped(uint32_t type, size_t len) {
  Bytes b(len, 0);
  putU32LE(b.data(), type);
  return b;
}

TEST(DemuxGo, PacketLooksLikeMatchesGoTable) {
  crypto::init();
  const Bytes disco = nakedDisco();
  const Bytes genDisco = geneve(GENEVE_PROTOCOL_DISCO, true, 1, 0, disco);
  const size_t len = genDisco.size();  // Go sizes its naked WireGuard samples like this (46)
  const Bytes genWg = geneve(GENEVE_PROTOCOL_WIREGUARD, true, 1, 0, wgTyped(1, len));
  Bytes reserved = genDisco;
  reserved[1] |= 0x3F;
  Bytes vniLsb = genDisco;
  vniLsb[7] |= 0xFF;
  struct Case {
    const char* name;
    Bytes msg;
    LooksLike kind;
    bool geneve;
  } cases[] = {
      {"STUN-binding-success-response",
       stun::bindingResponse(stun::newTxId(), wire::IpPort::parse("127.0.0.1:1").value()),
       LooksLike::STUN_BINDING, false},
      {"naked-disco", disco, LooksLike::DISCO, false},
      {"geneve-encap-disco", genDisco, LooksLike::DISCO, true},
      {"geneve-encap-too-short-disco", Bytes(genDisco.begin(), genDisco.end() - 32), LooksLike::WIREGUARD,
       false},
      {"geneve-encap-disco-nonzero-geneve-version", geneve(GENEVE_PROTOCOL_DISCO, true, 1, 1, disco),
       LooksLike::WIREGUARD, false},
      {"geneve-encap-disco-nonzero-geneve-reserved-bits", reserved, LooksLike::WIREGUARD, false},
      {"geneve-encap-disco-nonzero-geneve-vni-lsb", vniLsb, LooksLike::WIREGUARD, false},
      {"geneve-encap-wireguard", genWg, LooksLike::WIREGUARD, true},
      {"naked-WireGuard-Initiation-type", wgTyped(1, len), LooksLike::WIREGUARD, false},
      {"naked-WireGuard-Response-type", wgTyped(2, len), LooksLike::WIREGUARD, false},
      {"naked-WireGuard-Cookie-Reply-type", wgTyped(3, len), LooksLike::WIREGUARD, false},
      {"naked-WireGuard-Transport-type", wgTyped(4, len), LooksLike::WIREGUARD, false},
  };
  for (const auto& c : cases) {
    auto got = packetLooksLike(c.msg);
    EXPECT_EQ(got.kind, c.kind) << c.name;
    EXPECT_EQ(got.geneve, c.geneve) << c.name;
  }
}

TEST(DemuxGo, LooksLikeInitiation) {
  // Go's Test_looksLikeInitiationMsg capture.
  Bytes init = hexDecode(
                   "01000000d9205f67915a500e377b409e0c3d97ca91e68654b95952de965e75df491000cce00632678cd9e8c85"
                   "25556aa8da"
                   "f24e6cfc44c48812bb560ff3c1c5dee061b3f833dfaa48acf13b64bd1e0027aa4d977a3721b82fd6072338702"
                   "fc31936514"
                   "04980ad46dae2869ba6416cc0eb38621a4140b5b918eb6402b697202adb3002a6d00000000000000000000000"
                   "000000000")
                   .value();
  ASSERT_EQ(init.size(), WG_INITIATION_LEN);
  EXPECT_TRUE(looksLikeInitiation(init));
  Bytes transport = init;
  putU32LE(transport.data(), 4);
  EXPECT_FALSE(looksLikeInitiation(transport));
  EXPECT_FALSE(looksLikeInitiation(ByteSpan(init).first(147)));
}

TEST(DemuxKat, VectorDatagramsClassify) {
  TNET_LOAD_KAT_OR_SKIP(kat);
  auto wg = [&](const char* key) {
    return hexDecode(kat.at("wireguard").at(key).get<std::string>()).value();
  };
  Bytes init = wg("initiation (148)");
  Bytes resp = wg("response (92)");
  auto firstHex = [](const std::string& s) { return hexDecode(s.substr(0, s.find(' '))).value(); };
  Bytes keepalive, data;
  for (auto& [k, v] : kat.at("wireguard").items()) {
    if (k.rfind("keepalive", 0) == 0) keepalive = firstHex(v.get<std::string>());
    if (k.rfind("data i->r", 0) == 0) data = firstHex(v.get<std::string>());
  }
  ASSERT_EQ(keepalive.size(), 32u);
  ASSERT_EQ(data.size(), 64u);
  struct Case {
    Bytes msg;
    Kind kind;
    WgType wg;
  } cases[] = {
      {init, Kind::WIREGUARD, WgType::INITIATION},
      {resp, Kind::WIREGUARD, WgType::RESPONSE},
      {keepalive, Kind::WIREGUARD, WgType::TRANSPORT},
      {data, Kind::WIREGUARD, WgType::TRANSPORT},
      {testvec::hexAfter(kat, "disco_raw", "Ping packet A->B"), Kind::DISCO, WgType::NONE},
      {testvec::hexAfter(kat, "disco_raw", "Pong packet B->A"), Kind::DISCO, WgType::NONE},
      {testvec::hexAfter(kat, "stun_raw", "request"), Kind::STUN, WgType::NONE},
      {testvec::hexAfter(kat, "stun_raw", "response 1.2.3.4:5678"), Kind::STUN, WgType::NONE},
      {testvec::hexAfter(kat, "stun_raw", "response [2001:db8::1]:5678"), Kind::STUN, WgType::NONE},
  };
  for (const auto& c : cases) {
    auto d = classifyDatagram(c.msg);
    EXPECT_EQ(d.kind, c.kind) << hexEncode(c.msg);
    EXPECT_EQ(d.wgType, c.wg) << hexEncode(c.msg);
    EXPECT_FALSE(d.geneve);
    EXPECT_EQ(d.inner.data(), c.msg.data());
    EXPECT_EQ(d.inner.size(), c.msg.size());
  }
  // The same WireGuard initiation relayed through a peer relay (Geneve 0x7A12, VNI 0xabcdef).
  Bytes relayed = geneve(GENEVE_PROTOCOL_WIREGUARD, false, 0xabcdef, 0, init);
  auto d = classifyDatagram(relayed);
  EXPECT_EQ(d.kind, Kind::WIREGUARD);
  EXPECT_EQ(d.wgType, WgType::INITIATION);
  EXPECT_TRUE(d.geneve);
  EXPECT_FALSE(d.geneveControl);
  EXPECT_EQ(d.vni, 0xabcdefu);
  EXPECT_EQ(d.inner.data(), relayed.data() + GENEVE_HEADER_LEN);
}

TEST(Demux, WireGuardSizesAsWireguardGo) {
  EXPECT_EQ(classifyDatagram(wgTyped(1, 148)).kind, Kind::WIREGUARD);
  EXPECT_EQ(classifyDatagram(wgTyped(1, 149)).kind, Kind::UNKNOWN);
  EXPECT_EQ(classifyDatagram(wgTyped(2, 92)).wgType, WgType::RESPONSE);
  EXPECT_EQ(classifyDatagram(wgTyped(2, 93)).kind, Kind::UNKNOWN);
  EXPECT_EQ(classifyDatagram(wgTyped(3, 64)).wgType, WgType::COOKIE_REPLY);
  EXPECT_EQ(classifyDatagram(wgTyped(3, 63)).kind, Kind::UNKNOWN);
  EXPECT_EQ(classifyDatagram(wgTyped(4, 32)).wgType, WgType::TRANSPORT);
  EXPECT_EQ(classifyDatagram(wgTyped(4, 1500)).wgType, WgType::TRANSPORT);
  EXPECT_EQ(classifyDatagram(wgTyped(4, 31)).kind, Kind::UNKNOWN);
  EXPECT_EQ(classifyDatagram(wgTyped(5, 148)).kind, Kind::UNKNOWN);
  EXPECT_EQ(classifyDatagram(wgTyped(0x0101, 148)).kind, Kind::UNKNOWN);  // type must be LE32 1..4
  EXPECT_EQ(classifyDatagram(Bytes{}).kind, Kind::UNKNOWN);
  EXPECT_EQ(classifyDatagram(Bytes{1}).kind, Kind::UNKNOWN);
  // Go still calls all of these "WireGuard" (wireguard-go drops them later).
  EXPECT_EQ(packetLooksLike(wgTyped(1, 149)).kind, LooksLike::WIREGUARD);
  EXPECT_EQ(packetLooksLike(Bytes{}).kind, LooksLike::WIREGUARD);
}

TEST(Demux, StunNeedsTheBindingMethod) {
  auto req = stun::bindingRequest(stun::TxId{});
  Bytes b(req.begin(), req.end());
  EXPECT_EQ(classifyDatagram(b).kind, Kind::STUN);
  b[1] = 0x03;  // Allocate (TURN): not STUN binding, and not a WireGuard type either
  EXPECT_EQ(packetLooksLike(b).kind, LooksLike::WIREGUARD);
  EXPECT_EQ(classifyDatagram(b).kind, Kind::UNKNOWN);
  b[1] = 0x01;
  b[0] = 0x01;  // binding success response
  EXPECT_EQ(classifyDatagram(b).kind, Kind::STUN);
  b.resize(19);  // too short for a STUN header
  EXPECT_NE(classifyDatagram(b).kind, Kind::STUN);
}

TEST(Demux, DiscoNeedsMagicAndHeader) {
  Bytes d = nakedDisco();
  EXPECT_EQ(classifyDatagram(d).kind, Kind::DISCO);
  EXPECT_EQ(classifyDatagram(ByteSpan(d).first(37)).kind, Kind::UNKNOWN);
  d[2] = 0;
  EXPECT_EQ(classifyDatagram(d).kind, Kind::UNKNOWN);
  // Relay handshake disco: Geneve 0x7A11 with the control bit, VNI carried.
  Bytes g = geneve(GENEVE_PROTOCOL_DISCO, true, 77, 0, nakedDisco());
  auto c = classifyDatagram(g);
  EXPECT_EQ(c.kind, Kind::DISCO);
  EXPECT_TRUE(c.geneve);
  EXPECT_TRUE(c.geneveControl);
  EXPECT_EQ(c.vni, 77u);
  EXPECT_EQ(c.inner.size(), nakedDisco().size());
  EXPECT_STREQ(kindName(c.kind), "disco");
}

}  // namespace
}  // namespace tnet::demux
