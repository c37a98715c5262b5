// Go's LocalBackend.UpdateStatus for tailnetd: Self and Peer from the netmap, the data plane's
// per-peer facts from wgd.peers and magicsockd.paths, DERP region codes for Relay, the users.
// Whatever a service has not reported is absent (zero), with a Health line; never waited for.
#include "services/controld/core/go_time.h"
#include "services/ipnd/core/backend.h"

namespace tnet::ipnd {

namespace {

std::string goTimeSeconds(std::optional<int64_t> unix) {
  return controld::formatGoTime(unix);
}

}  // namespace

// Go's RFC 3339 with nanoseconds, trailing zeros trimmed (time.Time's MarshalJSON), in UTC.
std::string goTimeNanos(int64_t unixNano) {
  if (unixNano == 0) return std::string(ipn::GO_ZERO_TIME);
  int64_t sec = unixNano / 1000000000;
  int64_t ns = unixNano % 1000000000;
  if (ns < 0) {
    ns += 1000000000;
    --sec;
  }
  std::string t = controld::formatGoTime(sec);
  if (ns == 0) return t;
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%09lld", static_cast<long long>(ns));
  std::string f = frac;
  while (f.back() == '0') f.pop_back();
  return t.substr(0, t.size() - 1) + f + "Z";
}

std::vector<std::string> singleIps(const std::vector<std::string>& prefixes) {
  std::vector<std::string> out;
  for (const auto& p : prefixes) {
    auto slash = p.find('/');
    if (slash == std::string::npos) continue;
    std::string bits = p.substr(slash + 1);
    std::string addr = p.substr(0, slash);
    bool v6 = addr.find(':') != std::string::npos;
    if (bits == (v6 ? "128" : "32")) out.push_back(addr);
  }
  return out;
}


ipn::Status Backend::status(bool wantPeers) const {
  ipn::Status s;
  s.version = options_.version;
  s.tun = false;
  s.backendState = std::string(ipn::stateName(state_));
  s.haveNodeKey = haveNodeKey();
  s.authUrl = authUrl_;
  s.health = healthLines();
  ipn::PeerStatus self;
  self.os = "linux";
  if (nodePublicKey_) self.publicKey = *nodePublicKey_;
  self.hostName = prefs_.hostname.empty() ? options_.osHostname : prefs_.hostname;
  auto regionCode = [&](int32_t id) -> std::string {
    if (!netmap_ || id == 0) return "";
    auto it = netmap_->derpRegionCodes.find(id);
    return it == netmap_->derpRegionCodes.end() ? std::string() : it->second;
  };
  if (derp_) {
    self.relay = regionCode(derp_->homeRegion);
    if (!derp_->endpoints.empty()) self.addrs = derp_->endpoints;
  }
  if (controlStatus_) self.online = controlStatus_->mapConnected;
  if (netmap_) {
    self.inNetworkMap = true;
    self.dnsName = netmap_->selfDnsName;
    self.id = netmap_->selfStableId;
    if (netmap_->self) {
      const NodeFacts& me = *netmap_->self;
      self.nodeId = me.id;
      self.userId = me.userId;
      if (!me.hostname.empty()) self.hostName = me.hostname;  // Go: the netmap's Hostinfo
      self.created = goTimeSeconds(me.createdUnix);
    }
    if (!netmap_->tailscaleIps.empty()) {
      s.tailscaleIps = netmap_->tailscaleIps;
      self.tailscaleIps = netmap_->tailscaleIps;
    }
    s.magicDnsSuffix = netmap_->magicDnsSuffix;
    s.currentTailnet = ipn::TailnetStatus{netmap_->tailnetName, netmap_->magicDnsSuffix, netmap_->magicDnsEnabled};
    if (!netmap_->users.empty()) {
      std::map<int64_t, ipn::UserProfile> users;
      for (const auto& u : netmap_->users) users[u.id] = u;
      s.user = std::move(users);
    }
    if (wantPeers) {
      std::map<std::string, ipn::PeerStatus> peers;
      for (const auto& n : netmap_->peers) {
        ipn::PeerStatus p;
        p.id = n.stableId;
        p.nodeId = n.id;
        p.publicKey = n.key;
        p.hostName = n.hostname;  // "" for a peer without Hostinfo, as Go
        p.dnsName = n.name;
        p.os = n.os;
        p.userId = n.userId;
        p.tailscaleIps = singleIps(n.addresses);
        if (!n.endpoints.empty()) p.addrs = n.endpoints;
        p.relay = regionCode(n.homeDerp);
        p.created = goTimeSeconds(n.createdUnix);
        p.lastSeen = goTimeSeconds(n.lastSeenUnix);
        p.online = n.online.value_or(false);
        p.inNetworkMap = true;
        if (auto it = wgPeers_.find(n.key); it != wgPeers_.end()) {
          p.inEngine = true;
          p.rxBytes = int64_t(it->second.rxBytes);
          p.txBytes = int64_t(it->second.txBytes);
          p.lastHandshake = goTimeNanos(it->second.lastHandshakeUnixNano);
        }
        if (auto it = paths_.find(n.key); it != paths_.end()) {
          p.inMagicSock = true;
          p.curAddr = it->second.curAddr;
          p.active = it->second.active;
          if (it->second.lastTxUnixMs != 0) p.lastWrite = goTimeNanos(it->second.lastTxUnixMs * 1000000);
          if (p.relay.empty()) p.relay = regionCode(it->second.relayRegion);
        }
        peers[n.key] = std::move(p);
      }
      s.peer = std::move(peers);
    }
  }
  s.self = std::move(self);
  return s;
}

}  // namespace tnet::ipnd
