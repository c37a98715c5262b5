// The server's JSON, written as Go's encoding/json writes tailcfg's types: field declaration
// order, omitempty/omitzero exactly as tailcfg.go tags them, zero keys as prefix + zeros.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "libs/ipn/go_json.h"
#include "tests/integration/testcontrol/control_types.h"

namespace tnet::testcontrol {

struct DerpOptions {
  std::string host;   // --derp-url's host (an IP literal or name)
  int port = 0;       // --derp-url's port
  int stunPort = -1;  // --derp-stun-port, -1 = no STUN
};

inline constexpr int DERP_REGION_ID = 900;

// tailcfg.Node. `asPeer` adds Online/LastSeen (what a peer sees); the self node carries neither.
std::string nodeJson(const NodeRecord& n, bool asPeer);

// tailcfg.RegisterResponse (Error-only responses have zero User/Login, as Go's).
struct RegisterReply {
  const UserRecord* user = nullptr;  // nullptr = zero User/Login
  bool nodeKeyExpired = false;
  bool machineAuthorized = false;
  std::string authUrl;
  std::string error;
};
std::string registerResponseJson(const RegisterReply& r);

// tailcfg.DERPMap: one region 900 "test" with one node, or no regions at all.
ipn::OrderedJson derpMapJson(const std::optional<DerpOptions>& derp);
// tailcfg.DNSConfig with MagicDNS on for the tailnet domain.
ipn::OrderedJson dnsConfigJson(const std::string& domain);
// tailcfg.FilterAllowAll.
ipn::OrderedJson packetFilterAllowAllJson();
ipn::OrderedJson userProfileJson(const UserRecord& u);
// tailcfg.PeerChange with the fields given.
struct PeerChange {
  int64_t nodeId = 0;
  int derpRegion = 0;
  std::optional<std::vector<ipn::IpAddrPort>> endpoints;
  std::optional<key::DiscoPublic> discoKey;
  std::optional<bool> online;
  std::optional<int64_t> lastSeen;
  std::optional<int64_t> keyExpiry;
};
ipn::OrderedJson peerChangeJson(const PeerChange& c);

// A MapResponse assembled from already-encoded parts, in tailcfg.MapResponse field order.
// Peers/PeersChanged are pre-encoded node JSON (nodes cache their peer encoding).
struct MapResponseParts {
  bool keepAlive = false;
  std::optional<std::string> node;
  std::optional<ipn::OrderedJson> derpMap;
  std::vector<const std::string*> peers;
  std::vector<const std::string*> peersChanged;
  std::vector<int64_t> peersRemoved;
  std::vector<ipn::OrderedJson> peersChangedPatch;
  std::map<int64_t, bool> onlineChange;
  std::optional<ipn::OrderedJson> dnsConfig;
  std::string domain;
  std::optional<bool> collectServices;
  std::optional<ipn::OrderedJson> packetFilter;
  std::vector<ipn::OrderedJson> userProfiles;
  std::optional<int64_t> controlTime;
};
std::string encodeMapResponse(const MapResponseParts& p);

}  // namespace tnet::testcontrol
