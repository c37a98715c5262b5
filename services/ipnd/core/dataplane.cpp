// Facts from the data plane (wgd.peers, magicsockd.derp/paths/discokey): they feed Go's engine
// status (NumLive = peers with a handshake, LiveDERPs = connected DERP regions), Notify.Engine,
// status and the configs.
#include "services/ipnd/core/backend.h"

namespace tnet::ipnd {

void Backend::onWgPeers(bool full, const std::map<std::string, WgPeerFacts>& changed,
                        const std::vector<std::string>& removed) {
  if (full) wgPeers_.clear();
  for (const auto& [key, f] : changed) wgPeers_[key] = f;
  for (const auto& key : removed) wgPeers_.erase(key);
  updateEngineFacts();
}

void Backend::onPaths(std::map<std::string, PathFacts> paths) {
  paths_ = std::move(paths);
}

void Backend::onDerp(std::optional<DerpFacts> derp) {
  bool changed = derp.has_value() != derp_.has_value() ||
                 (derp && (derp->homeRegion != derp_->homeRegion || derp->endpoints != derp_->endpoints));
  derp_ = std::move(derp);
  if (changed) configDirty_ = true;  // controld reports endpoints and the preferred DERP
  updateEngineFacts();
}

void Backend::onDiscoKey(std::string discoPublic) {
  if (discoPublic == discoPublic_) return;
  discoPublic_ = std::move(discoPublic);
  configDirty_ = true;
}

ipn::EngineStatus Backend::engineStatus() const {
  ipn::EngineStatus e;
  for (const auto& [key, p] : wgPeers_) {
    e.rBytes += int64_t(p.rxBytes);
    e.wBytes += int64_t(p.txBytes);
    if (p.lastHandshakeUnixNano != 0) ++e.numLive;
  }
  e.liveDerps = derp_ ? derp_->connectedRegions : 0;
  return e;
}

void Backend::updateEngineFacts() {
  ipn::EngineStatus e = engineStatus();
  numLivePeers_ = e.numLive;
  liveDerps_ = e.liveDerps;
  if (e.rBytes != lastEngine_.rBytes || e.wBytes != lastEngine_.wBytes || e.numLive != lastEngine_.numLive ||
      e.liveDerps != lastEngine_.liveDerps) {
    lastEngine_ = e;
    ipn::Notify n = baseNotify();
    n.engine = e;  // only watchers with NotifyWatchEngineUpdates get it (apid filters)
    send(std::move(n));
  }
  stateMachine();
}

bool Backend::engineConfigured() const {
  return prefs_.wantRunning && !prefs_.loggedOut && netmap_.has_value() && haveNodeKey() &&
         !facts().keyExpired;
}

}  // namespace tnet::ipnd
