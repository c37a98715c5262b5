// Go's ipnstate.Status and PeerStatus (ipn/ipnstate/ipnstate.go) as GET /localapi/v0/status
// writes them. Only what tailnetd can know is modelled; every field Go always writes is written
// (zero values included), and omitempty fields only when set.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "libs/ipn/go_json.h"
#include "libs/ipn/prefs.h"

namespace tnet::ipn {

inline constexpr std::string_view ZERO_NODE_KEY =
    "nodekey:0000000000000000000000000000000000000000000000000000000000000000";

struct PeerStatus {
  std::string id;  // StableNodeID
  int64_t nodeId = 0;
  std::string publicKey = std::string(ZERO_NODE_KEY);
  std::string hostName;
  std::string dnsName;
  std::string os;
  int64_t userId = 0;
  std::optional<std::vector<std::string>> tailscaleIps;
  std::optional<std::vector<std::string>> addrs;
  std::string curAddr;
  std::string relay;
  std::string peerRelay;
  int64_t rxBytes = 0;
  int64_t txBytes = 0;
  std::string created = std::string(GO_ZERO_TIME);
  std::string lastWrite = std::string(GO_ZERO_TIME);
  std::string lastSeen = std::string(GO_ZERO_TIME);
  std::string lastHandshake = std::string(GO_ZERO_TIME);
  bool online = false;
  bool exitNode = false;
  bool exitNodeOption = false;
  bool active = false;
  std::optional<std::vector<std::string>> peerApiUrl;
  int taildropTarget = 0;
  std::string noFileSharingReason;
  bool inNetworkMap = false;
  bool inMagicSock = false;
  bool inEngine = false;
};

struct TailnetStatus {
  std::string name;
  std::string magicDnsSuffix;
  bool magicDnsEnabled = false;
};

struct Status {
  std::string version;
  bool tun = false;  // tailnetd runs userspace networking
  std::string backendState;
  bool haveNodeKey = false;  // omitempty
  std::string authUrl;
  std::optional<std::vector<std::string>> tailscaleIps;
  std::optional<PeerStatus> self;
  std::vector<std::string> health;  // Go writes [] when healthy
  std::string magicDnsSuffix;
  std::optional<TailnetStatus> currentTailnet;
  std::optional<std::vector<std::string>> certDomains;
  std::optional<std::map<std::string, PeerStatus>> peer;  // keyed "nodekey:<hex>"
  std::optional<std::map<int64_t, UserProfile>> user;     // keyed by decimal UserID
};

OrderedJson peerStatusToJson(const PeerStatus& p);
OrderedJson statusToJson(const Status& s);
// Tab-indented with a trailing newline, as Go's LocalAPI encoder writes it.
std::string statusToLocalApiBody(const Status& s);

}  // namespace tnet::ipn
