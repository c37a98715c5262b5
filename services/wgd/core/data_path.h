// wgd's packet path without I/O: the Device driven by the pipe framing of schemas/wgd.capnp.
//   fromMagicsock: [32 B claimed peer key][1 B path][16 B outer IP][2 B port][WireGuard datagram]
//   toMagicsock:   [32 B peer node key][WireGuard datagram]
//   fromNetstack / toNetstack: a bare IP packet
// The claimed key in magicsockd's header is never trusted: the Device identifies the peer from
// the receiver index or the decrypted initiator static key. The whole 51-byte header is the
// datagram's opaque endpoint (it keys the handshake rate limiter and the cookie MAC2, and names
// where a cookie reply goes). TSMP pings are answered here; disco adverts are handed up. wgd's own
// TSMP and ICMP echo pings (wgd.ping) start here and their answers are consumed here.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "libs/base/bytes.h"
#include "libs/base/result.h"
#include "services/wgd/core/device.h"
#include "services/wgd/core/icmp_echo.h"
#include "services/wgd/core/tsmp.h"

namespace tnet::wg {

inline constexpr size_t MAGICSOCK_HEADER_SIZE = 51;
inline constexpr size_t MAGICSOCK_TAG_SIZE = 32;

struct DataPathOutput {
  std::function<void(ByteSpan frame)> toMagicsock;  // [peer key][datagram]
  std::function<void(ByteSpan packet)> toNetstack;
  std::function<void(const Key32& fromPeer, const Key32& discoPublic)> discoAdvert;
  // The answer to a ping startPing sent (once per token; the pong or echo reply is consumed).
  std::function<void(uint64_t token, uint16_t peerApiPort)> pingAnswered;
};

enum class PingKind { TSMP, ICMP };
inline constexpr size_t MAX_PENDING_PINGS = 256;

struct PeerSpec {
  Key32 publicKey{};
  std::vector<IpPrefix> allowedIps;
};

enum class PeerState { NONE, HANDSHAKING, ESTABLISHED, EXPIRED };
std::string_view peerStateName(PeerState state);

struct PeerReport {
  Key32 publicKey{};
  std::optional<Duration> lastHandshake;  // wall clock
  uint64_t rxBytes = 0, txBytes = 0;
  PeerState state = PeerState::NONE;
  friend bool operator==(const PeerReport&, const PeerReport&) = default;
};

struct DataPathCounters {
  std::array<uint64_t, size_t(DropReason::PACKET_TOO_LARGE) + 1> drops{};  // by DropReason
  uint64_t malformedFrames = 0;    // from magicsockd: shorter than the header
  uint64_t untaggedDatagrams = 0;  // to send but no peer key to tag them with
  uint64_t tsmpPings = 0, discoAdverts = 0;
  uint64_t pingsSent = 0, pingsAnswered = 0;
  uint64_t toNetstack = 0, toMagicsock = 0;
};

class DataPath {
 public:
  DataPath(const Key32& privateKey, DataPathOutput output, RandomSource* random = nullptr);

  const Key32& publicKey() const { return device_.publicKey(); }
  // A new node key: sessions bound to the old one are dropped (peers are kept).
  void setPrivateKey(const Key32& privateKey);
  // Makes the peer set exactly `peers`: new ones added, missing ones removed (their sessions
  // erased), AllowedIPs replaced. Invalid peers (our own key, low-order) are skipped and returned.
  std::vector<Key32> setPeers(const std::vector<PeerSpec>& peers);

  void fromMagicsock(ByteSpan frame, Now now);
  void fromNetstack(ByteSpan packet, Now now);
  void tick(Now now);

  // Sends a TSMP ping ('p' + 8 random bytes) or an ICMP echo request (4 random id/seq bytes)
  // from `source` to `destination` (both 4 or both 16 bytes) through the peer whose AllowedIPs
  // hold `destination`, handshaking first if needed, like any packet from netstackd. The
  // matching answer — a pong with the same data, or an echo reply from `destination` with the
  // same id/seq — is reported through pingAnswered(token) and not delivered to netstackd.
  // Returns the peer's key; `failed` when no peer owns `destination`, `overloaded` past
  // MAX_PENDING_PINGS outstanding, `invalid` for bad addresses or a token in use.
  Result<Key32> startPing(uint64_t token, PingKind kind, ByteSpan source, ByteSpan destination, Now now);
  // Forgets an unanswered ping (its timeout passed); a later answer goes to netstackd as before.
  void cancelPing(uint64_t token);
  size_t pendingPings() const { return pingTokens_.size(); }
  std::optional<Duration> nextDeadline() const { return device_.nextDeadline(); }

  std::vector<PeerReport> peerReports(Now now) const;
  const DataPathCounters& counters() const { return counters_; }
  size_t peerCount() const { return peers_.size(); }

 private:
  void emit(std::vector<Datagram>& send);
  void countDrop(DropReason reason);
  void deliver(Bytes& packet, PeerId from, Now now);
  bool consumePingAnswer(const IpView& ip);

  using IcmpKey = std::pair<std::array<uint8_t, 16>, EchoIdSeq>;  // (pinged address, id/seq)
  struct PingKey {
    PingKind kind = PingKind::TSMP;
    std::array<uint8_t, 8> tsmpData{};
    IcmpKey icmp{};
  };

  Device device_;
  DataPathOutput out_;
  std::map<Key32, PeerId> peers_;
  std::map<PeerId, Key32> keysById_;
  DataPathCounters counters_;
  Bytes frame_;  // reused for the tag + datagram of each outbound frame
  RandomSource* random_;
  SystemRandom systemRandom_;
  std::map<std::array<uint8_t, 8>, uint64_t> tsmpWaiters_;  // pong data -> token
  std::map<IcmpKey, uint64_t> icmpWaiters_;
  std::map<uint64_t, PingKey> pingTokens_;
};

}  // namespace tnet::wg
