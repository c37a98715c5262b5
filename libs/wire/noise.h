// The Noise Protocol Framework (revision 34) pieces Tailscale needs: CipherState, SymmetricState
// and the IK handshake pattern (optionally IKpsk2), instantiated with X25519, ChaCha20-Poly1305
// and BLAKE2s. I/O-free: messages go in and out as byte buffers.
//
// Users:
// - controlbase (ts2021): Noise_IK_25519_ChaChaPoly_BLAKE2s, empty payloads, and transport
//   records whose nonce counter is big-endian (NonceOrder::COUNTER_BE).
// - WireGuard is Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s with prologue "WireGuard v1 zx2c4
//   Jason@zx2c4.com", a 12-byte TAI64N payload in message 1, an empty one in message 2, and its
//   own framing around the messages (types, indices, MACs). The responder learns who the
//   initiator is from readMessage1 (remoteStatic()) before it needs that peer's preshared key,
//   so the key is supplied by setPresharedKey() between the two messages.
//
// Verified against the cacophony vectors and the Noise part of the WireGuard KAT (noise_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

#include "libs/base/bytes.h"
#include "libs/base/result.h"
#include "libs/crypto/crypto.h"
#include "libs/crypto/secret.h"

namespace tnet::noise {

constexpr size_t DH_LEN = 32;
constexpr size_t HASH_LEN = 32;
constexpr size_t TAG_LEN = crypto::AEAD_TAG_LEN;
// Noise reserves the nonce 2^64-1; a CipherState that reaches it is exhausted.
constexpr uint64_t MAX_NONCE = ~uint64_t(0);

constexpr std::string_view IK_PROTOCOL_NAME = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
constexpr std::string_view IKPSK2_PROTOCOL_NAME = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";

// Where the 64-bit counter goes in the 12-byte ChaCha20-Poly1305 nonce (bytes 4..11).
enum class NonceOrder {
  COUNTER_LE,  // little-endian: the Noise specification, WireGuard
  COUNTER_BE,  // big-endian: Tailscale's controlbase
};

// Noise §5.1. Encrypting and decrypting advance the nonce; a failed decryption does not (as the
// specification says; callers that must treat a failure as fatal do so themselves).
class CipherState {
 public:
  CipherState() = default;  // no key: encryption is the identity, as the specification says
  CipherState(crypto::SecretKey32 key, NonceOrder order, uint64_t nonce = 0)
      : key_(std::move(key)), order_(order), nonce_(nonce), hasKey_(true) {}

  bool hasKey() const { return hasKey_; }
  uint64_t nonce() const { return nonce_; }
  // For protocols that carry the counter themselves (WireGuard).
  const crypto::SecretKey32& key() const { return key_; }

  // Appends ciphertext (plaintext + 16-byte tag) to out.
  Result<void> encryptWithAd(ByteSpan ad, ByteSpan plaintext, Bytes& out);
  // Appends plaintext to out; an error on a bad tag or a short input.
  Result<void> decryptWithAd(ByteSpan ad, ByteSpan ciphertext, Bytes& out);

 private:
  std::array<uint8_t, crypto::AEAD_NONCE_LEN> nonceBytes() const;

  crypto::SecretKey32 key_;
  NonceOrder order_ = NonceOrder::COUNTER_LE;
  uint64_t nonce_ = 0;
  bool hasKey_ = false;
};

// Noise §5.2.
class SymmetricState {
 public:
  explicit SymmetricState(std::string_view protocolName);

  void mixHash(ByteSpan data);
  void mixKey(ByteSpan inputKeyMaterial);
  void mixKeyAndHash(ByteSpan inputKeyMaterial);
  Result<void> encryptAndHash(ByteSpan plaintext, Bytes& out);
  Result<void> decryptAndHash(ByteSpan ciphertext, Bytes& out);
  // Returns (k1, k2): the initiator sends with k1, the responder with k2.
  std::pair<crypto::SecretKey32, crypto::SecretKey32> split();

  const crypto::Key32& handshakeHash() const { return h_; }

 private:
  crypto::Key32 h_{};  // the hash is not secret (it is public transcript state)
  crypto::SecretKey32 ck_;
  CipherState cipher_;
};

enum class Role { INITIATOR, RESPONDER };

struct IkOptions {
  std::string_view protocolName = IK_PROTOCOL_NAME;
  ByteSpan prologue;
  // IKpsk2: a preshared key is mixed in after message 2's tokens, and "e" tokens also MixKey.
  bool psk2 = false;
};

// The two transport CipherState keys, oriented for one side.
struct TransportKeys {
  crypto::SecretKey32 send;
  crypto::SecretKey32 receive;
};

// Noise_IK (or IKpsk2):   <- s   ...   -> e, es, s, ss   <- e, ee, se [, psk]
// Each side calls its two message functions in order; anything else is an error value, so a
// confused caller cannot skip a step. After the last message, complete() is true and split()
// yields the transport keys.
class IkHandshake {
 public:
  // The initiator knows the responder's static public key in advance.
  static Result<IkHandshake> initiator(const IkOptions& options, const crypto::PrivateKey& localStatic,
                                       const crypto::Key32& remoteStatic);
  static Result<IkHandshake> responder(const IkOptions& options, const crypto::PrivateKey& localStatic);
  // Fixed ephemeral private key, for known-answer tests only (must precede the first message).
  void setEphemeralForTest(const crypto::SecretKey32& ephemeral);
  // IKpsk2 only; required before writeMessage2 / readMessage2.
  void setPresharedKey(const crypto::SecretKey32& psk);

  // Message 1 = e (32) | encrypted s (48) | encrypted payload (payload + 16).
  Result<Bytes> writeMessage1(ByteSpan payload);
  Result<Bytes> readMessage1(ByteSpan message);  // returns the payload
  // Message 2 = e (32) | encrypted payload (payload + 16).
  Result<Bytes> writeMessage2(ByteSpan payload);
  Result<Bytes> readMessage2(ByteSpan message);

  Role role() const { return role_; }
  bool complete() const { return step_ == Step::DONE; }
  // The remote static public key (known from the start for the initiator, after readMessage1
  // for the responder).
  const crypto::Key32& remoteStatic() const { return remoteStatic_; }
  const crypto::Key32& localEphemeralPublic() const { return ephemeralPublic_; }
  // Noise's handshake hash h: final once complete().
  const crypto::Key32& handshakeHash() const { return symmetric_.handshakeHash(); }
  // Transport keys for this side; only once complete(), and only once.
  Result<TransportKeys> split();

 private:
  enum class Step { MESSAGE1, MESSAGE2, DONE, SPLIT, FAILED };
  IkHandshake(const IkOptions& options, Role role, const crypto::PrivateKey& localStatic);
  Result<void> mixDh(const crypto::SecretKey32& priv, const crypto::Key32& pub);
  void mixEphemeral(const crypto::Key32& pub);
  Result<void> expect(Role role, Step step) const;

  Role role_;
  Step step_ = Step::MESSAGE1;
  bool psk2_;
  SymmetricState symmetric_;
  crypto::SecretKey32 localStatic_;
  crypto::Key32 localStaticPublic_{};
  crypto::SecretKey32 ephemeral_;
  crypto::Key32 ephemeralPublic_{};
  crypto::Key32 remoteStatic_{};
  crypto::Key32 remoteEphemeral_{};
  crypto::SecretKey32 psk_;
  bool hasPsk_ = false;
};

}  // namespace tnet::noise
