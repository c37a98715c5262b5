#include "services/controld/core/netmap.h"

#include <algorithm>

namespace tnet::controld {
namespace {

bool byId(const Node& a, const Node& b) { return a.id < b.id; }

std::vector<Node>::iterator findIn(std::vector<Node>& peers, NodeId id) {
  auto it = std::lower_bound(peers.begin(), peers.end(), id,
                             [](const Node& n, NodeId v) { return n.id < v; });
  return it != peers.end() && it->id == id ? it : peers.end();
}

// Sorted, unique by ID; on duplicates the later entry wins (Go assigns into a map in order).
void sortUnique(std::vector<Node>& peers) {
  std::stable_sort(peers.begin(), peers.end(), byId);
  std::vector<Node> out;
  out.reserve(peers.size());
  for (auto& n : peers) {
    if (!out.empty() && out.back().id == n.id) {
      out.back() = std::move(n);
    } else {
      out.push_back(std::move(n));
    }
  }
  peers = std::move(out);
}

Result<void> validateNode(const Node& n, std::string_view what) {
  if (n.id == 0) return Error::invalid(std::string(what) + " has ID 0");
  return {};
}

void applyPeers(NetworkMap& nm, MapResponse& r, int64_t now) {
  auto& peers = nm.peers;
  if (r.peers && !r.peers->empty()) {
    // A full list replaces the set and precludes every other peer delta in this message.
    peers = std::move(*r.peers);
    sortUnique(peers);
    return;
  }
  if (!r.peersRemoved.empty()) {
    std::vector<NodeId> gone = r.peersRemoved;
    std::sort(gone.begin(), gone.end());
    peers.erase(std::remove_if(peers.begin(), peers.end(),
                               [&](const Node& n) {
                                 return std::binary_search(gone.begin(), gone.end(), n.id);
                               }),
                peers.end());
  }
  if (r.peersChanged && !r.peersChanged->empty()) {
    bool appended = false;
    for (auto& n : *r.peersChanged) {
      auto it = findIn(peers, n.id);
      if (it != peers.end() && !appended) {
        *it = std::move(n);
      } else {
        peers.push_back(std::move(n));
        appended = true;  // the vector is unsorted until sortUnique below
      }
    }
    if (appended) sortUnique(peers);
  }
  for (const auto& [id, seen] : r.peerSeenChange) {
    auto it = findIn(peers, id);
    if (it == peers.end()) continue;
    if (seen) {
      it->lastSeen = now;
    } else {
      it->lastSeen.reset();
    }
  }
  for (const auto& [id, online] : r.onlineChange) {
    auto it = findIn(peers, id);
    if (it != peers.end()) it->online = online;
  }
  for (auto& pc : r.peersChangedPatch) {
    auto it = findIn(peers, pc.nodeId);
    if (it == peers.end()) continue;  // Go ignores patches for unknown peers
    Node& n = *it;
    if (pc.derpRegion != 0) n.homeDerp = pc.derpRegion;
    if (pc.cap != 0) n.cap = pc.cap;
    if (pc.endpoints) n.endpoints = std::move(*pc.endpoints);
    if (pc.key) n.key = *pc.key;
    if (pc.discoKey) n.discoKey = *pc.discoKey;
    if (pc.online) n.online = *pc.online;
    if (pc.lastSeen) n.lastSeen = *pc.lastSeen;
    if (pc.keyExpiry) n.keyExpiry = *pc.keyExpiry;
    if (pc.keySignature) n.keySignature = std::move(*pc.keySignature);
    if (pc.capMap) n.capMap = std::move(*pc.capMap);
  }
}

void applyDerp(NetworkMap& nm, DerpMap dm, bool hadMap) {
  if (hadMap) {
    if (!dm.regions) {
      dm.regions = std::move(nm.derpMap.regions);
      dm.omitDefaultRegions = nm.derpMap.omitDefaultRegions;
    }
    if (!dm.homeParams) {
      dm.homeParams = std::move(nm.derpMap.homeParams);
    } else if (nm.derpMap.homeParams && !dm.homeParams->regionScore) {
      dm.homeParams->regionScore = std::move(nm.derpMap.homeParams->regionScore);
    }
  }
  if (!dm.regions) dm.regions.emplace();
  nm.derpMap = std::move(dm);
}

void applyFilters(NetworkMap& nm, MapResponse& r) {
  bool changed = false;
  if (r.packetFilter) {
    nm.filterChunks["base"] = std::move(*r.packetFilter);
    changed = true;
  }
  if (r.packetFilters) {
    changed = true;
    auto& m = *r.packetFilters;
    auto star = m.find("*");
    if (star != m.end() && !star->second) nm.filterChunks.clear();
    for (auto& [name, rules] : m) {
      if (name == "*") continue;
      if (rules) {
        nm.filterChunks[name] = std::move(*rules);
      } else {
        nm.filterChunks.erase(name);
      }
    }
  }
  if (!changed) return;
  nm.packetFilterKnown = true;
  nm.packetFilter.clear();
  for (const auto& [name, rules] : nm.filterChunks) {  // std::map: sorted names
    nm.packetFilter.insert(nm.packetFilter.end(), rules.begin(), rules.end());
  }
}

bool hasMapFields(const MapResponse& r) {
  return r.node || r.derpMap || r.peers || r.peersChanged || !r.peersRemoved.empty() ||
         !r.peersChangedPatch.empty() || !r.peerSeenChange.empty() || !r.onlineChange.empty() ||
         r.dnsConfig || !r.domain.empty() || r.packetFilter || r.packetFilters ||
         !r.userProfiles.empty() || r.health || r.collectServices;
}

}  // namespace

const Node* NetworkMap::findPeer(NodeId id) const {
  auto it = std::lower_bound(peers.begin(), peers.end(), id,
                             [](const Node& n, NodeId v) { return n.id < v; });
  return it != peers.end() && it->id == id ? &*it : nullptr;
}

Result<ApplyOutcome> MapSession::apply(MapResponse r, int64_t nowUnix) {
  ApplyOutcome out;
  if (!r.mapSessionHandle.empty()) sessionHandle_ = r.mapSessionHandle;
  if (r.seq != 0) seq_ = r.seq;
  const bool mapFields = hasMapFields(r);
  if (!mapFields && !r.pingRequest && r.popBrowserUrl.empty()) {
    out.keepAliveOnly = true;
    return out;
  }
  if (!have_ && mapFields && !r.node) return Error::invalid("initial MapResponse lacked node");

  // Validate everything before touching the map, so a bad response changes nothing.
  if (r.node) TNET_TRY_VOID(validateNode(*r.node, "self node"));
  if (r.node && r.node->key.isZero()) return Error::invalid("self node has no Key");
  for (const auto* list : {&r.peers, &r.peersChanged}) {
    if (!*list) continue;
    for (const auto& n : **list) TNET_TRY_VOID(validateNode(n, "peer"));
  }
  if (r.derpMap && r.derpMap->regions) {
    for (const auto& [id, region] : *r.derpMap->regions) {
      if (region.regionId != 0 && region.regionId != id) {
        return Error::invalid("DERP region " + std::to_string(id) + " has RegionID " +
                              std::to_string(region.regionId));
      }
    }
  }

  if (r.pingRequest && !r.pingRequest->url.empty() && r.pingRequest->url != lastPingUrl_) {
    lastPingUrl_ = r.pingRequest->url;
    out.ping = std::move(r.pingRequest);
  }
  if (!r.popBrowserUrl.empty() && r.popBrowserUrl != lastPopUrl_) {
    lastPopUrl_ = r.popBrowserUrl;
    out.popBrowserUrl = r.popBrowserUrl;
  }

  if (!mapFields) return out;

  // Order as Go's updateStateFromResponse: peers, self, profiles, DERP, filters, DNS, the rest.
  applyPeers(nm_, r, nowUnix);
  if (r.node) nm_.self = std::move(*r.node);
  for (auto& up : r.userProfiles) nm_.userProfiles[up.id] = std::move(up);
  if (r.derpMap) applyDerp(nm_, std::move(*r.derpMap), nm_.derpMap.regions.has_value());
  applyFilters(nm_, r);
  if (r.dnsConfig) nm_.dns = std::move(r.dnsConfig);
  if (!r.domain.empty()) nm_.domain = r.domain;
  if (r.collectServices) nm_.collectServices = r.collectServices;
  if (r.health) nm_.health = std::move(*r.health);
  if (r.controlTime) nm_.controlTime = r.controlTime;

  have_ = true;
  ++nm_.generation;
  out.changed = true;
  return out;
}

}  // namespace tnet::controld
