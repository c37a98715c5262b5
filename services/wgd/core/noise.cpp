#include "services/wgd/core/noise.h"

#include <string_view>

namespace tnet::wg {
namespace {

constexpr std::string_view NOISE_CONSTRUCTION = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
constexpr std::string_view WG_IDENTIFIER = "WireGuard v1 zx2c4 Jason@zx2c4.com";

ByteSpan textBytes(std::string_view s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

void mixHash(Key32& dst, const Key32& h, ByteSpan data) {
  crypto::blake2s(dst, {h, data});
}
void mixKey(Key32& dst, const Key32& c, ByteSpan data) {
  Key32 out;
  crypto::hkdf(c, data, &out);
  dst = out;
  crypto::wipe(out);
}
// (chainKey, key) = KDF2(chainKey, input)
void kdf2(Key32& chainKey, Key32& key, ByteSpan input) {
  Key32 c;
  crypto::hkdf(chainKey, input, &c, &key);
  chainKey = c;
  crypto::wipe(c);
}

const auto ZERO_NONCE = crypto::nonceLE(0);

struct Initial {
  Key32 chainKey;
  Key32 hash;
  Initial() {
    crypto::blake2s(chainKey, {textBytes(NOISE_CONSTRUCTION)});
    mixHash(hash, chainKey, textBytes(WG_IDENTIFIER));
  }
};
const Initial& initial() {
  static const Initial value;
  return value;
}

// Private keys from the random source are clamped, as wireguard-go's newPrivateKey does.
Key32 clamped(const Key32& raw) {
  Key32 k = raw;
  k[0] &= 248;
  k[31] = (k[31] & 127) | 64;
  return k;
}

}  // namespace

const Key32& initialChainKey() {
  return initial().chainKey;
}
const Key32& initialHash() {
  return initial().hash;
}

void StaticIdentity::reset(const Key32& priv) {
  crypto::init();
  Key32 k = clamped(priv);
  privateKey_ = crypto::PrivateKey::fromSpan(k);
  crypto::wipe(k);
  crypto::x25519Base(publicKey, privateKey_.raw());
}

HandshakeState::~HandshakeState() {
  clear();
  crypto::wipe(presharedKey);
  crypto::wipe(precomputedStaticStatic);
}

void HandshakeState::clear() {
  crypto::wipe(localEphemeral);
  crypto::wipe(remoteEphemeral);
  crypto::wipe(chainKey);
  crypto::wipe(hash);
  localIndex = 0;
  stage = HandshakeStage::ZEROED;
}

InitiationOpening::~InitiationOpening() {
  crypto::wipe(hash);
  crypto::wipe(chainKey);
}

SessionKeys::~SessionKeys() {
  crypto::wipe(send);
  crypto::wipe(receive);
}

Result<wire::WgInitiation> createInitiation(const StaticIdentity& self, HandshakeState& hs,
                                            const Key32& ephemeralPrivate, const Tai64n& timestamp,
                                            uint32_t senderIndex) {
  if (crypto::isZeroConstantTime(hs.precomputedStaticStatic)) {
    return Error::invalid("wireguard: peer public key is low-order");
  }
  hs.hash = initialHash();
  hs.chainKey = initialChainKey();
  hs.localEphemeral = clamped(ephemeralPrivate);
  mixHash(hs.hash, hs.hash, hs.remoteStatic);

  wire::WgInitiation msg;
  crypto::x25519Base(msg.ephemeral, hs.localEphemeral);
  mixKey(hs.chainKey, hs.chainKey, msg.ephemeral);
  mixHash(hs.hash, hs.hash, msg.ephemeral);

  Key32 ss, key;
  if (!crypto::x25519(ss, hs.localEphemeral, hs.remoteStatic)) {
    hs.clear();
    return Error::invalid("wireguard: peer public key is low-order");
  }
  kdf2(hs.chainKey, key, ss);
  crypto::aeadSeal(msg.encryptedStatic, key, ZERO_NONCE, self.publicKey, hs.hash);
  mixHash(hs.hash, hs.hash, msg.encryptedStatic);

  kdf2(hs.chainKey, key, hs.precomputedStaticStatic);
  crypto::aeadSeal(msg.encryptedTimestamp, key, ZERO_NONCE, timestamp, hs.hash);
  crypto::wipe(ss);
  crypto::wipe(key);

  msg.sender = senderIndex;
  hs.localIndex = senderIndex;
  mixHash(hs.hash, hs.hash, msg.encryptedTimestamp);
  hs.stage = HandshakeStage::INITIATION_CREATED;
  return msg;
}

std::optional<InitiationOpening> openInitiationStatic(const StaticIdentity& self,
                                                      const wire::WgInitiation& msg) {
  InitiationOpening o;
  mixHash(o.hash, initialHash(), self.publicKey);
  mixHash(o.hash, o.hash, msg.ephemeral);
  mixKey(o.chainKey, initialChainKey(), msg.ephemeral);
  Key32 ss, key;
  if (!crypto::x25519(ss, self.privateKey(), msg.ephemeral)) return std::nullopt;
  kdf2(o.chainKey, key, ss);
  const bool ok = crypto::aeadOpen(o.peerStatic, key, ZERO_NONCE, msg.encryptedStatic, o.hash);
  crypto::wipe(ss);
  crypto::wipe(key);
  if (!ok) return std::nullopt;
  mixHash(o.hash, o.hash, msg.encryptedStatic);
  return o;
}

std::optional<Tai64n> openInitiationTimestamp(InitiationOpening& o, const Key32& precomputedStaticStatic,
                                              const wire::WgInitiation& msg) {
  if (crypto::isZeroConstantTime(precomputedStaticStatic)) return std::nullopt;
  Key32 key;
  kdf2(o.chainKey, key, precomputedStaticStatic);
  Tai64n timestamp;
  const bool ok = crypto::aeadOpen(timestamp, key, ZERO_NONCE, msg.encryptedTimestamp, o.hash);
  crypto::wipe(key);
  if (!ok) return std::nullopt;
  mixHash(o.hash, o.hash, msg.encryptedTimestamp);
  return timestamp;
}

void commitInitiation(HandshakeState& hs, const InitiationOpening& o, const wire::WgInitiation& msg,
                      const Tai64n& timestamp, Duration now) {
  hs.hash = o.hash;
  hs.chainKey = o.chainKey;
  hs.remoteIndex = msg.sender;
  hs.remoteEphemeral = msg.ephemeral;
  if (tai64nAfter(timestamp, hs.lastTimestamp)) hs.lastTimestamp = timestamp;
  if (!hs.lastInitiationConsumption || now > *hs.lastInitiationConsumption)
    hs.lastInitiationConsumption = now;
  hs.stage = HandshakeStage::INITIATION_CONSUMED;
}

Result<wire::WgResponse> createResponse(HandshakeState& hs, const Key32& ephemeralPrivate,
                                        uint32_t senderIndex) {
  if (hs.stage != HandshakeStage::INITIATION_CONSUMED) {
    return Error::invalid("wireguard: handshake initiation must be consumed first");
  }
  hs.localIndex = senderIndex;
  wire::WgResponse msg;
  msg.sender = senderIndex;
  msg.receiver = hs.remoteIndex;
  hs.localEphemeral = clamped(ephemeralPrivate);
  crypto::x25519Base(msg.ephemeral, hs.localEphemeral);
  mixHash(hs.hash, hs.hash, msg.ephemeral);
  mixKey(hs.chainKey, hs.chainKey, msg.ephemeral);

  Key32 ss;
  if (!crypto::x25519(ss, hs.localEphemeral, hs.remoteEphemeral))
    return Error::invalid("wireguard: low-order ephemeral");
  mixKey(hs.chainKey, hs.chainKey, ss);
  if (!crypto::x25519(ss, hs.localEphemeral, hs.remoteStatic))
    return Error::invalid("wireguard: low-order static");
  mixKey(hs.chainKey, hs.chainKey, ss);
  crypto::wipe(ss);

  Key32 tau, key, c;
  crypto::hkdf(hs.chainKey, hs.presharedKey, &c, &tau, &key);
  hs.chainKey = c;
  mixHash(hs.hash, hs.hash, tau);
  crypto::aeadSeal(msg.encryptedNothing, key, ZERO_NONCE, {}, hs.hash);
  mixHash(hs.hash, hs.hash, msg.encryptedNothing);
  crypto::wipe(tau);
  crypto::wipe(key);
  crypto::wipe(c);
  hs.stage = HandshakeStage::RESPONSE_CREATED;
  return msg;
}

bool consumeResponse(const StaticIdentity& self, HandshakeState& hs, const wire::WgResponse& msg) {
  if (hs.stage != HandshakeStage::INITIATION_CREATED) return false;
  Key32 hash, chainKey, ss;
  mixHash(hash, hs.hash, msg.ephemeral);
  mixKey(chainKey, hs.chainKey, msg.ephemeral);
  bool ok = crypto::x25519(ss, hs.localEphemeral, msg.ephemeral);
  if (ok) {
    mixKey(chainKey, chainKey, ss);
    ok = crypto::x25519(ss, self.privateKey(), msg.ephemeral);
  }
  Key32 tau, key, c;
  if (ok) {
    mixKey(chainKey, chainKey, ss);
    crypto::hkdf(chainKey, hs.presharedKey, &c, &tau, &key);
    chainKey = c;
    mixHash(hash, hash, tau);
    ok = crypto::aeadOpen({}, key, ZERO_NONCE, msg.encryptedNothing, hash);
  }
  if (ok) {
    mixHash(hash, hash, msg.encryptedNothing);
    hs.hash = hash;
    hs.chainKey = chainKey;
    hs.remoteIndex = msg.sender;
    hs.stage = HandshakeStage::RESPONSE_CONSUMED;
  }
  for (Key32* k : {&hash, &chainKey, &ss, &tau, &key, &c}) crypto::wipe(*k);
  return ok;
}

std::optional<SessionKeys> deriveSessionKeys(HandshakeState& hs) {
  SessionKeys keys;
  if (hs.stage == HandshakeStage::RESPONSE_CONSUMED) {
    crypto::hkdf(hs.chainKey, {}, &keys.send, &keys.receive);
    keys.isInitiator = true;
  } else if (hs.stage == HandshakeStage::RESPONSE_CREATED) {
    crypto::hkdf(hs.chainKey, {}, &keys.receive, &keys.send);
    keys.isInitiator = false;
  } else {
    return std::nullopt;
  }
  crypto::wipe(hs.chainKey);
  crypto::wipe(hs.hash);
  crypto::wipe(hs.localEphemeral);
  hs.stage = HandshakeStage::ZEROED;
  return keys;
}

}  // namespace tnet::wg
