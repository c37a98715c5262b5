// tailcfg.Hostinfo / NetInfo / Service: what we send to control (RegisterRequest, MapRequest)
// and the subset of a peer's Hostinfo we keep from the netmap.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "libs/ipn/go_json.h"
#include "libs/ipn/netip.h"
#include "libs/ipn/opt_bool.h"

namespace tnet::controld {

struct HostService {
  std::string proto;  // "tcp", "udp", "peerapi4", "peerapi6", "peerapi-dns-proxy"
  uint16_t port = 0;
  std::string description;
  bool operator==(const HostService&) const = default;
};

struct NetInfo {
  ipn::OptBool mappingVariesByDestIp, workingIpv6, osHasIpv6, workingUdp, workingIcmpv4;
  bool havePortMap = false;
  ipn::OptBool upnp, pmp, pcp;
  int preferredDerp = 0;
  std::string linkType;
  std::map<std::string, double> derpLatency;  // "<rid>-v4" → seconds
  std::string firewallMode;
};

struct Hostinfo {
  std::string ipnVersion, frontendLogId, backendLogId;
  std::string os = "linux";
  std::string osVersion;
  ipn::OptBool container;
  std::string env, distro, distroVersion, distroCodeName, app;
  std::string hostname;
  bool shieldsUp = false;
  bool shareeNode = false;
  bool noLogsNoSupport = false;
  bool ingressEnabled = false;
  std::string machine, goArch;
  std::vector<ipn::IpPrefix> routableIps;
  std::vector<std::string> requestTags;  // sent sorted and deduplicated
  std::vector<HostService> services;
  std::optional<NetInfo> netInfo;
  std::vector<std::string> sshHostKeys;
  ipn::OptBool userspace, userspaceRouter;
  std::string exitNodeId;
};

// Go's JSON for Hostinfo (field order and omitzero/omitempty as tailcfg.go).
ipn::OrderedJson hostinfoToJson(const Hostinfo& h);

}  // namespace tnet::controld
