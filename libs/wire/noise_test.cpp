#include "libs/wire/noise.h"

#include <gtest/gtest.h>

#include "libs/wire/noise_test_util.h"

namespace tnet::noise {
namespace {

using crypto::PrivateKey;
using crypto::SecretKey32;
using testing::unhex;

SecretKey32 secretFrom(const nlohmann::json& j) {
  return SecretKey32::fromSpan(unhex(j));
}

// Runs one cacophony IK / IKpsk2 entry through an initiator and a responder, checking every
// message byte for byte, the handshake hash, and the transport messages (standard Noise:
// little-endian nonces, initiator sends with k1).
void runCacophony(const nlohmann::json& v) {
  SCOPED_TRACE(v["protocol_name"].get<std::string>());
  const bool psk2 = v.contains("init_psks");
  Bytes initPrologue = unhex(v["init_prologue"]);
  Bytes respPrologue = unhex(v["resp_prologue"]);
  const std::string name = v["protocol_name"];
  IkOptions io{name, initPrologue, psk2};
  IkOptions ro{name, respPrologue, psk2};

  auto initStatic = PrivateKey::fromSpan(unhex(v["init_static"]));
  auto respStatic = PrivateKey::fromSpan(unhex(v["resp_static"]));
  Bytes remote = unhex(v["init_remote_static"]);
  ASSERT_EQ(remote.size(), 32u);
  crypto::Key32 remoteKey;
  std::copy(remote.begin(), remote.end(), remoteKey.begin());
  EXPECT_EQ(remoteKey, respStatic.publicKey()) << "vector's remote static is the responder's";

  auto ini = IkHandshake::initiator(io, initStatic, remoteKey);
  auto res = IkHandshake::responder(ro, respStatic);
  ASSERT_TRUE(ini && res);
  ini->setEphemeralForTest(secretFrom(v["init_ephemeral"]));
  res->setEphemeralForTest(secretFrom(v["resp_ephemeral"]));
  if (psk2) {
    ini->setPresharedKey(secretFrom(v["init_psks"][0]));
  }

  const auto& msgs = v["messages"];
  ASSERT_EQ(msgs.size(), 6u);

  auto m1 = ini->writeMessage1(unhex(msgs[0]["payload"]));
  ASSERT_TRUE(m1) << m1.error().message;
  EXPECT_EQ(hexEncode(*m1), msgs[0]["ciphertext"].get<std::string>());
  auto p1 = res->readMessage1(*m1);
  ASSERT_TRUE(p1) << p1.error().message;
  EXPECT_EQ(*p1, unhex(msgs[0]["payload"]));
  EXPECT_EQ(res->remoteStatic(), initStatic.publicKey());
  if (psk2) {
    // The responder learns who is calling before it needs that peer's PSK (WireGuard's order).
    EXPECT_FALSE(res->writeMessage2({})) << "IKpsk2 without a PSK must refuse";
    res->setPresharedKey(secretFrom(v["resp_psks"][0]));
    // The refusal above must not have consumed the step.
  }

  auto m2 = res->writeMessage2(unhex(msgs[1]["payload"]));
  ASSERT_TRUE(m2) << m2.error().message;
  EXPECT_EQ(hexEncode(*m2), msgs[1]["ciphertext"].get<std::string>());
  auto p2 = ini->readMessage2(*m2);
  ASSERT_TRUE(p2) << p2.error().message;
  EXPECT_EQ(*p2, unhex(msgs[1]["payload"]));

  ASSERT_TRUE(ini->complete() && res->complete());
  EXPECT_EQ(hexEncode(ini->handshakeHash()), v["handshake_hash"].get<std::string>());
  EXPECT_EQ(hexEncode(res->handshakeHash()), v["handshake_hash"].get<std::string>());

  auto ik = ini->split();
  auto rk = res->split();
  ASSERT_TRUE(ik && rk);
  EXPECT_TRUE(ik->send == rk->receive);
  EXPECT_TRUE(ik->receive == rk->send);
  EXPECT_FALSE(ini->split()) << "split twice";

  CipherState iSend(std::move(ik->send), NonceOrder::COUNTER_LE);
  CipherState iRecv(std::move(ik->receive), NonceOrder::COUNTER_LE);
  CipherState rSend(std::move(rk->send), NonceOrder::COUNTER_LE);
  CipherState rRecv(std::move(rk->receive), NonceOrder::COUNTER_LE);
  for (size_t i = 2; i < msgs.size(); ++i) {
    SCOPED_TRACE(i);
    const bool fromInitiator = i % 2 == 0;
    Bytes payload = unhex(msgs[i]["payload"]);
    Bytes ct, pt;
    ASSERT_TRUE((fromInitiator ? iSend : rSend).encryptWithAd({}, payload, ct));
    EXPECT_EQ(hexEncode(ct), msgs[i]["ciphertext"].get<std::string>());
    ASSERT_TRUE((fromInitiator ? rRecv : iRecv).decryptWithAd({}, ct, pt));
    EXPECT_EQ(pt, payload);
  }
}

TEST(Noise, CacophonyVectors) {
  TNET_LOAD_VECTOR_OR_SKIP(v, "noise-ik-blake2s.json");
  ASSERT_EQ(v["vectors"].size(), 2u);
  for (const auto& entry : v["vectors"]) runCacophony(entry);
}

// Reuse check: WireGuard's handshake is Noise_IKpsk2 with its own framing. The Noise parts of
// the initiation (bytes 8..116: e, static, timestamp) and response (bytes 12..60: e, empty
// payload) of tailscale-dataplane-kat.json, and the transport keys, come out of IkHandshake.
TEST(Noise, ReproducesTheNoisePartOfWireGuardKat) {
  TNET_LOAD_VECTOR_OR_SKIP(v, "tailscale-dataplane-kat.json");
  const auto& w = v["wireguard"];
  auto firstWord = [](const nlohmann::json& j) {
    std::string t = j.get<std::string>();
    return t.substr(0, t.find(' '));
  };
  auto hexOf = [&](const char* k) { return *hexDecode(firstWord(w[k])); };
  auto iStatic = PrivateKey::fromSpan(hexOf("initiator static priv"));
  auto rStatic = PrivateKey::fromSpan(hexOf("responder static priv"));
  const std::string prologue = "WireGuard v1 zx2c4 Jason@zx2c4.com";
  IkOptions o{IKPSK2_PROTOCOL_NAME,
              ByteSpan(reinterpret_cast<const uint8_t*>(prologue.data()), prologue.size()), true};
  auto ini = IkHandshake::initiator(o, iStatic, rStatic.publicKey());
  auto res = IkHandshake::responder(o, rStatic);
  ASSERT_TRUE(ini && res);
  ini->setEphemeralForTest(SecretKey32::fromSpan(hexOf("initiator eph priv")));
  res->setEphemeralForTest(SecretKey32::fromSpan(hexOf("responder eph priv")));
  ini->setPresharedKey(SecretKey32());  // Tailscale uses the zero PSK
  const Bytes timestamp = hexOf("TAI64N timestamp");
  const std::string initiation = w["initiation (148)"];
  const std::string response = w["response (92)"];

  auto m1 = ini->writeMessage1(timestamp);
  ASSERT_TRUE(m1);
  EXPECT_EQ(hexEncode(*m1), initiation.substr(2 * 8, 2 * 108));
  auto ts = res->readMessage1(*m1);
  ASSERT_TRUE(ts);
  EXPECT_EQ(*ts, timestamp);
  res->setPresharedKey(SecretKey32());
  auto m2 = res->writeMessage2({});
  ASSERT_TRUE(m2);
  EXPECT_EQ(hexEncode(*m2), response.substr(2 * 12, 2 * 48));
  ASSERT_TRUE(ini->readMessage2(*m2));
  auto keys = ini->split();
  ASSERT_TRUE(keys);
  EXPECT_TRUE(keys->send.equals(hexOf("initiator send key")));
  EXPECT_TRUE(keys->receive.equals(hexOf("initiator recv key")));
}

TEST(Noise, ShortProtocolNameIsPaddedNotHashed) {
  // Noise §5.2: names of at most 32 bytes are used as h directly, zero-padded.
  SymmetricState s("Noise_NN_25519_AESGCM_SHA256");
  crypto::Key32 want{};
  std::string n = "Noise_NN_25519_AESGCM_SHA256";
  std::copy(n.begin(), n.end(), want.begin());
  EXPECT_EQ(s.handshakeHash(), want);
}

struct Pair {
  IkHandshake ini;
  IkHandshake res;
};

Pair makePair(const PrivateKey& a, const PrivateKey& b, ByteSpan prologueA = {}, ByteSpan prologueB = {}) {
  auto ini = IkHandshake::initiator({IK_PROTOCOL_NAME, prologueA}, a, b.publicKey());
  auto res = IkHandshake::responder({IK_PROTOCOL_NAME, prologueB}, b);
  return {std::move(*ini), std::move(*res)};
}

TEST(Noise, TamperedOrTruncatedMessagesAreRejected) {
  auto a = PrivateKey::generate(), b = PrivateKey::generate();
  auto p = makePair(a, b);
  auto m1 = p.ini.writeMessage1(Bytes{'h', 'i'});
  ASSERT_TRUE(m1);
  for (size_t i = 0; i < m1->size(); i += 7) {
    auto q = makePair(a, b);
    Bytes bad = *m1;
    bad[i] ^= 0x01;
    EXPECT_FALSE(q.res.readMessage1(bad)) << "bit flip at " << i;
    EXPECT_FALSE(q.res.readMessage1(*m1)) << "a failed handshake stays failed";
  }
  auto q = makePair(a, b);
  EXPECT_FALSE(q.res.readMessage1(ByteSpan(*m1).first(95)));
  EXPECT_FALSE(q.res.readMessage1({}));
}

TEST(Noise, PrologueMismatchFails) {
  auto a = PrivateKey::generate(), b = PrivateKey::generate();
  Bytes pa{'v', '1'}, pb{'v', '2'};
  auto p = makePair(a, b, pa, pb);
  auto m1 = p.ini.writeMessage1({});
  ASSERT_TRUE(m1);
  EXPECT_FALSE(p.res.readMessage1(*m1));
}

TEST(Noise, WrongResponderKeyFails) {
  auto a = PrivateKey::generate(), b = PrivateKey::generate(), c = PrivateKey::generate();
  auto ini = IkHandshake::initiator({}, a, b.publicKey());
  auto res = IkHandshake::responder({}, c);
  auto m1 = ini->writeMessage1({});
  ASSERT_TRUE(m1);
  EXPECT_FALSE(res->readMessage1(*m1));
}

TEST(Noise, LowOrderKeysAreRejected) {
  auto a = PrivateKey::generate(), b = PrivateKey::generate();
  auto ini = IkHandshake::initiator({}, a, crypto::Key32{});
  EXPECT_FALSE(ini->writeMessage1({}));
  auto p = makePair(a, b);
  auto m1 = p.ini.writeMessage1({});
  ASSERT_TRUE(m1);
  Bytes bad = *m1;
  std::fill(bad.begin(), bad.begin() + 32, 0);  // zero ephemeral
  EXPECT_FALSE(p.res.readMessage1(bad));
}

TEST(Noise, StepsOutOfOrderAreErrors) {
  auto a = PrivateKey::generate(), b = PrivateKey::generate();
  auto p = makePair(a, b);
  EXPECT_FALSE(p.ini.readMessage2(Bytes(48)));
  EXPECT_FALSE(p.res.writeMessage1({}));
  EXPECT_FALSE(p.res.writeMessage2({}));
  EXPECT_FALSE(p.ini.split());
  auto m1 = p.ini.writeMessage1({});
  ASSERT_TRUE(m1);
  EXPECT_FALSE(p.ini.writeMessage1({}));
  EXPECT_FALSE(IkHandshake::initiator({}, PrivateKey(), b.publicKey()));
}

TEST(Noise, NonceExhaustionAndFailedDecryptKeepsNonce) {
  CipherState c(SecretKey32::random(), NonceOrder::COUNTER_BE, MAX_NONCE - 1);
  Bytes out;
  ASSERT_TRUE(c.encryptWithAd({}, Bytes{1}, out));
  EXPECT_EQ(c.nonce(), MAX_NONCE);
  EXPECT_FALSE(c.encryptWithAd({}, Bytes{1}, out));
  CipherState d(SecretKey32::random(), NonceOrder::COUNTER_LE);
  Bytes garbage(20, 0xaa), pt;
  EXPECT_FALSE(d.decryptWithAd({}, garbage, pt));
  EXPECT_TRUE(pt.empty());
  EXPECT_EQ(d.nonce(), 0u);
  EXPECT_FALSE(d.decryptWithAd({}, Bytes(15), pt));
}

}  // namespace
}  // namespace tnet::noise
