// The Noise_IKpsk2 handshake as WireGuard instantiates it (whitepaper §5.4.2-5.4.5; wireguard-go
// device/noise-protocol.go), as functions over a per-peer HandshakeState. Randomness (ephemeral
// keys, indices) and the timestamp come in as arguments so the known-answer vectors can be
// reproduced exactly; MACs are added by the cookie generator after serialisation.
#pragma once

#include <optional>

#include "libs/crypto/crypto.h"
#include "libs/crypto/secret.h"
#include "libs/wire/wireguard_messages.h"
#include "services/wgd/core/tai64n.h"

namespace tnet::wg {

using crypto::Key32;

// BLAKE2s-256("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s") and BLAKE2s-256(that ‖ identifier).
const Key32& initialChainKey();
const Key32& initialHash();

// Our static key pair. The private half lives in sodium_malloc memory (crypto::PrivateKey), as
// every long-lived private key does (ARCHITECTURE.md §Keys).
struct StaticIdentity {
  Key32 publicKey{};
  StaticIdentity() = default;
  explicit StaticIdentity(const Key32& priv) { reset(priv); }
  StaticIdentity(const StaticIdentity&) = delete;
  StaticIdentity& operator=(const StaticIdentity&) = delete;
  // Replaces the key pair (clamped, as wireguard-go clamps what it is given).
  void reset(const Key32& priv);
  const Key32& privateKey() const { return privateKey_.raw(); }

 private:
  crypto::PrivateKey privateKey_;
};

enum class HandshakeStage {
  ZEROED,
  INITIATION_CREATED,
  INITIATION_CONSUMED,
  RESPONSE_CREATED,
  RESPONSE_CONSUMED
};

struct HandshakeState {
  HandshakeStage stage = HandshakeStage::ZEROED;
  Key32 hash{};
  Key32 chainKey{};
  Key32 presharedKey{};  // Tailscale never sets one: all zeros
  Key32 localEphemeral{};
  uint32_t localIndex = 0;
  uint32_t remoteIndex = 0;
  Key32 remoteStatic{};
  Key32 remoteEphemeral{};
  Key32 precomputedStaticStatic{};  // DH(our static, their static); zero when their key is low-order
  Tai64n lastTimestamp{};
  std::optional<Duration> lastInitiationConsumption;
  std::optional<Duration> lastSentHandshake;

  HandshakeState() = default;
  ~HandshakeState();
  HandshakeState(const HandshakeState&) = delete;
  HandshakeState& operator=(const HandshakeState&) = delete;
  // Forget the exchange in progress (keys, ephemerals, index), keeping the peer's identity and the
  // replay/flood history.
  void clear();
};

// Initiator: builds the initiation (MACs zero) and moves the state to INITIATION_CREATED.
// Fails when the peer's static key is low-order.
Result<wire::WgInitiation> createInitiation(const StaticIdentity& self, HandshakeState& hs,
                                            const Key32& ephemeralPrivate, const Tai64n& timestamp,
                                            uint32_t senderIndex);

// Responder, first half: decrypts the initiator's static key. The caller looks the peer up by it.
struct InitiationOpening {
  Key32 peerStatic{};
  Key32 hash{};
  Key32 chainKey{};
  ~InitiationOpening();
};
std::optional<InitiationOpening> openInitiationStatic(const StaticIdentity& self,
                                                      const wire::WgInitiation& msg);
// Responder, second half: with that peer's precomputed static-static secret, authenticates and
// decrypts the timestamp, advancing opening.hash/chainKey. The caller then checks replay and flood
// before committing the result into the peer's HandshakeState (commitInitiation).
std::optional<Tai64n> openInitiationTimestamp(InitiationOpening& opening,
                                              const Key32& precomputedStaticStatic,
                                              const wire::WgInitiation& msg);
void commitInitiation(HandshakeState& hs, const InitiationOpening& opening, const wire::WgInitiation& msg,
                      const Tai64n& timestamp, Duration now);

// Responder: builds the response (MACs zero) from INITIATION_CONSUMED; → RESPONSE_CREATED.
Result<wire::WgResponse> createResponse(HandshakeState& hs, const Key32& ephemeralPrivate,
                                        uint32_t senderIndex);

// Initiator: authenticates the response from INITIATION_CREATED; → RESPONSE_CONSUMED. False (state
// untouched) when it does not authenticate.
bool consumeResponse(const StaticIdentity& self, HandshakeState& hs, const wire::WgResponse& msg);

// Transport keys from a finished handshake (RESPONSE_CONSUMED: initiator, RESPONSE_CREATED:
// responder); zeroes the handshake secrets and returns to ZEROED (localIndex is kept for the
// caller to hand over to the key pair).
struct SessionKeys {
  Key32 send{};
  Key32 receive{};
  bool isInitiator = false;
  ~SessionKeys();
};
std::optional<SessionKeys> deriveSessionKeys(HandshakeState& hs);

}  // namespace tnet::wg
