#include "services/ipnd/app/capnp_facts.h"

namespace tnet::ipnd {

namespace {

std::vector<std::string> texts(capnp::List<capnp::Text>::Reader l) {
  std::vector<std::string> out;
  out.reserve(l.size());
  for (auto t : l) out.emplace_back(t.cStr());
  return out;
}

NodeFacts nodeFacts(schema::Node::Reader n) {
  NodeFacts f;
  f.id = n.getId();
  f.stableId = n.getStableId().cStr();
  f.name = n.getName().cStr();
  f.userId = n.getUser();
  f.key = n.getKey().cStr();
  f.discoKey = n.getDiscoKey().cStr();
  f.addresses = texts(n.getAddresses());
  f.allowedIps = texts(n.getAllowedIps());
  f.endpoints = texts(n.getEndpoints());
  f.homeDerp = n.getHomeDerp();
  f.hasHostinfo = n.getHasHostinfo();
  if (f.hasHostinfo) {
    f.hostname = n.getHostinfo().getHostname().cStr();
    f.os = n.getHostinfo().getOs().cStr();
  }
  if (n.getHasOnline()) f.online = n.getOnline();
  if (n.getHasLastSeen()) f.lastSeenUnix = n.getLastSeenUnix();
  if (n.getHasCreated()) f.createdUnix = n.getCreatedUnix();
  if (n.getHasKeyExpiry()) f.keyExpiryUnix = n.getKeyExpiryUnix();
  f.expired = n.getExpired();
  f.tags = texts(n.getTags());
  f.sharerId = n.getSharer();
  f.machine = n.getMachine().cStr();
  f.cap = n.getCap();
  f.primaryRoutes = texts(n.getPrimaryRoutes());
  f.capabilities = texts(n.getCapabilities());
  f.machineAuthorized = n.getMachineAuthorized();
  f.isWireGuardOnly = n.getIsWireGuardOnly();
  f.hostinfoJson = n.getHostinfoJson().cStr();
  return f;
}

}  // namespace

std::string magicDnsSuffixOf(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  auto dot = name.find('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

NetmapFacts netmapFacts(schema::Netmap::Reader nm, int64_t nowUnix) {
  NetmapFacts f;
  NodeFacts self = nodeFacts(nm.getSelf());
  f.machineAuthorized = nm.getSelf().getMachineAuthorized();
  f.keyExpired = self.expired || (self.keyExpiryUnix && *self.keyExpiryUnix != 0 && *self.keyExpiryUnix < nowUnix);
  f.tailscaleIps = singleIps(self.addresses);
  f.selfDnsName = self.name;
  f.selfStableId = self.stableId;
  f.tailnetName = nm.getDomain().cStr();
  f.magicDnsSuffix = magicDnsSuffixOf(self.name);
  f.magicDnsEnabled = nm.getHasDns() && nm.getDns().getProxied();
  f.self = std::move(self);
  for (auto p : nm.getPeers()) f.peers.push_back(nodeFacts(p));
  for (auto u : nm.getUserProfiles()) {
    ipn::UserProfile up;
    up.id = u.getId();
    up.loginName = u.getLoginName().cStr();
    up.displayName = u.getDisplayName().cStr();
    up.profilePicUrl = u.getProfilePicUrl().cStr();
    f.users.push_back(std::move(up));
  }
  for (auto r : nm.getDerpMap().getRegions()) {
    f.derpRegionCodes[r.getRegionId()] = r.getRegionCode().cStr();
    f.derpRegionNames[r.getRegionId()] = r.getRegionName().cStr();
  }
  return f;
}

ControlStatusFacts controlStatusFacts(schema::ControlStatus::Reader st, uint64_t epoch) {
  ControlStatusFacts f;
  f.epoch = epoch;
  f.reconnecting = st.getPhase() == schema::ControlStatus::Phase::RECONNECTING;
  f.authUrl = st.getAuthUrl().cStr();
  f.loggedInNodePublic = st.getLoggedInNodePublic().cStr();
  f.loginFinishedCount = st.getLoginFinishedCount();
  f.nodeKeyExpired = st.getNodeKeyExpired();
  f.lastError = st.getLastError().cStr();
  f.mapConnected = st.getMapConnected();
  return f;
}

DerpFacts derpFacts(schema::DerpState::Reader d) {
  DerpFacts f;
  f.homeRegion = d.getHomeRegion();
  for (auto c : d.getConns()) {
    if (c.getConnected()) ++f.connectedRegions;
  }
  for (auto e : d.getEndpoints()) f.endpoints.emplace_back(e.getAddr().cStr());
  return f;
}

NetcheckFacts netcheckFacts(schema::NetcheckReport::Reader r) {
  NetcheckFacts f;
  f.udp = r.getUdp();
  f.ipv4 = r.getIpv4();
  f.ipv6 = r.getIpv6();
  f.globalV4 = r.getGlobalV4().cStr();
  f.globalV6 = r.getGlobalV6().cStr();
  f.mappingVariesByDestIp = r.getMappingVariesByDestIp();
  f.hairPinning = r.getHairPinning();
  f.captivePortal = r.getCaptivePortal();
  f.preferredDerp = r.getPreferredDerp();
  for (auto l : r.getRegionLatency()) f.regionLatency.emplace_back(l.getRegionId(), l.getLatencyNs());
  for (auto l : r.getRegionV4Latency()) f.regionV4Latency.emplace_back(l.getRegionId(), l.getLatencyNs());
  for (auto l : r.getRegionV6Latency()) f.regionV6Latency.emplace_back(l.getRegionId(), l.getLatencyNs());
  return f;
}

std::map<std::string, PathFacts> pathFacts(schema::Paths::Reader p) {
  std::map<std::string, PathFacts> out;
  for (auto e : p.getPeers()) {
    PathFacts f;
    f.curAddr = e.getCurAddr().cStr();
    f.relayRegion = e.getRelayRegion();
    f.rxBytes = e.getRxBytes();
    f.txBytes = e.getTxBytes();
    f.lastRxUnixMs = e.getLastRxUnixMs();
    f.lastTxUnixMs = e.getLastTxUnixMs();
    f.active = e.getActive();
    out[e.getNodePublic().cStr()] = std::move(f);
  }
  return out;
}

WgPeersUpdate wgPeersUpdate(schema::WgPeers::Reader p) {
  WgPeersUpdate u;
  u.full = p.getFull();
  for (auto e : p.getPeers()) {
    std::string key = e.getNodePublic().cStr();
    if (e.getRemoved()) {
      u.removed.push_back(std::move(key));
      continue;
    }
    WgPeerFacts f;
    f.lastHandshakeUnixNano = e.getLastHandshakeUnixNano();
    f.rxBytes = e.getRxBytes();
    f.txBytes = e.getTxBytes();
    f.state = e.getState().cStr();
    u.changed[key] = std::move(f);
  }
  return u;
}

}  // namespace tnet::ipnd
