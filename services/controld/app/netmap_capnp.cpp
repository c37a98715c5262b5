#include "services/controld/app/netmap_capnp.h"

namespace tnet::controld {

namespace {

template <typename List, typename Items, typename Fn>
void fillTextList(List list, const Items& items, Fn&& toText) {
  for (unsigned i = 0; i < items.size(); ++i) list.set(i, toText(items[i]));
}

template <typename Items>
void setPrefixes(capnp::List<capnp::Text>::Builder list, const Items& items) {
  fillTextList(list, items, [](const ipn::IpPrefix& p) { return p.toString(); });
}

void fillStrings(capnp::List<capnp::Text>::Builder list, const std::vector<std::string>& items) {
  for (unsigned i = 0; i < items.size(); ++i) list.set(i, items[i]);
}

void fillResolvers(capnp::List<schema::DnsResolver>::Builder list, const std::vector<DnsResolver>& items) {
  for (unsigned i = 0; i < items.size(); ++i) {
    list[i].setAddr(items[i].addr);
    fillStrings(list[i].initBootstrapResolution(static_cast<unsigned>(items[i].bootstrapResolution.size())),
                items[i].bootstrapResolution);
  }
}

void fillHostinfo(schema::Hostinfo::Builder out, const PeerHostinfo& hi) {
  out.setHostname(hi.hostname);
  out.setOs(hi.os);
  out.setOsVersion(hi.osVersion);
  out.setIpnVersion(hi.ipnVersion);
  setPrefixes(out.initRoutableIps(static_cast<unsigned>(hi.routableIps.size())), hi.routableIps);
  auto services = out.initServices(static_cast<unsigned>(hi.services.size()));
  for (unsigned i = 0; i < hi.services.size(); ++i) {
    services[i].setProto(hi.services[i].proto);
    services[i].setPort(hi.services[i].port);
  }
  out.setShieldsUp(hi.shieldsUp);
  fillStrings(out.initSshHostKeys(static_cast<unsigned>(hi.sshHostKeys.size())), hi.sshHostKeys);
}

void fillDerpMap(schema::DerpMap::Builder out, const DerpMap& dm) {
  out.setOmitDefaultRegions(dm.omitDefaultRegions);
  if (!dm.regions) {
    out.initRegions(0);
    return;
  }
  auto regions = out.initRegions(static_cast<unsigned>(dm.regions->size()));
  unsigned i = 0;
  for (const auto& [id, region] : *dm.regions) {  // std::map: sorted by region id
    auto r = regions[i++];
    r.setRegionId(region.regionId);
    r.setRegionCode(region.regionCode);
    r.setRegionName(region.regionName);
    r.setAvoid(region.avoid);
    r.setNoMeasureNoHome(region.noMeasureNoHome);
    r.setLatitude(region.latitude);
    r.setLongitude(region.longitude);
    auto nodes = r.initNodes(static_cast<unsigned>(region.nodes.size()));
    for (unsigned j = 0; j < region.nodes.size(); ++j) {
      const auto& n = region.nodes[j];
      nodes[j].setName(n.name);
      nodes[j].setRegionId(n.regionId);
      nodes[j].setHostName(n.hostName);
      nodes[j].setCertName(n.certName);
      nodes[j].setIpv4(n.ipv4);
      nodes[j].setIpv6(n.ipv6);
      nodes[j].setStunPort(n.stunPort);
      nodes[j].setStunOnly(n.stunOnly);
      nodes[j].setDerpPort(n.derpPort);
      nodes[j].setInsecureForTests(n.insecureForTests);
      nodes[j].setStunTestIp(n.stunTestIp);
      nodes[j].setCanPort80(n.canPort80);
    }
  }
}

void fillDns(schema::DnsConfig::Builder out, const DnsConfig& dns) {
  fillResolvers(out.initResolvers(static_cast<unsigned>(dns.resolvers.size())), dns.resolvers);
  auto routes = out.initRoutes(static_cast<unsigned>(dns.routes.size()));
  unsigned i = 0;
  for (const auto& [suffix, resolvers] : dns.routes) {
    routes[i].setSuffix(suffix);
    fillResolvers(routes[i].initResolvers(static_cast<unsigned>(resolvers.size())), resolvers);
    ++i;
  }
  fillResolvers(out.initFallbackResolvers(static_cast<unsigned>(dns.fallbackResolvers.size())),
                dns.fallbackResolvers);
  fillStrings(out.initDomains(static_cast<unsigned>(dns.domains.size())), dns.domains);
  out.setProxied(dns.proxied);
  fillStrings(out.initNameservers(static_cast<unsigned>(dns.nameservers.size())), dns.nameservers);
  fillStrings(out.initCertDomains(static_cast<unsigned>(dns.certDomains.size())), dns.certDomains);
  auto records = out.initExtraRecords(static_cast<unsigned>(dns.extraRecords.size()));
  for (unsigned j = 0; j < dns.extraRecords.size(); ++j) {
    records[j].setName(dns.extraRecords[j].name);
    records[j].setType(dns.extraRecords[j].type);
    records[j].setValue(dns.extraRecords[j].value);
  }
}

void fillRules(capnp::List<schema::FilterRule>::Builder list, const std::vector<FilterRule>& rules) {
  for (unsigned i = 0; i < rules.size(); ++i) {
    const auto& rule = rules[i];
    fillStrings(list[i].initSrcIps(static_cast<unsigned>(rule.srcIps.size())), rule.srcIps);
    auto dst = list[i].initDstPorts(static_cast<unsigned>(rule.dstPorts.size()));
    for (unsigned j = 0; j < rule.dstPorts.size(); ++j) {
      dst[j].setIp(rule.dstPorts[j].ip);
      dst[j].setBits(rule.dstPorts[j].bits);
      dst[j].setFirst(rule.dstPorts[j].first);
      dst[j].setLast(rule.dstPorts[j].last);
    }
    auto proto = list[i].initIpProto(static_cast<unsigned>(rule.ipProto.size()));
    for (unsigned j = 0; j < rule.ipProto.size(); ++j) proto.set(j, rule.ipProto[j]);
    list[i].setCapGrantJson(rule.capGrantJson);
  }
}

}  // namespace

void fillNode(schema::Node::Builder out, const Node& node) {
  out.setId(node.id);
  out.setStableId(node.stableId);
  out.setName(node.name);
  out.setUser(node.user);
  out.setSharer(node.sharer);
  out.setKey(node.key.toString());
  out.setHasKeyExpiry(node.keyExpiry.has_value());
  out.setKeyExpiryUnix(node.keyExpiry.value_or(0));
  out.setMachine(node.machine.toString());
  out.setDiscoKey(node.discoKey.isZero() ? std::string() : node.discoKey.toString());
  setPrefixes(out.initAddresses(static_cast<unsigned>(node.addresses.size())), node.addresses);
  const auto& allowed = node.effectiveAllowedIps();
  setPrefixes(out.initAllowedIps(static_cast<unsigned>(allowed.size())), allowed);
  fillTextList(out.initEndpoints(static_cast<unsigned>(node.endpoints.size())), node.endpoints,
               [](const ipn::IpAddrPort& ep) { return ep.toString(); });
  out.setHomeDerp(node.homeDerp);
  out.setHasHostinfo(node.hostinfo.has_value());
  if (node.hostinfo) fillHostinfo(out.initHostinfo(), *node.hostinfo);
  out.setHasCreated(node.created.has_value());
  out.setCreatedUnix(node.created.value_or(0));
  out.setHasLastSeen(node.lastSeen.has_value());
  out.setLastSeenUnix(node.lastSeen.value_or(0));
  out.setHasOnline(node.online.has_value());
  out.setOnline(node.online.value_or(false));
  out.setCap(node.cap);
  fillStrings(out.initTags(static_cast<unsigned>(node.tags.size())), node.tags);
  setPrefixes(out.initPrimaryRoutes(static_cast<unsigned>(node.primaryRoutes.size())), node.primaryRoutes);
  fillStrings(out.initCapabilities(static_cast<unsigned>(node.capabilities.size())), node.capabilities);
  out.setMachineAuthorized(node.machineAuthorized);
  out.setExpired(node.expired);
  out.setIsWireGuardOnly(node.isWireGuardOnly);
  out.setHostinfoJson(node.hostinfoJson);
}

void fillNetmap(schema::Netmap::Builder out, const NetworkMap& nm) {
  out.setGeneration(nm.generation);
  fillNode(out.initSelf(), nm.self);
  auto peers = out.initPeers(static_cast<unsigned>(nm.peers.size()));
  for (unsigned i = 0; i < nm.peers.size(); ++i) fillNode(peers[i], nm.peers[i]);
  fillDerpMap(out.initDerpMap(), nm.derpMap);
  out.setHasDns(nm.dns.has_value());
  if (nm.dns) fillDns(out.initDns(), *nm.dns);
  out.setPacketFilterKnown(nm.packetFilterKnown);
  fillRules(out.initPacketFilter(static_cast<unsigned>(nm.packetFilter.size())), nm.packetFilter);
  auto profiles = out.initUserProfiles(static_cast<unsigned>(nm.userProfiles.size()));
  unsigned i = 0;
  for (const auto& [id, profile] : nm.userProfiles) {
    profiles[i].setId(profile.id);
    profiles[i].setLoginName(profile.loginName);
    profiles[i].setDisplayName(profile.displayName);
    profiles[i].setProfilePicUrl(profile.profilePicUrl);
    ++i;
  }
  out.setDomain(nm.domain);
  fillStrings(out.initHealth(static_cast<unsigned>(nm.health.size())), nm.health);
  out.setHasCollectServices(nm.collectServices.has_value());
  out.setCollectServices(nm.collectServices.value_or(false));
  out.setControlTimeUnix(nm.controlTime.value_or(0));
}

}  // namespace tnet::controld
