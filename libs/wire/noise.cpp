#include "libs/wire/noise.h"

#include <cstring>

namespace tnet::noise {

using crypto::Key32;
using crypto::SecretKey32;

// ---- CipherState ---------------------------------------------------------------------------

std::array<uint8_t, crypto::AEAD_NONCE_LEN> CipherState::nonceBytes() const {
  return order_ == NonceOrder::COUNTER_BE ? crypto::nonceBE(nonce_) : crypto::nonceLE(nonce_);
}

Result<void> CipherState::encryptWithAd(ByteSpan ad, ByteSpan plaintext, Bytes& out) {
  const size_t at = out.size();
  if (!hasKey_) {
    out.insert(out.end(), plaintext.begin(), plaintext.end());
    return {};
  }
  if (nonce_ == MAX_NONCE) return Error::failed("cipher exhausted, no more nonces available for current key");
  out.resize(at + plaintext.size() + TAG_LEN);
  crypto::aeadSeal(MutableByteSpan(out).subspan(at), key_.array(), nonceBytes(), plaintext, ad);
  ++nonce_;
  return {};
}

Result<void> CipherState::decryptWithAd(ByteSpan ad, ByteSpan ciphertext, Bytes& out) {
  const size_t at = out.size();
  if (!hasKey_) {
    out.insert(out.end(), ciphertext.begin(), ciphertext.end());
    return {};
  }
  if (nonce_ == MAX_NONCE) return Error::failed("cipher exhausted, no more nonces available for current key");
  if (ciphertext.size() < TAG_LEN) return Error::invalid("ciphertext shorter than its authentication tag");
  out.resize(at + ciphertext.size() - TAG_LEN);
  if (!crypto::aeadOpen(MutableByteSpan(out).subspan(at), key_.array(), nonceBytes(), ciphertext, ad)) {
    crypto::wipe(MutableByteSpan(out).subspan(at));
    out.resize(at);
    return Error::invalid("message authentication failed");
  }
  ++nonce_;
  return {};
}

// ---- SymmetricState ------------------------------------------------------------------------

SymmetricState::SymmetricState(std::string_view protocolName) {
  ByteSpan name(reinterpret_cast<const uint8_t*>(protocolName.data()), protocolName.size());
  if (name.size() <= HASH_LEN) {
    std::memcpy(h_.data(), name.data(), name.size());  // zero-padded, as the specification says
  } else {
    crypto::blake2s(h_, {name});
  }
  ck_ = SecretKey32(std::span<const uint8_t, HASH_LEN>(h_));
}

void SymmetricState::mixHash(ByteSpan data) {
  crypto::blake2s(h_, {ByteSpan(h_), data});
}

void SymmetricState::mixKey(ByteSpan inputKeyMaterial) {
  SecretKey32 ck, k;
  crypto::hkdf(ck_.bytes(), inputKeyMaterial, &ck.mutableArray(), &k.mutableArray());
  ck_ = std::move(ck);
  cipher_ = CipherState(std::move(k), NonceOrder::COUNTER_LE);
}

void SymmetricState::mixKeyAndHash(ByteSpan inputKeyMaterial) {
  SecretKey32 ck, tempH, k;
  crypto::hkdf(ck_.bytes(), inputKeyMaterial, &ck.mutableArray(), &tempH.mutableArray(), &k.mutableArray());
  ck_ = std::move(ck);
  mixHash(tempH.bytes());
  cipher_ = CipherState(std::move(k), NonceOrder::COUNTER_LE);
}

Result<void> SymmetricState::encryptAndHash(ByteSpan plaintext, Bytes& out) {
  const size_t at = out.size();
  TNET_TRY_VOID(cipher_.encryptWithAd(h_, plaintext, out));
  mixHash(ByteSpan(out).subspan(at));
  return {};
}

Result<void> SymmetricState::decryptAndHash(ByteSpan ciphertext, Bytes& out) {
  TNET_TRY_VOID(cipher_.decryptWithAd(h_, ciphertext, out));
  mixHash(ciphertext);
  return {};
}

std::pair<SecretKey32, SecretKey32> SymmetricState::split() {
  SecretKey32 k1, k2;
  crypto::hkdf(ck_.bytes(), {}, &k1.mutableArray(), &k2.mutableArray());
  ck_.clear();
  cipher_ = CipherState();
  return {std::move(k1), std::move(k2)};
}

// ---- IkHandshake ---------------------------------------------------------------------------

namespace {
constexpr size_t ENCRYPTED_STATIC_LEN = DH_LEN + TAG_LEN;
}

IkHandshake::IkHandshake(const IkOptions& options, Role role, const crypto::PrivateKey& localStatic)
    : role_(role),
      psk2_(options.psk2),
      symmetric_(options.protocolName),
      localStatic_(localStatic.toSecret()),
      localStaticPublic_(localStatic.publicKey()),
      ephemeral_(SecretKey32::random()) {
  // Clamping is not needed for X25519 itself, but keeps the ephemeral like Go's key.NewMachine.
  ephemeral_.mutableBytes()[0] &= 248;
  ephemeral_.mutableBytes()[31] = (ephemeral_.mutableBytes()[31] & 127) | 64;
  crypto::x25519Base(ephemeralPublic_, ephemeral_.array());
  symmetric_.mixHash(options.prologue);
}

Result<IkHandshake> IkHandshake::initiator(const IkOptions& options, const crypto::PrivateKey& localStatic,
                                           const crypto::Key32& remoteStatic) {
  if (localStatic.isZero()) return Error::invalid("noise: zero local static key");
  IkHandshake hs(options, Role::INITIATOR, localStatic);
  hs.remoteStatic_ = remoteStatic;
  hs.symmetric_.mixHash(remoteStatic);  // pre-message: <- s
  return hs;
}

Result<IkHandshake> IkHandshake::responder(const IkOptions& options, const crypto::PrivateKey& localStatic) {
  if (localStatic.isZero()) return Error::invalid("noise: zero local static key");
  IkHandshake hs(options, Role::RESPONDER, localStatic);
  hs.symmetric_.mixHash(hs.localStaticPublic_);  // pre-message: <- s
  return hs;
}

void IkHandshake::setEphemeralForTest(const SecretKey32& ephemeral) {
  assert(step_ == Step::MESSAGE1 || (role_ == Role::RESPONDER && step_ == Step::MESSAGE2));
  ephemeral_ = ephemeral.clone();
  crypto::x25519Base(ephemeralPublic_, ephemeral_.array());
}

void IkHandshake::setPresharedKey(const SecretKey32& psk) {
  psk_ = psk.clone();
  hasPsk_ = true;
}

Result<void> IkHandshake::expect(Role role, Step step) const {
  if (step_ == Step::FAILED) return Error::failed("noise: handshake already failed");
  if (role_ != role || step_ != step) return Error::failed("noise: handshake step out of order");
  if (step == Step::MESSAGE2 && psk2_ && !hasPsk_)
    return Error::failed("noise: IKpsk2 needs a preshared key");
  return {};
}

Result<void> IkHandshake::mixDh(const SecretKey32& priv, const Key32& pub) {
  SecretKey32 shared;
  if (!crypto::x25519(shared.mutableArray(), priv.array(), pub)) {
    return Error::invalid("noise: low-order public key (all-zero shared secret)");
  }
  symmetric_.mixKey(shared.bytes());
  return {};
}

void IkHandshake::mixEphemeral(const Key32& pub) {
  symmetric_.mixHash(pub);
  if (psk2_) symmetric_.mixKey(pub);  // PSK handshakes also MixKey(e.pub) (spec §9.2)
}

Result<Bytes> IkHandshake::writeMessage1(ByteSpan payload) {
  TNET_TRY_VOID(expect(Role::INITIATOR, Step::MESSAGE1));
  step_ = Step::FAILED;                                         // until the message is complete
  Bytes msg(ephemeralPublic_.begin(), ephemeralPublic_.end());  // e
  mixEphemeral(ephemeralPublic_);
  TNET_TRY_VOID(mixDh(ephemeral_, remoteStatic_));                    // es
  TNET_TRY_VOID(symmetric_.encryptAndHash(localStaticPublic_, msg));  // s
  TNET_TRY_VOID(mixDh(localStatic_, remoteStatic_));                  // ss
  TNET_TRY_VOID(symmetric_.encryptAndHash(payload, msg));
  step_ = Step::MESSAGE2;
  return msg;
}

Result<Bytes> IkHandshake::readMessage1(ByteSpan message) {
  TNET_TRY_VOID(expect(Role::RESPONDER, Step::MESSAGE1));
  if (message.size() < DH_LEN + ENCRYPTED_STATIC_LEN + TAG_LEN) {
    return Error::invalid("noise: handshake initiation too short");
  }
  step_ = Step::FAILED;
  std::memcpy(remoteEphemeral_.data(), message.data(), DH_LEN);  // e
  mixEphemeral(remoteEphemeral_);
  TNET_TRY_VOID(mixDh(localStatic_, remoteEphemeral_));  // es
  Bytes rs;
  auto s = symmetric_.decryptAndHash(message.subspan(DH_LEN, ENCRYPTED_STATIC_LEN), rs);  // s
  if (!s) return Error::invalid("noise: decrypting initiator static key: " + s.error().message);
  std::memcpy(remoteStatic_.data(), rs.data(), DH_LEN);
  TNET_TRY_VOID(mixDh(localStatic_, remoteStatic_));  // ss
  Bytes payload;
  auto p = symmetric_.decryptAndHash(message.subspan(DH_LEN + ENCRYPTED_STATIC_LEN), payload);
  if (!p) return Error::invalid("noise: decrypting initiation payload: " + p.error().message);
  step_ = Step::MESSAGE2;
  return payload;
}

Result<Bytes> IkHandshake::writeMessage2(ByteSpan payload) {
  TNET_TRY_VOID(expect(Role::RESPONDER, Step::MESSAGE2));
  step_ = Step::FAILED;
  Bytes msg(ephemeralPublic_.begin(), ephemeralPublic_.end());  // e
  mixEphemeral(ephemeralPublic_);
  TNET_TRY_VOID(mixDh(ephemeral_, remoteEphemeral_));  // ee
  TNET_TRY_VOID(mixDh(ephemeral_, remoteStatic_));     // se
  if (psk2_) symmetric_.mixKeyAndHash(psk_.bytes());   // psk
  TNET_TRY_VOID(symmetric_.encryptAndHash(payload, msg));
  step_ = Step::DONE;
  return msg;
}

Result<Bytes> IkHandshake::readMessage2(ByteSpan message) {
  TNET_TRY_VOID(expect(Role::INITIATOR, Step::MESSAGE2));
  if (message.size() < DH_LEN + TAG_LEN) return Error::invalid("noise: handshake response too short");
  step_ = Step::FAILED;
  std::memcpy(remoteEphemeral_.data(), message.data(), DH_LEN);  // e
  mixEphemeral(remoteEphemeral_);
  TNET_TRY_VOID(mixDh(ephemeral_, remoteEphemeral_));    // ee
  TNET_TRY_VOID(mixDh(localStatic_, remoteEphemeral_));  // se
  if (psk2_) symmetric_.mixKeyAndHash(psk_.bytes());     // psk
  Bytes payload;
  auto p = symmetric_.decryptAndHash(message.subspan(DH_LEN), payload);
  if (!p) return Error::invalid("noise: decrypting response payload: " + p.error().message);
  step_ = Step::DONE;
  return payload;
}

Result<TransportKeys> IkHandshake::split() {
  if (step_ != Step::DONE) return Error::failed("noise: split before the handshake completed");
  step_ = Step::SPLIT;
  auto [k1, k2] = symmetric_.split();
  ephemeral_.clear();
  localStatic_.clear();
  if (role_ == Role::INITIATOR) return TransportKeys{std::move(k1), std::move(k2)};
  return TransportKeys{std::move(k2), std::move(k1)};
}

}  // namespace tnet::noise
