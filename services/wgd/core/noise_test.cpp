// Known answers: wireguard-go's KDF vectors (device/kdf_test.go), the Noise constants, TAI64N, and
// the WireGuard entries of tailscale-dataplane-kat.json reproduced byte for byte by the
// handshake functions (the Device-level reproduction is in device_test.cpp).
#include "services/wgd/core/noise.h"

#include <gtest/gtest.h>

#include "services/wgd/core/cookie.h"
#include "services/wgd/core/test_support.h"

namespace tnet::wg {
namespace {

using testing::keyFromHex;
using testing::vectorBytes;
using testing::vectorKey;

std::string hex(ByteSpan b) {
  return hexEncode(b);
}

struct KdfVector {
  const char* key;
  const char* input;
  const char* t0;
  const char* t1;
  const char* t2;
};

TEST(WireguardKdf, WireguardGoVectors) {
  const KdfVector vectors[] = {
      {"746573742d6b6579", "746573742d696e707574",
       "6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633",
       "df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a",
       "fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24"},
      {"776972656775617264", "776972656775617264",
       "491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8",
       "1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f",
       "31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160"},
      {"", "", "8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0",
       "58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e",
       "0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e"},
  };
  for (const auto& v : vectors) {
    Bytes keyBytes = *hexDecode(v.key), inputBytes = *hexDecode(v.input);
    // Empty vectors have a null data(); libs/crypto's HMAC memcpy()s the key, which UBSan flags
    // for (nullptr, 0), so empty inputs are passed as zero-length views of a real buffer.
    static const uint8_t NONE[1] = {0};
    const ByteSpan key = keyBytes.empty() ? ByteSpan(NONE, 0) : ByteSpan(keyBytes);
    const ByteSpan input = inputBytes.empty() ? ByteSpan(NONE, 0) : ByteSpan(inputBytes);
    Key32 t0, t1, t2;
    crypto::hkdf(key, input, &t0, &t1, &t2);  // KDF3
    EXPECT_EQ(hex(t0), v.t0);
    EXPECT_EQ(hex(t1), v.t1);
    EXPECT_EQ(hex(t2), v.t2);
    Key32 u0, u1;
    crypto::hkdf(key, input, &u0, &u1);  // KDF2
    EXPECT_EQ(hex(u0), v.t0);
    EXPECT_EQ(hex(u1), v.t1);
    Key32 w0;
    crypto::hkdf(key, input, &w0);  // KDF1
    EXPECT_EQ(hex(w0), v.t0);
  }
}

TEST(WireguardNoise, InitialChainKeyAndHash) {
  EXPECT_EQ(hex(initialChainKey()), "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
  EXPECT_EQ(hex(initialHash()), "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
}

TEST(WireguardTai64n, EncodesAndWhitens) {
  using namespace std::chrono;
  EXPECT_EQ(hex(tai64nFromUnix(seconds(1700000000))), "400000006553f10a00000000");
  // The low 24 bits of the nanoseconds are cleared: 0x00ffffff ns rounds down to 0.
  EXPECT_EQ(hex(tai64nFromUnix(seconds(1700000000) + nanoseconds(0x00ffffff))), "400000006553f10a00000000");
  EXPECT_EQ(hex(tai64nFromUnix(seconds(1700000000) + nanoseconds(0x01234567))), "400000006553f10a01000000");
  const Tai64n a = tai64nFromUnix(seconds(1700000000));
  const Tai64n b = tai64nFromUnix(seconds(1700000000) + milliseconds(20));
  EXPECT_TRUE(tai64nAfter(b, a));
  EXPECT_FALSE(tai64nAfter(a, b));
  EXPECT_FALSE(tai64nAfter(a, a));
}

class WireguardVectors : public ::testing::Test {
 protected:
  void SetUp() override {
    auto v = testing::wireguardVectors();
    if (!v) GTEST_SKIP() << "tailscale-dataplane-kat.json not found (TNET_VECTORS_DIR)";
    v_ = *v;
  }
  nlohmann::json v_;
};

TEST_F(WireguardVectors, KeysAndMac1Key) {
  StaticIdentity initiator(vectorKey(v_, "initiator static priv"));
  StaticIdentity responder(vectorKey(v_, "responder static priv"));
  EXPECT_EQ(hex(initiator.publicKey), hex(vectorBytes(v_, "initiator static pub")));
  EXPECT_EQ(hex(responder.publicKey), hex(vectorBytes(v_, "responder static pub")));
  EXPECT_EQ(hex(macKey("mac1----", responder.publicKey)), hex(vectorBytes(v_, "mac1 key (init)")));
  EXPECT_EQ(hex(tai64nFromUnix(std::chrono::seconds(1700000000))), hex(vectorBytes(v_, "TAI64N timestamp")));
}

TEST_F(WireguardVectors, HandshakeAndTransportByteForByte) {
  StaticIdentity initiator(vectorKey(v_, "initiator static priv"));
  StaticIdentity responder(vectorKey(v_, "responder static priv"));

  HandshakeState hsI;
  hsI.remoteStatic = responder.publicKey;
  ASSERT_TRUE(crypto::x25519(hsI.precomputedStaticStatic, initiator.privateKey(), responder.publicKey));
  auto init = createInitiation(initiator, hsI, vectorKey(v_, "initiator eph priv"),
                               tai64nFromUnix(std::chrono::seconds(1700000000)), 0x01020304);
  ASSERT_TRUE(init);
  Bytes initBytes = wire::serializeWgInitiation(*init);
  CookieGenerator genI;
  genI.init(responder.publicKey);
  genI.addMacs(initBytes, Duration{});
  EXPECT_EQ(hex(initBytes), hex(vectorBytes(v_, "initiation (148)")));
  EXPECT_EQ(hex(init->ephemeral), hex(vectorBytes(v_, "initiator eph pub")));

  // Responder side.
  CookieChecker checkerR;
  checkerR.init(responder.publicKey);
  ASSERT_TRUE(checkerR.checkMac1(initBytes));
  auto parsed = wire::parseWgInitiation(initBytes);
  ASSERT_TRUE(parsed);
  auto opening = openInitiationStatic(responder, *parsed);
  ASSERT_TRUE(opening);
  EXPECT_EQ(opening->peerStatic, initiator.publicKey);
  HandshakeState hsR;
  hsR.remoteStatic = initiator.publicKey;
  ASSERT_TRUE(crypto::x25519(hsR.precomputedStaticStatic, responder.privateKey(), initiator.publicKey));
  auto ts = openInitiationTimestamp(*opening, hsR.precomputedStaticStatic, *parsed);
  ASSERT_TRUE(ts);
  EXPECT_EQ(hex(*ts), "400000006553f10a00000000");
  commitInitiation(hsR, *opening, *parsed, *ts, Duration{});
  auto resp = createResponse(hsR, vectorKey(v_, "responder eph priv"), 0x05060708);
  ASSERT_TRUE(resp);
  Bytes respBytes = wire::serializeWgResponse(*resp);
  CookieGenerator genR;
  genR.init(initiator.publicKey);
  genR.addMacs(respBytes, Duration{});
  EXPECT_EQ(hex(respBytes), hex(vectorBytes(v_, "response (92)")));
  EXPECT_EQ(hex(resp->ephemeral), hex(vectorBytes(v_, "responder eph pub")));

  // Initiator consumes the response: same chaining key, then the transport keys.
  auto parsedResp = wire::parseWgResponse(respBytes);
  ASSERT_TRUE(parsedResp);
  ASSERT_TRUE(consumeResponse(initiator, hsI, *parsedResp));
  EXPECT_EQ(hex(hsI.chainKey), hex(vectorBytes(v_, "final chaining key")));
  EXPECT_EQ(hex(hsR.chainKey), hex(vectorBytes(v_, "final chaining key")));
  auto keysI = deriveSessionKeys(hsI);
  auto keysR = deriveSessionKeys(hsR);
  ASSERT_TRUE(keysI && keysR);
  EXPECT_TRUE(keysI->isInitiator);
  EXPECT_FALSE(keysR->isInitiator);
  EXPECT_EQ(hex(keysI->send), hex(vectorBytes(v_, "initiator send key")));
  EXPECT_EQ(hex(keysI->receive), hex(vectorBytes(v_, "initiator recv key")));
  EXPECT_EQ(keysR->receive, keysI->send);
  EXPECT_EQ(keysR->send, keysI->receive);
  EXPECT_EQ(hsI.stage, HandshakeStage::ZEROED);

  // Keepalive at counter 0 and the padded ICMP packet at counter 1.
  Bytes keepalive(32);
  wire::writeWgTransportHeader(keepalive.data(), 0x05060708, 0);
  crypto::aeadSeal(MutableByteSpan(keepalive.data() + 16, 16), keysI->send, crypto::nonceLE(0), {}, {});
  EXPECT_EQ(hex(keepalive), hex(vectorBytes(v_, "keepalive i->r ctr 0")));
  Bytes icmp = vectorBytes(v_, "inner IPv4 ICMP echo");
  icmp.resize(32);  // padded to a multiple of 16 with zeros
  Bytes data(16 + 32 + 16);
  wire::writeWgTransportHeader(data.data(), 0x05060708, 1);
  crypto::aeadSeal(MutableByteSpan(data.data() + 16, 48), keysI->send, crypto::nonceLE(1), icmp, {});
  EXPECT_EQ(hex(data), hex(vectorBytes(v_, "data i->r ctr 1 (64)")));
}

TEST_F(WireguardVectors, TamperedInitiationDoesNotOpen) {
  StaticIdentity responder(vectorKey(v_, "responder static priv"));
  Bytes initBytes = vectorBytes(v_, "initiation (148)");
  initBytes[50] ^= 1;  // inside the encrypted static key
  auto parsed = wire::parseWgInitiation(initBytes);
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(openInitiationStatic(responder, *parsed));
}

TEST_F(WireguardVectors, ResponseOnlyConsumedOnceFromInitiationCreated) {
  StaticIdentity initiator(vectorKey(v_, "initiator static priv"));
  HandshakeState hs;  // ZEROED: no initiation outstanding
  auto parsed = wire::parseWgResponse(vectorBytes(v_, "response (92)"));
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(consumeResponse(initiator, hs, *parsed));
  EXPECT_FALSE(deriveSessionKeys(hs));
}

}  // namespace
}  // namespace tnet::wg
