// wgd's packet path without I/O: the Device driven by the pipe framing of schemas/wgd.capnp.
//   fromMagicsock: [32 B claimed peer key][1 B path][16 B outer IP][2 B port][WireGuard datagram]
//   toMagicsock:   [32 B peer node key][WireGuard datagram]
//   fromNetstack / toNetstack: a bare IP packet
// The claimed key in magicsockd's header is never trusted: the Device identifies the peer from
// the receiver index or the decrypted initiator static key. The whole 51-byte header is the
// datagram's opaque endpoint (it keys the handshake rate limiter and the cookie MAC2, and names
// where a cookie reply goes). TSMP pings are answered here; disco adverts are handed up.
#pragma once

#include <array>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "libs/base/bytes.h"
#include "services/wgd/core/device.h"
#include "services/wgd/core/tsmp.h"

namespace tnet::wg {

inline constexpr size_t MAGICSOCK_HEADER_SIZE = 51;
inline constexpr size_t MAGICSOCK_TAG_SIZE = 32;

struct DataPathOutput {
  std::function<void(ByteSpan frame)> toMagicsock;  // [peer key][datagram]
  std::function<void(ByteSpan packet)> toNetstack;
  std::function<void(const Key32& fromPeer, const Key32& discoPublic)> discoAdvert;
};

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
  std::optional<Duration> nextDeadline() const { return device_.nextDeadline(); }

  std::vector<PeerReport> peerReports(Now now) const;
  const DataPathCounters& counters() const { return counters_; }
  size_t peerCount() const { return peers_.size(); }

 private:
  void emit(std::vector<Datagram>& send);
  void countDrop(DropReason reason);
  void deliver(Bytes& packet, PeerId from, Now now);

  Device device_;
  DataPathOutput out_;
  std::map<Key32, PeerId> peers_;
  std::map<PeerId, Key32> keysById_;
  DataPathCounters counters_;
  Bytes frame_;  // reused for the tag + datagram of each outbound frame
};

}  // namespace tnet::wg
