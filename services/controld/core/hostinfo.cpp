#include "services/controld/core/hostinfo.h"

#include <algorithm>

namespace tnet::controld {
namespace {

void putString(ipn::OrderedJson& j, const char* name, const std::string& v) {
  if (!v.empty()) j[name] = v;
}
void putBool(ipn::OrderedJson& j, const char* name, bool v) {
  if (v) j[name] = true;
}
// opt.Bool with omitzero: "" is omitted; "unset" is written as null.
void putOpt(ipn::OrderedJson& j, const char* name, const ipn::OptBool& v) {
  if (!v.isEmpty()) j[name] = v.toJson();
}

ipn::OrderedJson netInfoToJson(const NetInfo& n) {
  ipn::OrderedJson j = ipn::OrderedJson::object();
  putOpt(j, "MappingVariesByDestIP", n.mappingVariesByDestIp);
  putOpt(j, "WorkingIPv6", n.workingIpv6);
  putOpt(j, "OSHasIPv6", n.osHasIpv6);
  putOpt(j, "WorkingUDP", n.workingUdp);
  putOpt(j, "WorkingICMPv4", n.workingIcmpv4);
  putBool(j, "HavePortMap", n.havePortMap);
  putOpt(j, "UPnP", n.upnp);
  putOpt(j, "PMP", n.pmp);
  putOpt(j, "PCP", n.pcp);
  if (n.preferredDerp != 0) j["PreferredDERP"] = n.preferredDerp;
  putString(j, "LinkType", n.linkType);
  if (!n.derpLatency.empty()) {
    ipn::OrderedJson lat = ipn::OrderedJson::object();
    for (const auto& [k, v] : n.derpLatency) lat[k] = v;  // Go sorts map keys: std::map does too
    j["DERPLatency"] = std::move(lat);
  }
  putString(j, "FirewallMode", n.firewallMode);
  return j;
}

}  // namespace

ipn::OrderedJson hostinfoToJson(const Hostinfo& h) {
  ipn::OrderedJson j = ipn::OrderedJson::object();
  putString(j, "IPNVersion", h.ipnVersion);
  putString(j, "FrontendLogID", h.frontendLogId);
  putString(j, "BackendLogID", h.backendLogId);
  putString(j, "OS", h.os);
  putString(j, "OSVersion", h.osVersion);
  putOpt(j, "Container", h.container);
  putString(j, "Env", h.env);
  putString(j, "Distro", h.distro);
  putString(j, "DistroVersion", h.distroVersion);
  putString(j, "DistroCodeName", h.distroCodeName);
  putString(j, "App", h.app);
  putString(j, "Hostname", h.hostname);
  putBool(j, "ShieldsUp", h.shieldsUp);
  putBool(j, "ShareeNode", h.shareeNode);
  putBool(j, "NoLogsNoSupport", h.noLogsNoSupport);
  putBool(j, "IngressEnabled", h.ingressEnabled);
  putString(j, "Machine", h.machine);
  putString(j, "GoArch", h.goArch);
  if (!h.routableIps.empty()) {
    ipn::OrderedJson a = ipn::OrderedJson::array();
    for (const auto& p : h.routableIps) a.push_back(p.toString());
    j["RoutableIPs"] = std::move(a);
  }
  if (!h.requestTags.empty()) {
    // Go sorts and deduplicates the advertised tags before they reach Hostinfo.
    std::vector<std::string> tags = h.requestTags;
    std::sort(tags.begin(), tags.end());
    tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
    j["RequestTags"] = std::move(tags);
  }
  if (!h.services.empty()) {
    ipn::OrderedJson a = ipn::OrderedJson::array();
    for (const auto& s : h.services) {
      ipn::OrderedJson e = {{"Proto", s.proto}, {"Port", s.port}};
      if (!s.description.empty()) e["Description"] = s.description;
      a.push_back(std::move(e));
    }
    j["Services"] = std::move(a);
  }
  if (h.netInfo) j["NetInfo"] = netInfoToJson(*h.netInfo);
  if (!h.sshHostKeys.empty()) j["sshHostKeys"] = h.sshHostKeys;
  putOpt(j, "Userspace", h.userspace);
  putOpt(j, "UserspaceRouter", h.userspaceRouter);
  putString(j, "ExitNodeID", h.exitNodeId);
  return j;
}

}  // namespace tnet::controld
