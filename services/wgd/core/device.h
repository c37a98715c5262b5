// A WireGuard device without I/O or clocks (STYLE.md: protocol cores are handed `now` and return
// the next deadline). It holds our static key and the peers, and turns
//   - datagrams from the network into plaintext IP packets to deliver and/or datagrams to send,
//   - IP packets from the host into datagrams (handshaking first when needed, with a small
//     per-peer queue meanwhile),
//   - the passage of time into retransmissions, keepalives, rekeys and key erasure.
// Behaviour follows wireguard-go (device/send.go, receive.go, timers.go, noise-protocol.go): the
// timers are the same named hooks, valued by constants.h.
//
// Endpoints are opaque to the core: the caller hands in where a datagram came from and gets back
// where to send (the last authenticated source of each peer). For Tailscale that is magicsock's
// per-peer address; the cookie MAC2 binds to these bytes, as wireguard-go binds to its endpoint's.
//
// Not thread-safe: one Device belongs to one thread.
#pragma once

#include <array>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "libs/base/bytes.h"
#include "libs/base/result.h"
#include "services/wgd/core/allowed_ips.h"
#include "services/wgd/core/constants.h"
#include "services/wgd/core/cookie.h"
#include "services/wgd/core/noise.h"
#include "services/wgd/core/random.h"
#include "services/wgd/core/replay.h"

namespace tnet::wg {

inline constexpr PeerId NO_PEER = 0;

struct Endpoint {
  static constexpr size_t MAX_SIZE = 64;  // wgd uses magicsockd's 51-byte datagram header
  std::array<uint8_t, MAX_SIZE> bytes{};
  uint8_t size = 0;

  static Endpoint fromBytes(ByteSpan b);  // truncated to MAX_SIZE
  ByteSpan view() const { return ByteSpan(bytes.data(), size); }
  bool empty() const { return size == 0; }
  friend bool operator==(const Endpoint& a, const Endpoint& b) {
    return a.size == b.size && std::equal(a.bytes.begin(), a.bytes.begin() + a.size, b.bytes.begin());
  }
};

// Both clocks, passed in: `mono` drives every timer; `wall` (Unix time) only feeds the TAI64N
// timestamp of initiations, which a responder compares across our restarts.
struct Now {
  Duration mono{};
  Duration wall{};
};

// Test-only knobs (defaults are the protocol's values). The interop test shortens
// rekeyAfterTime to watch a rekey happen.
struct ProtocolTimings {
  Duration rekeyAfterTime = REKEY_AFTER_TIME;
  uint64_t rekeyAfterMessages = REKEY_AFTER_MESSAGES;
};

struct DeviceConfig {
  Key32 privateKey{};
  uint16_t tunMtu = DEFAULT_TUN_MTU;  // padding never grows a packet past this
  ProtocolTimings timings;
  RandomSource* random = nullptr;  // nullptr: the system CSPRNG
};

struct PeerConfig {
  Key32 publicKey{};
  std::vector<IpPrefix> allowedIps;
  Endpoint endpoint;                        // empty: learnt from the first authenticated datagram
  uint16_t persistentKeepaliveSeconds = 0;  // 0 = off (Tailscale never sets it)
};

enum class DropReason {
  NONE,
  MALFORMED,  // size/type checks of the wire format failed
  INVALID_MAC1,
  COOKIE_REQUIRED,  // under load without a valid mac2: a cookie reply was sent instead
  RATE_LIMITED,
  HANDSHAKE_INVALID,  // did not decrypt/authenticate
  UNKNOWN_PEER,
  REPLAYED_INITIATION,  // timestamp not newer than the last accepted one
  HANDSHAKE_FLOOD,      // initiations closer than HANDSHAKE_INITIATION_RATE
  UNEXPECTED_RESPONSE,  // no initiation outstanding for that index
  INVALID_COOKIE_REPLY,
  UNKNOWN_INDEX,
  KEYPAIR_EXPIRED,
  DECRYPT_FAILED,
  REPLAYED_COUNTER,
  INVALID_INNER_PACKET,  // not IPv4/IPv6 or a bad length field
  DISALLOWED_SOURCE,     // inner source not in the sender's AllowedIPs
  NO_ROUTE,              // no peer's AllowedIPs contain the destination
  PACKET_TOO_LARGE,
};
std::string_view dropReasonName(DropReason reason);

struct Datagram {
  PeerId peer = NO_PEER;  // NO_PEER for cookie replies to an unidentified source
  Endpoint to;            // empty when the peer has no known endpoint yet
  Bytes bytes;
};

struct DatagramResult {
  std::optional<Bytes> packet;  // a plaintext IP packet to deliver to the host
  PeerId peer = NO_PEER;        // the authenticated peer it came from, when known
  bool keepalive = false;       // an authenticated keepalive (nothing to deliver)
  std::vector<Datagram> send;   // handshake replies, released queued packets, keepalives
  DropReason drop = DropReason::NONE;
};

struct SendResult {
  std::vector<Datagram> send;  // sealed packets, or an initiation while the packet waits
  PeerId peer = NO_PEER;
  DropReason drop = DropReason::NONE;
};

struct TickResult {
  std::vector<Datagram> send;
  std::optional<Duration> nextDeadline;  // monotonic; nullopt when no timer is armed
};

struct PeerStatus {
  Key32 publicKey{};
  Endpoint endpoint;
  bool hasCurrentKeypair = false;
  uint64_t sessionsDerived = 0;  // key pairs created with this peer
  std::optional<Duration> lastHandshake;
  size_t stagedPackets = 0;
  uint32_t handshakeAttempts = 0;
  uint64_t txBytes = 0, rxBytes = 0;
  bool handshakeInProgress = false;        // our initiation awaits its response
  std::optional<Duration> keypairCreated;  // monotonic; the current key pair's birth
};

class Device {
 public:
  explicit Device(const DeviceConfig& config);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const Key32& publicKey() const { return identity_.publicKey; }

  // Rejects our own key, a duplicate key, a low-order key, or more than MAX_PEERS.
  Result<PeerId> addPeer(const PeerConfig& config);
  void removePeer(PeerId peer);
  std::optional<PeerId> peerByKey(const Key32& publicKey) const;
  void setEndpoint(PeerId peer, const Endpoint& endpoint);
  // Replaces the peer's AllowedIPs (a prefix another peer held moves to this one).
  void setAllowedIps(PeerId peer, const std::vector<IpPrefix>& allowedIps);
  // A new static key (wireguard-go SetPrivateKey): a peer with the new public key is removed,
  // every peer's static-static secret is recomputed and all sessions, handshakes in progress,
  // staged packets and timers are dropped, since they were bound to the old key.
  void setPrivateKey(const Key32& privateKey);
  std::optional<PeerStatus> peerStatus(PeerId peer) const;
  // The peer whose AllowedIPs hold `destination` (4 or 16 bytes), as sendPacket would choose.
  std::optional<PeerId> routeFor(ByteSpan destination) const { return allowedIps_.lookup(destination); }

  DatagramResult handleDatagram(ByteSpan datagram, const Endpoint& from, Now now);
  SendResult sendPacket(ByteSpan ipPacket, Now now);
  TickResult tick(Now now);
  // The earliest armed timer (monotonic), for callers to re-check after any call above.
  std::optional<Duration> nextDeadline() const;

  // Starts a handshake now (subject to the REKEY_TIMEOUT spacing), as a lazy peer would.
  std::vector<Datagram> initiateHandshake(PeerId peer, Now now);
  // The caller's own view of load (e.g. the length of its receive backlog): at or above
  // UNDER_LOAD_QUEUE_LENGTH the device is under load for UNDER_LOAD_AFTER_TIME.
  void noteHandshakeBacklog(size_t queued, Now now);

 private:
  struct Keypair;
  struct Peer;
  struct IndexEntry {
    PeerId peer = NO_PEER;
    bool isKeypair = false;  // else the index names the peer's handshake in progress
  };
  using Out = std::vector<Datagram>;

  Peer* findPeer(PeerId id);
  const Peer* findPeer(PeerId id) const;
  uint32_t newIndex(PeerId peer);
  void deleteKeypair(std::unique_ptr<Keypair>& kp);
  Keypair* keypairByIndex(Peer& peer, uint32_t localIndex);
  bool isUnderLoad(Now now);
  bool rateLimitAllows(const Endpoint& from, Now now);
  Duration jitter();

  void handleInitiation(ByteSpan msg, const Endpoint& from, Now now, DatagramResult& r);
  void handleResponse(ByteSpan msg, const Endpoint& from, Now now, DatagramResult& r);
  void handleCookieReply(ByteSpan msg, Now now, DatagramResult& r);
  void handleTransport(ByteSpan msg, const Endpoint& from, Now now, DatagramResult& r);
  bool checkHandshakeMacs(ByteSpan msg, const Endpoint& from, Now now, DatagramResult& r);

  void sendHandshakeInitiation(Peer& peer, bool isRetry, Now now, Out& out);
  void sendHandshakeResponse(Peer& peer, Now now, Out& out);
  void beginSymmetricSession(Peer& peer, Now now);
  bool receivedWithKeypair(Peer& peer, Keypair* kp);
  void stagePacket(Peer& peer, ByteSpan packet);
  void sendStagedPackets(Peer& peer, Now now, Out& out);
  void sendKeepalive(Peer& peer, Now now, Out& out);
  void keepKeyFreshSending(Peer& peer, Now now, Out& out);
  void keepKeyFreshReceiving(Peer& peer, Now now, Out& out);
  void zeroAndFlushAll(Peer& peer);
  void emit(Peer& peer, Bytes bytes, Out& out);

  // Timer hooks, named and armed as wireguard-go's timers.go.
  void timersDataSent(Peer& peer, Now now);
  void timersDataReceived(Peer& peer, Now now);
  void timersAnyAuthenticatedPacketSent(Peer& peer);
  void timersAnyAuthenticatedPacketReceived(Peer& peer);
  void timersHandshakeInitiated(Peer& peer, Now now);
  void timersHandshakeComplete(Peer& peer, Now now);
  void timersSessionDerived(Peer& peer, Now now);
  void timersAnyAuthenticatedPacketTraversal(Peer& peer, Now now);
  void expiredRetransmitHandshake(Peer& peer, Now now, Out& out);
  void expiredSendKeepalive(Peer& peer, Now now, Out& out);
  void expiredNewHandshake(Peer& peer, Now now, Out& out);
  void expiredZeroKeyMaterial(Peer& peer);
  void expiredPersistentKeepalive(Peer& peer, Now now, Out& out);

  StaticIdentity identity_;
  uint16_t tunMtu_;
  ProtocolTimings timings_;
  SystemRandom systemRandom_;
  RandomSource* random_;
  CookieChecker cookieChecker_;
  AllowedIps allowedIps_;
  std::unordered_map<PeerId, std::unique_ptr<Peer>> peers_;
  std::map<Key32, PeerId> peersByKey_;
  std::unordered_map<uint32_t, IndexEntry> indexTable_;
  PeerId nextPeerId_ = 1;
  std::optional<Duration> underLoadUntil_;
  Duration loadWindowStart_{};
  size_t loadWindowCount_ = 0;
  struct Bucket {
    Duration tokens{};
    Duration lastTime{};
  };
  std::map<std::vector<uint8_t>, Bucket> rateBuckets_;
  Duration lastRateGc_{};
};

}  // namespace tnet::wg
