#include "services/magicsockd/app/magicsock.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdlib>
#include <random>
#include <set>

#include "libs/crypto/crypto.h"
#include "schemas/common.capnp.h"
#include "schemas/controld.capnp.h"
#include "schemas/netmap.capnp.h"
#include "schemas/wgd.capnp.h"

namespace tnet::magicsockd {

namespace {

double uniform01() {
  uint64_t v;
  crypto::randomBytes(MutableByteSpan(reinterpret_cast<uint8_t*>(&v), sizeof v));
  return double(v >> 11) * (1.0 / double(uint64_t(1) << 53));
}

bool envIsTrue(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return false;
  std::string s(v);
  return s == "1" || s == "true" || s == "TRUE" || s == "True" || s == "t" || s == "T";
}

}  // namespace

MonoTime monoNow() {
  return MonoTime(std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now().time_since_epoch()));
}

int64_t unixMsNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Magicsock::Magicsock(service::Service& service, const Flags& flags)
    : service_(service),
      bus_(service.bus()),
      loop_(service.loop()),
      log_(service.log()),
      flags_(flags),
      derpPolicy_(uniform01) {}

Magicsock::~Magicsock() {
  closeAllDerp("shutdown");
  log_.info(
      "magicsock.drops udp_unknown={} udp_geneve={} stun_unsolicited={} disco_unknown_sender={} "
      "disco_bad_box={} "
      "disco_wrong_derp_src={} disco_rejected={} derp_unknown_peer={} derp_not_connected={} to_wgd={} "
      "from_wgd_malformed={} from_wgd_unknown_peer={} no_path={} udp_trunc={}",
      drops_.udpUnknownKind, drops_.udpGeneve, drops_.stunUnsolicited, drops_.discoUnknownSender,
      drops_.discoBadBox, drops_.discoWrongDerpSource, drops_.discoRejected, drops_.derpFromUnknownPeer,
      drops_.derpNotConnected, drops_.toWgdDropped, drops_.fromWgdMalformed, drops_.fromWgdUnknownPeer,
      drops_.noPath, udp4_.stats().rxTruncated + udp6_.stats().rxTruncated);
}

Result<void> Magicsock::start() {
  // The disco key must never reach a core dump or a ptrace-attached sibling.
  rlimit zero{0, 0};
  setrlimit(RLIMIT_CORE, &zero);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  crypto::init();
  discoKey_ = key::DiscoPrivate::generate();
  discoPublic_ = discoKey_.publicKey();
  omitLocalAddrs_ = envIsTrue("TS_DEBUG_OMIT_LOCAL_ADDRS");
  derpPlainHttp_ = envIsTrue("TS_DEBUG_USE_DERP_HTTP");

  TNET_TRY_VOID(udp4_.open(Family::V4, flags_.port));
  if (auto r = udp6_.open(Family::V6, udp4_.port()); !r) {
    log_.info("magicsock.udp6 unavailable err={}", log::quote(r.error().message));
  }
  if (const char* b = std::getenv("TNET_BENCH_UDP_BATCH"); b && std::string(b) == "1") {
    // bench/magicsock's unbatched mode: one datagram per recvmmsg/sendmmsg.
    udp4_.setBatching(false);
    udp6_.setBatching(false);
  }
  udp4Watch_ = loop_.watchFd(udp4_.fd(), [this] { onUdpReadable(udp4_); });
  if (udp6_.isOpen()) udp6Watch_ = loop_.watchFd(udp6_.fd(), [this] { onUdpReadable(udp6_); });
  log_.info("magicsock.listen port={} port6={} requested={} omit_local_addrs={} derp_http={}", udp4_.port(),
            udp6_.isOpen() ? udp6_.port() : 0, flags_.port, omitLocalAddrs_, derpPlainHttp_);

  const auto backend = bus::defaultPipeBackend();
  TNET_TRY(toWgd_, bus::openPipeSender(bus_, backend, "wgd"));
  TNET_TRY(fromWgd_, bus::openPipeReceiver(
                         bus_, backend, "wgd",
                         [this](std::span<const std::span<const uint8_t>> packets) { onWgdBatch(packets); }));

  bus_.serve("magicsockd.setConfig", [this](bus::Request req) { onSetConfig(std::move(req)); });
  bus_.serve("magicsockd.netcheck", [this](bus::Request req) {
    if (!haveConfig_ || derpMap_.regions.empty()) return req.fail(Error::failed("no DERP map yet"));
    startNetcheck(true, req);
  });
  bus_.serve("magicsockd.ping", [this](bus::Request req) { onPingRequest(std::move(req)); });
  bus_.subscribe("wgd.nodekey", [this](const bus::Event& ev) { onNodeKey(ev); });
  bus_.subscribe("wgd.discoAdvert", [this](const bus::Event& ev) { onDiscoAdvert(ev); });
  bus_.subscribe("ipnd.state", [](const bus::Event&) {});

  bus_.publish("magicsockd.discokey", [&](capnp::AnyPointer::Builder b) {
    b.initAs<schema::DiscoKey>().setDiscoPublic(discoPublic_.toString());
  });
  refreshEndpoints();
  publishDerpState();
  publishPaths();
  pathsTimer_ = loop_.every(std::chrono::seconds(1), [this] {
    if (pathsDirty_) publishPaths();
  });
  service_.setHealth(service::HealthState::OK, "waiting for configuration");
  return {};
}

void Magicsock::onSetConfig(bus::Request req) {
  auto cfg = req.params<schema::MagicsockConfig>();
  // Validate everything before changing anything.
  struct NewPeer {
    key::NodePublic node;
    key::DiscoPublic disco;
    std::vector<wire::IpPort> endpoints;
    int home;
  };
  std::vector<NewPeer> newPeers;
  std::set<key::NodePublic> seen;
  for (auto p : cfg.getPeers()) {
    auto node = key::NodePublic::parse(std::string(p.getNodePublic()));
    if (!node || node->isZero()) return req.fail(Error::invalid("peer nodePublic is not a node key"));
    if (!seen.insert(*node).second) {
      // A repeated peer would take the first one's moved-from slot below; the first entry wins.
      log_.warn("magicsock.config duplicate_peer={}", node->shortString());
      continue;
    }
    key::DiscoPublic dk;
    if (p.getDiscoPublic().size() > 0) {
      auto d = key::DiscoPublic::parse(std::string(p.getDiscoPublic()));
      if (!d) return req.fail(Error::invalid("peer discoPublic is not a disco key"));
      dk = *d;
    }
    NewPeer np{*node, dk, {}, p.getHomeDerp()};
    for (auto e : p.getEndpoints()) {
      auto ipp = wire::IpPort::parse(std::string(e));
      if (ipp) np.endpoints.push_back(*ipp);  // Go skips endpoints it cannot parse
    }
    newPeers.push_back(std::move(np));
  }
  magicsock::DerpMap dm;
  std::map<int, std::vector<DerpNodeDial>> dial;
  for (auto r : cfg.getDerpMap().getRegions()) {
    if (r.getRegionId() <= 0 || r.getRegionId() > 65535)
      return req.fail(Error::invalid("bad DERP region id"));
    magicsock::DerpRegion region;
    region.regionId = r.getRegionId();
    region.regionCode = r.getRegionCode();
    region.noMeasureNoHome = r.getNoMeasureNoHome();
    for (auto n : r.getNodes()) {
      magicsock::DerpNode node;
      node.name = n.getName();
      node.regionId = region.regionId;
      node.hostName = n.getHostName();
      node.ipv4 = n.getIpv4();
      node.ipv6 = n.getIpv6();
      node.stunPort = n.getStunPort();
      node.stunOnly = n.getStunOnly();
      node.stunTestIp = n.getStunTestIp();
      region.nodes.push_back(node);
      dial[region.regionId].push_back(DerpNodeDial{n.getName(), n.getHostName(), n.getCertName(), n.getIpv4(),
                                                   n.getIpv6(), n.getDerpPort(), n.getInsecureForTests(),
                                                   n.getStunOnly()});
    }
    dm.regions[region.regionId] = std::move(region);
  }

  auto now = monoNow();
  bool mapChanged = dial.size() != derpDial_.size();
  for (const auto& [id, nodes] : dial) {
    auto it = derpDial_.find(id);
    if (it == derpDial_.end() || it->second.size() != nodes.size()) {
      mapChanged = true;
      continue;
    }
    for (size_t i = 0; i < nodes.size(); ++i) {
      const auto& a = nodes[i];
      const auto& b = it->second[i];
      if (a.hostName != b.hostName || a.ipv4 != b.ipv4 || a.ipv6 != b.ipv6 || a.derpPort != b.derpPort ||
          a.certName != b.certName || a.insecureForTests != b.insecureForTests || a.stunOnly != b.stunOnly) {
        mapChanged = true;
      }
    }
  }
  derpMap_ = std::move(dm);
  if (mapChanged) {
    // Connections to regions whose nodes changed or vanished are stale.
    std::vector<int> stale;
    for (const auto& [id, c] : derps_) stale.push_back(id);
    for (int id : stale) closeDerp(id, "derp-map-changed", true);
  }
  derpDial_ = std::move(dial);

  // Peers. Their actions run only once peers_ and the indexes hold the new set: an action can
  // publish the paths, which walks peers_, and the kept peers' entries in the old map are
  // moved-from (null) until the swap.
  std::map<key::NodePublic, std::unique_ptr<Peer>> next;
  std::vector<std::pair<Peer*, std::vector<magicsock::Action>>> pending;
  for (auto& np : newPeers) {
    std::unique_ptr<Peer> peer;
    if (auto it = peers_.find(np.node); it != peers_.end() && it->second->disco == np.disco) {
      peer = std::move(it->second);
    } else {
      peer = std::make_unique<Peer>();
      peer->node = np.node;
      peer->disco = np.disco;
      peer->ep =
          std::make_unique<magicsock::PeerEndpoint>([](std::span<uint8_t> b) { crypto::randomBytes(b); });
    }
    peer->endpoints = np.endpoints;
    peer->homeDerp = np.home;
    std::vector<magicsock::Action> actions;
    // Without a disco key the peer is DERP only: no direct candidates to ping.
    peer->ep->setNetmap(now, peer->disco.isZero() ? std::vector<wire::IpPort>{} : np.endpoints,
                        uint16_t(std::clamp(np.home, 0, 65535)), actions);
    if (!actions.empty()) pending.emplace_back(peer.get(), std::move(actions));
    next[np.node] = std::move(peer);
  }
  peers_ = std::move(next);
  // Inbound UDP is attributed only to addresses disco proved (a ping from there, or the path a
  // pong confirmed), as Go's peerMap does; netmap endpoints alone never tag a packet.
  std::set<const Peer*> kept;
  byDisco_.clear();
  for (auto& [k, p] : peers_) {
    kept.insert(p.get());
    if (!p->disco.isZero()) byDisco_[p->disco] = p.get();
  }
  std::erase_if(byAddr_, [&](const auto& e) { return !kept.count(e.second); });
  for (auto& [peer, actions] : pending) runActions(*peer, actions);

  bool wasRunning = wantRunning_;
  wantRunning_ = cfg.getWantRunning();
  haveConfig_ = true;
  if (!wantRunning_) {
    closeAllDerp("not-running");
    derpPolicy_ = magicsock::DerpConnectionPolicy(uniform01);
    reStunTimer_.reset();
    netcheck_.reset();
    service_.setHealth(service::HealthState::OK, "stopped (wantRunning=false)");
  } else {
    if (derpPolicy_.home() == 0 || !derpMap_.regions.count(derpPolicy_.home())) {
      // A home before the first report, so DERP works at once (Go's pickDERPFallback).
      std::mt19937 rng(std::random_device{}());
      int home = magicsock::chooseHomeRegion(lastReport_ ? lastReport_->preferredDerp : 0, 0, true, derpMap_,
                                             [&](size_t n) { return size_t(rng() % n); });
      setHome(home);
    }
    if (mapChanged || !wasRunning) startNetcheck(true, std::nullopt);
    service_.setHealth(service::HealthState::OK, "running");
  }
  schedulePeerTimer();
  markPathsDirty(true);
  publishDerpState();
  log_.info("magicsock.config gen={} peers={} regions={} want_running={}", cfg.getGeneration().getN(),
            peers_.size(), derpMap_.regions.size(), wantRunning_);
  auto gen = cfg.getGeneration();
  req.reply([&](capnp::AnyPointer::Builder b) {
    auto ack = b.initAs<schema::ConfigAck>().initApplied();
    ack.setEpoch(gen.getEpoch());
    ack.setN(gen.getN());
  });
}

void Magicsock::onNodeKey(const bus::Event& ev) {
  auto st = ev.as<schema::NodeKeyState>();
  auto cur = key::NodePublic::parse(std::string(st.getCurrent()));
  key::NodePublic next = cur ? *cur : key::NodePublic();
  uint64_t commits = st.getCommits();
  bool changed = !nodeKeyCommits_ || *nodeKeyCommits_ != commits || next != nodePublic_;
  bool hadKey = !nodePublic_.isZero();
  nodePublic_ = next;
  nodeKeyCommits_ = commits;
  if (!changed) return;
  log_.info("magicsock.nodekey key={} commits={}", nodePublic_.shortString(), commits);
  if (hadKey) closeAllDerp("node-key-changed");  // every DERP login was for the old key
  if (!nodePublic_.isZero() && wantRunning_ && derpPolicy_.home() != 0) {
    std::vector<magicsock::DerpAction> actions;
    derpPolicy_.noteWrite(monoNow(), derpPolicy_.home(), actions);
    applyDerpActions(actions);
    scheduleDerpTimer();
  }
}

void Magicsock::onDiscoAdvert(const bus::Event& ev) {
  auto adv = ev.as<schema::DiscoAdvert>();
  auto node = key::NodePublic::parse(std::string(adv.getFromNodePublic()));
  auto dk = key::DiscoPublic::parse(std::string(adv.getDiscoPublic()));
  if (!node || !dk) return;
  auto it = peers_.find(*node);
  if (it == peers_.end() || it->second->disco == *dk) return;
  // A TSMP advertisement authenticated by WireGuard: the peer restarted with a new disco key.
  Peer& p = *it->second;
  log_.info("magicsock.disco_advert peer={} disco={}", p.node.shortString(), dk->shortString());
  if (!p.disco.isZero()) byDisco_.erase(p.disco);
  p.disco = *dk;
  byDisco_[p.disco] = &p;
  p.ep = std::make_unique<magicsock::PeerEndpoint>([](std::span<uint8_t> b) { crypto::randomBytes(b); });
  std::vector<magicsock::Action> actions;
  p.ep->setNetmap(monoNow(), p.endpoints, uint16_t(std::clamp(p.homeDerp, 0, 65535)), actions);
  runActions(p, actions);
  schedulePeerTimer();
}

void Magicsock::onPingRequest(bus::Request req) {
  auto params = req.params<schema::PingParams>();
  auto node = key::NodePublic::parse(std::string(params.getNodePublic()));
  auto fail = [&](const std::string& err) {
    req.reply([&](capnp::AnyPointer::Builder b) { b.initAs<schema::PingReply>().setErr(err); });
  };
  if (!node) return req.fail(Error::invalid("nodePublic is not a node key"));
  auto it = peers_.find(*node);
  if (it == peers_.end()) return fail("no matching peer");
  Peer& p = *it->second;
  if (p.disco.isZero()) return fail("peer has no disco key");
  magicsock::DiscoAddr to;
  auto path = p.ep->sendPath(monoNow());
  if (path.udp) {
    to = magicsock::DiscoAddr::viaUdp(*path.udp);
  } else {
    int region = path.derpRegion ? path.derpRegion : p.homeDerp;
    if (region == 0) return fail("no path to peer");
    to = magicsock::DiscoAddr::viaDerp(uint16_t(region));
  }
  disco::TxId tx;
  crypto::randomBytes(tx);
  auto w = std::make_unique<PingWaiter>(PingWaiter{req, monoNow(), to, {}});
  w->timeout = loop_.after(std::chrono::seconds(5), [this, tx] {
    auto wit = pingWaiters_.find(tx);
    if (wit == pingWaiters_.end()) return;
    wit->second->req.reply(
        [&](capnp::AnyPointer::Builder b) { b.initAs<schema::PingReply>().setErr("timeout"); });
    pingWaiters_.erase(wit);
  });
  pingWaiters_[tx] = std::move(w);
  sendDisco(p, to, disco::Ping{.txId = tx, .nodeKey = nodePublic_});
  flushAll();
}

std::string Magicsock::derpRegionCode(int region) const {
  auto it = derpMap_.regions.find(region);
  return it == derpMap_.regions.end() ? "" : it->second.regionCode;
}

void Magicsock::publishDerpState() {
  bus_.publish("magicsockd.derp", [&](capnp::AnyPointer::Builder b) {
    auto st = b.initAs<schema::DerpState>();
    st.setHomeRegion(derpPolicy_.home());
    st.setLocalPort(udp4_.port());
    std::set<int> regions;
    for (const auto& [id, c] : derps_) regions.insert(id);
    for (const auto& [id, e] : derpLastError_) regions.insert(id);
    auto conns = st.initConns(unsigned(regions.size()));
    unsigned i = 0;
    for (int id : regions) {
      auto c = conns[i++];
      c.setRegionId(id);
      auto it = derps_.find(id);
      c.setConnected(it != derps_.end() && it->second->connected());
      c.setHome(id == derpPolicy_.home());
      if (auto e = derpLastError_.find(id); e != derpLastError_.end()) c.setLastError(e->second);
      if (auto s = derpConnectedSinceMs_.find(id); s != derpConnectedSinceMs_.end())
        c.setConnectedSinceUnixMs(s->second);
    }
    auto eps = st.initEndpoints(unsigned(endpoints_.size()));
    for (unsigned k = 0; k < endpoints_.size(); ++k) {
      eps[k].setAddr(endpoints_[k].addr.toString());
      eps[k].setType(endpoints_[k].type);
    }
    st.setHasReport(lastReport_.has_value());
    if (lastReport_) fillReport(st.initReport(), *lastReport_);
  });
}

void Magicsock::markPathsDirty(bool now) {
  pathsDirty_ = true;
  if (!now || pathsPublishPosted_) return;
  pathsPublishPosted_ = true;
  loop_.post([this, alive = std::weak_ptr<int>(alive_)] {
    if (alive.expired()) return;
    pathsPublishPosted_ = false;
    if (pathsDirty_) publishPaths();
  });
}

void Magicsock::publishPaths() {
  pathsDirty_ = false;
  auto now = monoNow();
  bus_.publish("magicsockd.paths", [&](capnp::AnyPointer::Builder b) {
    auto paths = b.initAs<schema::Paths>();
    auto list = paths.initPeers(unsigned(peers_.size()));
    unsigned i = 0;
    for (const auto& [k, p] : peers_) {
      auto e = list[i++];
      e.setNodePublic(p->node.toString());
      if (p->path.direct()) {
        e.setCurAddr(p->path.udp->toString());
      } else {
        e.setRelayRegion(p->path.derpRegion ? p->path.derpRegion : p->homeDerp);
      }
      e.setLastPongRttNs(p->lastRtt.count());
      e.setRxBytes(p->rxBytes);
      e.setTxBytes(p->txBytes);
      e.setLastRxUnixMs(p->lastRxMs);
      e.setLastTxUnixMs(p->lastTxMs);
      e.setActive(p->lastTx != MonoTime::min() && now - p->lastTx < std::chrono::seconds(45));
    }
  });
}

Result<std::shared_ptr<void>> startApp(service::Service& service, const Flags& flags) {
  auto app = std::make_shared<Magicsock>(service, flags);
  TNET_TRY_VOID(app->start());
  return std::shared_ptr<void>(app);
}

}  // namespace tnet::magicsockd
