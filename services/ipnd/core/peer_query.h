// The LocalAPI answers that look a peer up in the netmap by tailnet IP: ping (Go's
// ipnstate.PingResult; the ping itself is magicsockd's (disco) or wgd's (TSMP, ICMP), asked by
// the app) and whois (Go's
// apitype.WhoIsResponse), plus the netcheck report JSON. I/O-free so tests pin the JSON.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libs/base/result.h"
#include "services/ipnd/core/backend.h"

namespace tnet::ipnd {

// Go's ipnstate.PingResult.
struct PingResult {
  std::string ip;        // IP: the destination as asked
  std::string nodeIp;    // NodeIP: the node's first address
  std::string nodeName;  // NodeName: first label of its name, else its host name
  std::string err;
  double latencySeconds = 0;
  std::string endpoint;  // direct "ip:port"
  int32_t derpRegionId = 0;
  std::string derpRegionCode;
  uint16_t peerApiPort = 0;  // PeerAPIPort (omitempty): from a TSMP pong
  bool isLocalIp = false;
};

std::string pingResultJson(const PingResult& r);

// Go's wgengine PeerForIP: the node whose addresses (then whose single-IP AllowedIPs) hold ip.
struct PeerMatch {
  const NodeFacts* node = nullptr;
  bool isSelf = false;
};
std::optional<PeerMatch> peerForIp(const NetmapFacts& nm, std::string_view ip);

// Go's tailcfg.Node.ComputedName: the MagicDNS name without the tailnet's suffix (the FQDN,
// without its dot, for a node from another tailnet), else the host name, else the node key.
std::string computedName(const NodeFacts& node, std::string_view magicDnsSuffix);

// What POST /localapi/v0/ping needs from magicsockd (disco) or wgd (TSMP, ICMP), or the answer
// when it needs nothing.
enum class PingType { DISCO, TSMP, ICMP };
struct PingPlan {
  PingType type = PingType::DISCO;
  // disco: IP, NodeIP (the node's first address), NodeName (first label) filled.
  // TSMP/ICMP: only IP; Go's engine sets NodeIP (the pinged IP) and NodeName (ComputedName)
  // when the pong arrives, as pingSucceeded does.
  PingResult partial;
  std::string nodePublic;  // the peer's nodekey
  std::string nodeName;    // TSMP/ICMP: the NodeName of a success
};
struct PingDecision {
  std::optional<LocalApiResponse> answer;  // set: reply now
  PingPlan plan;                           // else: ask magicsockd.ping / wgd.ping
};
PingDecision decidePing(const LocalApiRequest& req, const std::optional<NetmapFacts>& nm);

// The reply to a ping once magicsockd answered (or the call failed: err set).
LocalApiResponse pingAnswer(PingResult r);

// A TSMP/ICMP plan's result once wgd answered: latency and port on success (err empty).
PingResult pingSucceeded(const PingPlan& plan, int64_t latencyNs, uint16_t peerApiPort);

// GET /localapi/v0/whois?addr=ip[:port]|nodekey:<hex> (Go's serveWhoIs).
LocalApiResponse serveWhoIs(const LocalApiRequest& req, const std::optional<NetmapFacts>& nm);

// Go's tailcfg.Node JSON for a netmap node (whois): declaration order, omitempty/omitzero as
// tailcfg.go, Hostinfo re-encoded from what control sent (unknown fields dropped, as Go's
// decode-then-encode does). `indent` = MarshalIndent with tabs at depth 0.
std::string whoIsNodeJson(const NodeFacts& node, std::string_view magicDnsSuffix, bool indent);

// tailcfg.Node.InitDisplayNames: {ComputedName, ComputedNameWithHost}.
std::pair<std::string, std::string> displayNames(const NodeFacts& node, std::string_view magicDnsSuffix);

// Go's netcheck.Report, as far as magicsockd.netcheck measures it (docs/localapi.md).
struct NetcheckFacts {
  int64_t nowUnixNano = 0;  // Report.Now: when ipnd got the report
  bool udp = false;
  bool ipv4 = false;
  bool ipv6 = false;
  std::string globalV4;
  std::string globalV6;
  int8_t mappingVariesByDestIp = -1;
  int8_t hairPinning = -1;
  int8_t captivePortal = -1;
  int32_t preferredDerp = 0;
  std::vector<std::pair<int32_t, int64_t>> regionLatency;  // (region, ns)
  std::vector<std::pair<int32_t, int64_t>> regionV4Latency;
  std::vector<std::pair<int32_t, int64_t>> regionV6Latency;
};
std::string netcheckReportJson(const NetcheckFacts& r);

// GET /localapi/v0/tailnetd/netcheck: {"Report": <Go netcheck.Report>, "Regions": {"<id>":
// {"RegionCode", "RegionName"}}} — the regions of the current DERP map, which Go's CLI takes
// from its own DERP map fetch and a thin client has no other way to learn.
LocalApiResponse netcheckAnswer(const NetcheckFacts& r, const std::optional<NetmapFacts>& nm);

}  // namespace tnet::ipnd
