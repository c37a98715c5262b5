// One peer's path state machine, after Go's magicsock `endpoint` (wgengine/magicsock/
// endpoint.go): which of the peer's candidate UDP addresses to use, when to send disco pings,
// how pongs promote an address, and when to fall back to DERP. No I/O and no clock: callers
// pass `now`, collect Actions to carry out, and call tick() at nextDeadline().
//
// The app owns keys and sockets: it seals each SendDiscoPing/Pong/CallMeMaybe with the disco
// keys, and only hands us messages whose sender disco key matches this peer's netmap key.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <variant>
#include <vector>

#include "libs/base/result.h"
#include "libs/wire/disco.h"
#include "libs/wire/disco_endpoint.h"
#include "services/magicsockd/core/addr_quality.h"
#include "services/magicsockd/core/mono_time.h"

namespace tnet::magicsock {

// Where a disco message came from or goes to: a UDP ip:port, or a DERP region (Go writes the
// latter as the fake address 127.3.3.40:<region>).
struct DiscoAddr {
  wire::IpPort udp;
  uint16_t derpRegion = 0;  // non-zero: via DERP

  static DiscoAddr viaUdp(const wire::IpPort& a) { return DiscoAddr{a, 0}; }
  static DiscoAddr viaDerp(uint16_t region) { return DiscoAddr{{}, region}; }
  bool isDerp() const { return derpRegion != 0; }
  bool operator==(const DiscoAddr&) const = default;
};

// tailcfg.DerpMagicIP with the region as port: what a Pong's Src says for a DERP-borne ping.
wire::IpPort derpMagicAddr(uint16_t region);

struct IpPortLess {
  bool operator()(const wire::IpPort& a, const wire::IpPort& b) const {
    return a.ip16 != b.ip16 ? a.ip16 < b.ip16 : a.port < b.port;
  }
};

// Where to send a WireGuard packet now. Both set: send on both (the replay window drops the
// duplicate) while the direct path is unconfirmed.
struct SendPath {
  std::optional<wire::IpPort> udp;
  uint16_t derpRegion = 0;
  bool empty() const { return !udp && derpRegion == 0; }
  bool direct() const { return udp && derpRegion == 0; }
  bool operator==(const SendPath&) const = default;
};

enum class PingPurpose { DISCOVERY, HEARTBEAT };

struct SendDiscoPing {
  DiscoAddr to;
  disco::TxId txId;
  PingPurpose purpose;
};
struct SendDiscoPong {
  DiscoAddr to;  // always the path the ping came on
  disco::TxId txId;
  wire::IpPort observedSrc;
};
struct SendCallMeMaybe {  // the app fills in our current endpoints
  uint16_t derpRegion;
};
struct PathChanged {
  SendPath path;
  Duration latency{0};  // of path.udp, when set
};
using Action = std::variant<SendDiscoPing, SendDiscoPong, SendCallMeMaybe, PathChanged>;

class PeerEndpoint {
 public:
  // Fills TxIDs. Production passes the CSPRNG; tests pass a counter.
  using RandomFill = std::function<void(std::span<uint8_t>)>;

  explicit PeerEndpoint(RandomFill random);

  // From the netmap: the peer's advertised endpoints (Node.Endpoints) and home DERP region.
  // Endpoints that disappear are dropped unless CallMeMaybe or a received ping vouches for them.
  void setNetmap(MonoTime now, const std::vector<wire::IpPort>& endpoints, uint16_t homeDerp,
                 std::vector<Action>& out);

  // An outbound WireGuard packet is about to go out: starts the heartbeat and, when the direct
  // path is not trusted, a discovery round (pings + CallMeMaybe). Returns where to send it.
  SendPath noteSendData(MonoTime now, std::vector<Action>& out);
  SendPath sendPath(MonoTime now) const;

  // Received disco messages (sender disco key already checked by the app).
  void handlePing(MonoTime now, const DiscoAddr& from, const disco::TxId& txId, std::vector<Action>& out);
  // Error::invalid for an unknown/expired TxID (Go ignores those).
  Result<void> handlePong(MonoTime now, const DiscoAddr& from, const disco::Pong& pong,
                          std::vector<Action>& out);
  // Error::denied unless it came via DERP.
  Result<void> handleCallMeMaybe(MonoTime now, const DiscoAddr& from, const disco::CallMeMaybe& cmm,
                                 std::vector<Action>& out);
  // A packet from this peer arrived via DERP region `region` (Go's derpRoute fallback).
  void noteDerpRecv(uint16_t region) { derpRoute_ = region; }

  // Runs due timers (ping expiry, heartbeat, trust expiry); returns nextDeadline().
  MonoTime tick(MonoTime now, std::vector<Action>& out);
  MonoTime nextDeadline() const;

  const AddrQuality& bestAddr() const { return best_; }
  MonoTime trustedUntil() const { return trustUntil_; }
  size_t outstandingPings() const { return sentPings_.size(); }
  size_t candidateCount() const { return candidates_.size(); }
  bool heartbeatRunning() const { return heartbeatAt_ != NEVER; }

 private:
  struct PongReply {
    Duration latency;
    MonoTime at;
    wire::IpPort pongSrc;
  };
  struct Candidate {
    bool inNetmap = false;
    std::optional<MonoTime> lastPing;
    std::optional<MonoTime> lastGotPing;
    std::optional<MonoTime> callMeMaybeTime;
    bool fromCallMeMaybe = false;
    std::deque<PongReply> pongs;
  };
  struct SentPing {
    DiscoAddr to;
    MonoTime at;
    PingPurpose purpose;
  };

  bool shouldDelete(MonoTime now, const Candidate& c) const;
  void deleteCandidate(const wire::IpPort& addr);
  bool startPing(MonoTime now, const wire::IpPort& to, PingPurpose purpose, std::vector<Action>& out);
  void sendDiscoPings(MonoTime now, bool sendCallMeMaybe, std::vector<Action>& out);
  void heartbeat(MonoTime now, std::vector<Action>& out);
  bool wantFullPing(MonoTime now) const;
  void reportPath(MonoTime now, std::vector<Action>& out);

  RandomFill random_;
  std::map<wire::IpPort, Candidate, IpPortLess> candidates_;
  std::map<disco::TxId, SentPing> sentPings_;
  std::deque<disco::TxId> recentRxTxIds_;
  uint16_t homeDerp_ = 0;
  uint16_t derpRoute_ = 0;
  AddrQuality best_;
  MonoTime bestAt_ = MonoTime::min();
  MonoTime trustUntil_ = MonoTime::min();
  std::optional<MonoTime> lastSendExt_;
  std::optional<MonoTime> lastFullPing_;
  MonoTime heartbeatAt_ = NEVER;
  SendPath reported_;
  bool reportedTrusted_ = false;
};

}  // namespace tnet::magicsock
