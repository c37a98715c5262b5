// Device-private state: key pairs and peers (wireguard-go device/keypair.go, peer.go). Only the
// Device's own translation units include this.
#pragma once

#include <deque>
#include <memory>

#include "services/wgd/core/device.h"

namespace tnet::wg {

struct Device::Keypair {
  Key32 sendKey{};
  Key32 receiveKey{};
  uint64_t sendNonce = 0;
  ReplayFilter replayFilter;
  bool isInitiator = false;
  Duration created{};
  uint32_t localIndex = 0;
  uint32_t remoteIndex = 0;

  ~Keypair() {
    crypto::wipe(sendKey);
    crypto::wipe(receiveKey);
  }
};

// A one-shot deadline, as wireguard-go's Timer (Mod arms or re-arms, Del disarms).
struct PeerTimer {
  std::optional<Duration> at;
  bool isPending() const { return at.has_value(); }
  void mod(Now now, Duration d) { at = now.mono + d; }
  void del() { at.reset(); }
  bool due(Now now) const { return at && *at <= now.mono; }
};

struct Device::Peer {
  PeerId id = NO_PEER;
  Key32 publicKey{};
  Endpoint endpoint;
  uint16_t persistentKeepaliveSeconds = 0;
  HandshakeState handshake;
  CookieGenerator cookieGenerator;

  // Key rotation (whitepaper §6.3): `next` is a responder's fresh pair, unused for sending until
  // the initiator's first packet confirms it; `previous` still decrypts late packets.
  std::unique_ptr<Keypair> current, previous, next;

  // Packets waiting for a key pair, each already laid out as a transport message (16-byte header
  // room, plaintext, zero padding, tag room) so sealing happens in place.
  std::deque<Bytes> staged;

  PeerTimer retransmitHandshake, sendKeepalive, newHandshake, zeroKeyMaterial, persistentKeepalive;
  uint32_t handshakeAttempts = 0;
  bool needAnotherKeepalive = false;
  bool sentLastMinuteHandshake = false;

  std::optional<Duration> lastHandshake;  // wall clock
  uint64_t sessionsDerived = 0;
  uint64_t txBytes = 0, rxBytes = 0;
};

}  // namespace tnet::wg
