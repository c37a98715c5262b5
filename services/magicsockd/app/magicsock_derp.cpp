// DERP: the connection policy (core/derp_policy.h) drives DerpClients; the ClientInfo is sealed
// by wgd (wgd.derpClientInfo), so the node private key never enters this process.
#include "schemas/wgd.capnp.h"
#include "services/magicsockd/app/magicsock.h"

namespace tnet::magicsockd {

void Magicsock::applyDerpActions(std::vector<magicsock::DerpAction>& actions) {
  for (auto& a : actions) {
    if (auto* c = std::get_if<magicsock::ConnectRegion>(&a)) {
      openDerp(c->region);
    } else if (auto* cl = std::get_if<magicsock::CloseRegion>(&a)) {
      closeDerp(cl->region, cl->reason, false);
    } else if (auto* np = std::get_if<magicsock::SendNotePreferred>(&a)) {
      if (auto it = derps_.find(np->region); it != derps_.end()) it->second->notePreferred(np->preferred);
    }
  }
  actions.clear();
  scheduleDerpTimer();
}

void Magicsock::openDerp(int region) {
  auto dial = derpDial_.find(region);
  if (dial == derpDial_.end()) {
    derpPolicy_.noteDisconnected(monoNow(), region);
    return;
  }
  if (auto it = derps_.find(region); it != derps_.end()) it->second->close();
  DerpClientCallbacks cb;
  cb.sealClientInfo = [this](const derp::NodePublic& server, std::function<void(Result<Bytes>)> done) {
    sealClientInfo(server, std::move(done));
  };
  cb.onConnected = [this, region] {
    auto now = monoNow();
    lastDerpActivity_[region] = now;
    derpLastError_.erase(region);
    derpConnectedSinceMs_[region] = unixMsNow();
    log_.info("magicsock.derp_connected region={} node={} home={}", region, derps_[region]->nodeName(),
              region == derpPolicy_.home());
    std::vector<magicsock::DerpAction> actions;
    derpPolicy_.noteConnected(now, region, actions);
    applyDerpActions(actions);
    publishDerpState();
  };
  cb.onPacket = [this, region](const derp::RecvPacket& rp) {
    onDerpPacket(region, rp);
    flushAll();
  };
  cb.onPeerGone = [this, region](const derp::PeerGone& pg) {
    log_.debug("magicsock.derp_peer_gone region={} peer={} reason={}", region, pg.peer.shortString(),
               int(pg.reason));
  };
  cb.onFrame = [this, region] {
    auto now = monoNow();
    derpPolicy_.noteRead(now, region);
    lastDerpActivity_[region] = now;
  };
  cb.onClosed = [this, region](const std::string& why) {
    // Runs inside the client's completion handler: keep the object alive until it returns.
    auto it = derps_.find(region);
    if (it == derps_.end()) return;
    auto keep = it->second;
    derps_.erase(it);
    derpConnectedSinceMs_.erase(region);
    derpLastError_[region] = why;
    log_.warn("magicsock.derp_closed region={} err={}", region, log::quote(why));
    derpPolicy_.noteDisconnected(monoNow(), region);
    scheduleDerpTimer();
    publishDerpState();
    loop_.post([keep] {});
  };
  auto client = std::make_shared<DerpClient>(loop_, region, dial->second, derpPlainHttp_, std::move(cb));
  derps_[region] = client;
  client->connect();
}

void Magicsock::closeDerp(int region, const std::string& why, bool notifyPolicy) {
  auto it = derps_.find(region);
  if (it == derps_.end()) return;
  it->second->close();
  derps_.erase(it);
  derpConnectedSinceMs_.erase(region);
  log_.info("magicsock.derp_close region={} reason={}", region, why);
  if (notifyPolicy) derpPolicy_.noteDisconnected(monoNow(), region);
}

void Magicsock::closeAllDerp(const std::string& why) {
  std::vector<int> ids;
  for (const auto& [id, c] : derps_) ids.push_back(id);
  for (int id : ids) closeDerp(id, why, true);
  if (!ids.empty()) {
    scheduleDerpTimer();
    publishDerpState();
  }
}

void Magicsock::scheduleDerpTimer() {
  auto next = derpPolicy_.nextDeadline();
  if (next == magicsock::NEVER) {
    derpTimer_.reset();
    return;
  }
  auto delay = next - monoNow();
  if (delay < Duration(0)) delay = Duration(0);
  derpTimer_ = loop_.after(delay, [this] {
    std::vector<magicsock::DerpAction> actions;
    derpPolicy_.tick(monoNow(), actions);
    // The policy reconnects the home by itself; without a node key there is nothing to log in with.
    if (nodePublic_.isZero() || !wantRunning_) {
      for (auto& a : actions) {
        if (auto* c = std::get_if<magicsock::ConnectRegion>(&a))
          derpPolicy_.noteDisconnected(monoNow(), c->region);
      }
      std::erase_if(actions,
                    [](const auto& a) { return std::holds_alternative<magicsock::ConnectRegion>(a); });
    }
    applyDerpActions(actions);
  });
}

void Magicsock::setHome(int region) {
  if (region == derpPolicy_.home()) return;
  log_.info("magicsock.home region={} was={}", region, derpPolicy_.home());
  std::vector<magicsock::DerpAction> actions;
  derpPolicy_.setHome(monoNow(), region, actions);
  if (nodePublic_.isZero() || !wantRunning_) {
    // Connect once a node key exists (onNodeKey); keep the policy's view consistent meanwhile.
    for (auto& a : actions) {
      if (auto* c = std::get_if<magicsock::ConnectRegion>(&a))
        derpPolicy_.noteDisconnected(monoNow(), c->region);
    }
    std::erase_if(actions, [](const auto& a) { return std::holds_alternative<magicsock::ConnectRegion>(a); });
  }
  applyDerpActions(actions);
  publishDerpState();
}

void Magicsock::sealClientInfo(const derp::NodePublic& serverPublic,
                               std::function<void(Result<Bytes>)> done) {
  bus_.call(
      "wgd", "wgd.derpClientInfo",
      [&](capnp::AnyPointer::Builder b) {
        auto p = b.initAs<schema::DerpClientInfoParams>();
        p.setServerPublic(capnp::Data::Reader(serverPublic.raw().data(), serverPublic.raw().size()));
      },
      std::chrono::seconds(5),
      [done = std::move(done)](Result<bus::Reply> r) {
        if (!r) return done(r.error());
        auto reply = r->as<schema::DerpClientInfoReply>();
        auto f = reply.getFrame();
        if (f.size() < 32 + 24 + 16) return done(Error::invalid("wgd returned a short ClientInfo"));
        done(Bytes(f.begin(), f.end()));
      });
}

}  // namespace tnet::magicsockd
