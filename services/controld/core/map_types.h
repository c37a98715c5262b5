// Compact forms of what a MapResponse carries (tailcfg.MapResponse, Node, PeerChange, DERPMap,
// DNSConfig, FilterRule, UserProfile). Only what the suite uses is kept; unknown fields are
// skipped by the decoder. Times are whole Unix seconds, nullopt = Go's zero/null time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "libs/ipn/netip.h"
#include "libs/wire/keys.h"

namespace tnet::controld {

using NodeId = int64_t;

struct PeerHostinfo {  // the parts of a peer's Hostinfo the suite shows or uses
  std::string os, osVersion, hostname, ipnVersion;
  std::vector<ipn::IpPrefix> routableIps;
  struct Service {
    std::string proto;
    uint16_t port = 0;
  };
  std::vector<Service> services;
  std::vector<std::string> sshHostKeys;
  bool shieldsUp = false;
};

struct Node {
  NodeId id = 0;
  std::string stableId;
  std::string name;  // MagicDNS FQDN with the trailing dot
  int64_t user = 0;
  int64_t sharer = 0;
  key::NodePublic key;
  std::optional<int64_t> keyExpiry;  // nullopt = never
  std::string keySignature;          // base64, as sent
  key::MachinePublic machine;
  key::DiscoPublic discoKey;
  std::vector<ipn::IpPrefix> addresses;
  std::optional<std::vector<ipn::IpPrefix>> allowedIps;  // nullopt = same as addresses (capver 112)
  std::vector<ipn::IpAddrPort> endpoints;
  int homeDerp = 0;  // from HomeDERP, or the legacy "127.3.3.40:<region>" DERP string
  std::optional<PeerHostinfo> hostinfo;
  // Hostinfo re-encoded as compact JSON for LocalAPI whois; "" when absent, over
  // MAX_NODE_HOSTINFO_JSON or nested deeper than MAX_NODE_HOSTINFO_DEPTH (map_decode.h).
  std::string hostinfoJson;
  std::optional<int64_t> created;
  std::optional<int64_t> lastSeen;
  std::optional<bool> online;
  int cap = 0;
  std::vector<std::string> tags;
  std::vector<ipn::IpPrefix> primaryRoutes;
  std::vector<std::string> capabilities;
  std::map<std::string, std::string> capMap;  // capability → its raw JSON value ("null" or an array)
  bool machineAuthorized = false;
  bool expired = false;
  bool unsignedPeerApiOnly = false;
  bool isWireGuardOnly = false;

  const std::vector<ipn::IpPrefix>& effectiveAllowedIps() const {
    return allowedIps ? *allowedIps : addresses;
  }
};

struct PeerChange {  // tailcfg.PeerChange: only the present fields are applied
  NodeId nodeId = 0;
  int derpRegion = 0;
  int cap = 0;
  std::optional<std::map<std::string, std::string>> capMap;
  std::optional<std::vector<ipn::IpAddrPort>> endpoints;
  std::optional<key::NodePublic> key;
  std::optional<std::string> keySignature;
  std::optional<key::DiscoPublic> discoKey;
  std::optional<bool> online;
  std::optional<int64_t> lastSeen;
  std::optional<std::optional<int64_t>> keyExpiry;
};

struct DerpNode {
  std::string name;
  int regionId = 0;
  std::string hostName, certName, ipv4, ipv6;
  int stunPort = 0;  // 0 ⇒ 3478, -1 ⇒ no STUN
  bool stunOnly = false;
  int derpPort = 0;  // 0 ⇒ 443
  bool insecureForTests = false;
  std::string stunTestIp;
  bool canPort80 = false;
};

struct DerpRegion {
  int regionId = 0;
  std::string regionCode, regionName;
  double latitude = 0, longitude = 0;
  bool avoid = false;
  bool noMeasureNoHome = false;
  std::vector<DerpNode> nodes;
};

struct DerpHomeParams {
  std::optional<std::map<int, double>> regionScore;
};

struct DerpMap {
  std::optional<DerpHomeParams> homeParams;
  std::optional<std::map<int, DerpRegion>> regions;  // nullopt = "unchanged" within a delta
  bool omitDefaultRegions = false;
};

struct DnsResolver {
  std::string addr;
  std::vector<std::string> bootstrapResolution;
  bool useWithExitNode = false;
};

struct DnsRecord {
  std::string name, type, value;
};

struct DnsConfig {
  std::vector<DnsResolver> resolvers;
  std::map<std::string, std::vector<DnsResolver>> routes;
  std::vector<DnsResolver> fallbackResolvers;
  std::vector<std::string> domains;
  bool proxied = false;
  std::vector<std::string> nameservers;
  std::vector<std::string> certDomains;
  std::vector<DnsRecord> extraRecords;
  std::vector<std::string> exitNodeFilteredSet;
};

struct FilterDstPorts {
  std::string ip;  // "*", IP, CIDR or range
  int bits = -1;   // deprecated Bits; -1 = absent
  uint16_t first = 0, last = 0;
};

struct FilterRule {
  std::vector<std::string> srcIps;
  std::vector<FilterDstPorts> dstPorts;
  std::vector<int> ipProto;   // empty = TCP, UDP, ICMPv4, ICMPv6
  std::string capGrantJson;   // raw JSON of CapGrant, "" when absent (passed through to the filter)
};

struct UserProfile {
  int64_t id = 0;
  std::string loginName, displayName, profilePicUrl;
};

struct PingRequest {
  std::string url;
  bool urlIsNoise = false;
  bool log = false;
  std::string types;
  std::string ip;
  std::string payload;  // base64 (c2n)
};

struct MapResponse {
  std::string mapSessionHandle;
  int64_t seq = 0;
  bool keepAlive = false;
  std::optional<PingRequest> pingRequest;
  std::string popBrowserUrl;
  std::optional<Node> node;
  std::optional<DerpMap> derpMap;
  std::optional<std::vector<Node>> peers;
  std::optional<std::vector<Node>> peersChanged;
  std::vector<NodeId> peersRemoved;
  std::vector<PeerChange> peersChangedPatch;
  std::map<NodeId, bool> peerSeenChange;
  std::map<NodeId, bool> onlineChange;
  std::optional<DnsConfig> dnsConfig;
  std::string domain;
  std::optional<bool> collectServices;
  std::optional<std::vector<FilterRule>> packetFilter;
  // name → rules, nullopt value = delete that chunk; the key "*" with null clears all first.
  std::optional<std::map<std::string, std::optional<std::vector<FilterRule>>>> packetFilters;
  std::vector<UserProfile> userProfiles;
  std::optional<std::vector<std::string>> health;
  std::optional<int64_t> controlTime;
  bool sawAnyField = false;  // false for "{}": a keep-alive by another name
};

}  // namespace tnet::controld
