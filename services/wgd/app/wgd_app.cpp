// wgd's bus wiring: the node key store, the DataPath between the packet pipes, ipnd's config
// pushes and the events (ARCHITECTURE.md §Keys, §Packets; docs/wgd.md).
#include "services/wgd/app/wgd_app.h"

#include <capnp/message.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <chrono>
#include <map>

#include "libs/bus/data_pipe.h"
#include "libs/log/log.h"
#include "libs/service/follow.h"
#include "schemas/common.capnp.h"
#include "schemas/wgd.capnp.h"
#include "services/wgd/app/derp_client_info.h"
#include "services/wgd/app/node_key_store.h"
#include "services/wgd/core/data_path.h"

namespace tnet::wgd {

namespace {

using namespace std::chrono_literals;

constexpr auto PEERS_PERIOD = 1s;  // wgd.peers at most once a second
constexpr double CLIENT_INFO_PER_SECOND = 10, CLIENT_INFO_BURST = 10;
// wgd.ping: Go's engine forgets an unanswered TSMP/ICMP ping after 10 s; a caller may ask for
// less (ipnd cuts it to what apid still waits), never for more than a minute.
constexpr auto PING_DEFAULT_TIMEOUT = 10s;
constexpr auto PING_MAX_TIMEOUT = 60s;

wg::Now nowClocks() {
  return wg::Now{
      std::chrono::duration_cast<wg::Duration>(std::chrono::steady_clock::now().time_since_epoch()),
      std::chrono::duration_cast<wg::Duration>(std::chrono::system_clock::now().time_since_epoch())};
}

std::string nodeKeyText(const crypto::Key32& k) {
  return key::NodePublic(k).toString();
}

bool generationNewer(uint64_t epoch, uint64_t n, uint64_t curEpoch, uint64_t curN, bool haveCurrent) {
  if (!haveCurrent) return true;
  if (epoch != curEpoch) return epoch > curEpoch;
  return n > curN;
}

class WgdApp {
 public:
  WgdApp(service::Service& svc, NodeKeyStore store)
      : svc_(svc), store_(std::move(store)), clientInfoLimit_(CLIENT_INFO_PER_SECOND, CLIENT_INFO_BURST) {}

  Result<void> start() {
    auto& bus = svc_.bus();
    if (!store_.problem().empty())
      svc_.log().warn("nodekey.set_aside problem={}", log::quote(store_.problem()));
    if (store_.current()) createDataPath();
    const auto backend = bus::defaultPipeBackend();
    TNET_TRY(toMagicsock_, bus::openPipeSender(bus, backend, "magicsockd"));
    TNET_TRY(toNetstack_, bus::openPipeSender(bus, backend, "netstackd"));
    TNET_TRY(fromNetstack_, bus::openPipeReceiver(bus, backend, "netstackd",
                                                  [this](std::span<const std::span<const uint8_t>> packets) {
                                                    onBatch(packets, false);
                                                  }));
    TNET_TRY(fromMagicsock_, bus::openPipeReceiver(bus, backend, "magicsockd",
                                                   [this](std::span<const std::span<const uint8_t>> packets) {
                                                     onBatch(packets, true);
                                                   }));
    bus.serve("wgd.prepareNodeKey", [this](bus::Request req) { prepareNodeKey(req); });
    bus.serve("wgd.commitNodeKey", [this](bus::Request req) { commitNodeKey(req); });
    bus.serve("wgd.discardPendingKey", [this](bus::Request req) { discardPendingKey(req); });
    bus.serve("wgd.setConfig", [this](bus::Request req) { setConfig(req); });
    bus.serve("wgd.derpClientInfo", [this](bus::Request req) { derpClientInfo(req); });
    bus.serve("wgd.ping", [this](bus::Request req) { ping(std::move(req)); });
    // ipnd pushes configuration by request; its state only tells us when it restarted.
    service::followLogged(svc_, {"ipnd.state"});
    publishNodeKey();
    publishPeers(true);
    peersTimer_ = svc_.loop().every(PEERS_PERIOD, [this] {
      publishPeers(false);
      logDrops();
    });
    updateHealth();
    return {};
  }

 private:
  void createDataPath() {
    wg::DataPathOutput out{
        [this](ByteSpan frame) { toMagicsock_->push(frame); },
        [this](ByteSpan packet) { toNetstack_->push(packet); },
        [this](const crypto::Key32& from, const crypto::Key32& disco) { publishDiscoAdvert(from, disco); },
        [this](uint64_t token, uint16_t peerApiPort) { pingAnswered(token, peerApiPort); }};
    path_ = std::make_unique<wg::DataPath>(store_.current()->secret().raw(), std::move(out));
    applyPeers();
  }

  void updateHealth() {
    if (!path_) {
      svc_.setHealth(service::HealthState::OK, "no node key yet");
    } else if (!haveGeneration_) {
      svc_.setHealth(service::HealthState::OK, "waiting for configuration");
    } else {
      svc_.setHealth(service::HealthState::OK, "running peers=" + std::to_string(path_->peerCount()));
    }
  }

  // ---- packets ----------------------------------------------------------------------------
  void onBatch(std::span<const std::span<const uint8_t>> packets, bool fromMagicsock) {
    if (!path_) {
      droppedNoKey_ += packets.size();
      return;
    }
    const wg::Now now = nowClocks();
    for (auto p : packets) {
      if (fromMagicsock) {
        path_->fromMagicsock(p, now);
      } else {
        path_->fromNetstack(p, now);
      }
    }
    endPass();
  }

  // The end of a drain pass: flush both directions and make sure the protocol timer will run
  // in time for whatever the pass armed.
  void endPass() {
    if (toMagicsock_) toMagicsock_->flush();
    if (toNetstack_) toNetstack_->flush();
    noteActivity();
  }

  // Device::nextDeadline() looks at every peer, too much work for every batch of a busy node
  // with many peers. No timer hook arms a deadline closer than REKEY_TIMEOUT (5 s) from the
  // packet that armed it, so after activity it is enough to wake within RECHECK_AFTER_ACTIVITY
  // and compute the real deadline then: at most one full scan a second under traffic.
  static constexpr wg::Duration RECHECK_AFTER_ACTIVITY = 1s;
  static_assert(RECHECK_AFTER_ACTIVITY < wg::REKEY_TIMEOUT);

  void noteActivity() {
    const wg::Duration now = nowClocks().mono;
    if (timer_ && timerAt_ && *timerAt_ <= now + RECHECK_AFTER_ACTIVITY) return;
    scheduleTimer(now + RECHECK_AFTER_ACTIVITY);
  }

  // After a config or key change, or when the timer ran: the exact next deadline.
  void rearmTimer() {
    auto next = path_ ? path_->nextDeadline() : std::nullopt;
    if (!next) {
      timer_.reset();
      timerAt_.reset();
      return;
    }
    scheduleTimer(*next);
  }

  void scheduleTimer(wg::Duration at) {
    const wg::Duration delay = std::max(wg::Duration(0), at - nowClocks().mono);
    timerAt_ = at;
    timer_ = svc_.loop().after(delay + 1ms, [this] {
      timerAt_.reset();
      timer_.reset();
      if (path_) path_->tick(nowClocks());
      if (toMagicsock_) toMagicsock_->flush();
      if (toNetstack_) toNetstack_->flush();
      rearmTimer();
    });
  }

  // ---- node key ---------------------------------------------------------------------------
  void prepareNodeKey(bus::Request req) {
    auto pub = store_.prepare();
    if (!pub) return req.fail(pub.error());
    publishNodeKey();
    const std::string text = pub->toString();
    req.reply([&](capnp::AnyPointer::Builder b) { b.initAs<schema::NodeKey>().setNodePublic(text); });
  }

  void commitNodeKey(bus::Request req) {
    auto pub = key::NodePublic::parse(req.params<schema::NodeKey>().getNodePublic().cStr());
    if (!pub) return req.fail(Error::invalid("commitNodeKey: " + pub.error().message));
    auto changed = store_.commit(*pub);
    if (!changed) return req.fail(changed.error());
    if (*changed) {
      svc_.log().info("nodekey.commit key={} commits={}", pub->shortString(), store_.commits());
      if (path_) {
        path_->setPrivateKey(store_.current()->secret().raw());
        applyPeers();  // our own key may have been a peer's before
      } else {
        createDataPath();
      }
      rearmTimer();
      publishNodeKey();
      publishPeers(true);
      updateHealth();
    }
    req.replyEmpty();
  }

  void discardPendingKey(bus::Request req) {
    auto r = store_.discardPending();
    if (!r) return req.fail(r.error());
    publishNodeKey();
    req.replyEmpty();
  }

  void publishNodeKey() {
    const std::string current = store_.current() ? store_.currentPublic()->toString() : "";
    const std::string pending = store_.pending() ? store_.pendingPublic()->toString() : "";
    svc_.bus().publish("wgd.nodekey", [&](capnp::AnyPointer::Builder b) {
      auto s = b.initAs<schema::NodeKeyState>();
      s.setCurrent(current);
      s.setPending(pending);
      s.setCommits(store_.commits());
    });
  }

  // ---- DERP ClientInfo --------------------------------------------------------------------
  void derpClientInfo(bus::Request req) {
    if (!clientInfoLimit_.allow()) {
      return req.fail(Error::overloaded("derpClientInfo: rate limited"));
    }
    auto server = req.params<schema::DerpClientInfoParams>().getServerPublic();
    if (!store_.current()) return req.fail(Error::failed("derpClientInfo: no node key yet"));
    auto frame = sealDerpClientInfo(store_.current()->secret(), ByteSpan(server.begin(), server.size()));
    if (!frame) return req.fail(frame.error());
    const std::string pub = store_.currentPublic()->toString();
    req.reply([&](capnp::AnyPointer::Builder b) {
      auto r = b.initAs<schema::DerpClientInfoReply>();
      r.setFrame(capnp::Data::Reader(frame->data(), frame->size()));
      r.setNodePublic(pub);
    });
  }

  // ---- wgd.ping ---------------------------------------------------------------------------
  // Go's userspaceEngine.mySelfIPMatchingFamily over WgConfig.addresses, with its error texts.
  Result<wg::IpPrefix> selfAddressFor(const wg::IpPrefix& destination) const {
    if (!haveGeneration_) return Error::failed("no self node");
    if (addresses_.empty()) return Error::failed("no self address");
    for (const auto& a : addresses_) {
      auto p = wg::IpPrefix::parse(a);
      if (p && p->isV6 == destination.isV6 && p->bits == (p->isV6 ? 128 : 32)) return *p;
    }
    return Error::failed("no self address matching address family");
  }

  void ping(bus::Request req) {
    auto params = req.params<schema::WgPingParams>();
    const std::string ipText = params.getIp().cStr();
    auto dst = wg::IpPrefix::parse(ipText);
    if (ipText.find('/') != std::string::npos || !dst) return req.fail(Error::invalid("ping: ip is not an IP address"));
    const auto kind = params.getKind() == schema::WgPingKind::ICMP ? wg::PingKind::ICMP : wg::PingKind::TSMP;
    std::chrono::milliseconds timeout = PING_DEFAULT_TIMEOUT;
    if (params.getTimeoutMs() != 0) timeout = std::min<std::chrono::milliseconds>(
        std::chrono::milliseconds(params.getTimeoutMs()), PING_MAX_TIMEOUT);
    auto answerErr = [&](const std::string& err) {
      svc_.log().info("ping.fail ip={} err={}", ipText, log::quote(err));
      req.reply([&](capnp::AnyPointer::Builder b) { b.initAs<schema::WgPingReply>().setErr(err); });
    };
    if (!path_) return answerErr("no node key yet");
    auto src = selfAddressFor(*dst);
    if (!src) return answerErr(src.error().message);
    const size_t n = dst->isV6 ? 16 : 4;
    const uint64_t token = nextPingToken_++;
    auto peer = path_->startPing(token, kind, ByteSpan(src->addr.data(), n), ByteSpan(dst->addr.data(), n), nowClocks());
    if (!peer) {
      if (peer.error().kind == ErrorKind::FAILED) return answerErr(peer.error().message);
      return req.fail(peer.error());
    }
    endPass();  // the ping (or the initiation it waits behind) goes out now
    const std::string peerText = nodeKeyText(*peer);
    svc_.log().debug("ping.sent ip={} kind={} peer={}", ipText, kind == wg::PingKind::ICMP ? "ICMP" : "TSMP",
                     key::NodePublic(*peer).shortString());
    PendingPing pending{req, std::chrono::steady_clock::now(), {}, peerText};
    pending.timeout = svc_.loop().after(timeout, [this, token, ipText] {
      auto it = pendingPings_.find(token);
      if (it == pendingPings_.end()) return;
      if (path_) path_->cancelPing(token);
      svc_.log().info("ping.timeout ip={}", ipText);
      const std::string peer = it->second.nodePublic;
      it->second.req.reply([&](capnp::AnyPointer::Builder b) {
        auto r = b.initAs<schema::WgPingReply>();
        r.setErr("timeout");
        r.setNodePublic(peer);
      });
      pendingPings_.erase(it);
    });
    pendingPings_.emplace(token, std::move(pending));
  }

  void pingAnswered(uint64_t token, uint16_t peerApiPort) {
    auto it = pendingPings_.find(token);
    if (it == pendingPings_.end()) return;
    const auto latency = std::chrono::steady_clock::now() - it->second.sent;
    const std::string peer = it->second.nodePublic;
    it->second.req.reply([&](capnp::AnyPointer::Builder b) {
      auto r = b.initAs<schema::WgPingReply>();
      r.setLatencyNs(std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count());
      r.setPeerApiPort(peerApiPort);
      r.setNodePublic(peer);
    });
    pendingPings_.erase(it);
  }

  // ---- configuration ----------------------------------------------------------------------
  void setConfig(bus::Request req) {
    auto cfg = req.params<schema::WgConfig>();
    const uint64_t epoch = cfg.getGeneration().getEpoch(), n = cfg.getGeneration().getN();
    if (generationNewer(epoch, n, genEpoch_, genN_, haveGeneration_)) {
      std::vector<wg::PeerSpec> peers;
      for (auto p : cfg.getPeers()) {
        auto k = key::NodePublic::parse(p.getNodePublic().cStr());
        if (!k) return req.fail(Error::invalid("setConfig: peer key: " + k.error().message));
        wg::PeerSpec spec;
        spec.publicKey = k->raw();
        for (auto a : p.getAllowedIps()) {
          auto prefix = wg::IpPrefix::parse(a.cStr());
          if (!prefix) return req.fail(Error::invalid("setConfig: allowedIps: " + prefix.error().message));
          spec.allowedIps.push_back(*prefix);
        }
        peers.push_back(std::move(spec));
      }
      std::vector<std::string> addresses;
      for (auto a : cfg.getAddresses()) {
        if (!wg::IpPrefix::parse(a.cStr())) return req.fail(Error::invalid("setConfig: bad address"));
        addresses.emplace_back(a.cStr());
      }
      peers_ = std::move(peers);
      addresses_ = std::move(addresses);
      genEpoch_ = epoch;
      genN_ = n;
      haveGeneration_ = true;
      applyPeers();
      svc_.log().info("config.applied epoch={} n={} peers={}", epoch, n, peers_.size());
      publishPeers(true);
      updateHealth();
    }
    req.reply([&](capnp::AnyPointer::Builder b) {
      auto g = b.initAs<schema::ConfigAck>().initApplied();
      g.setEpoch(genEpoch_);
      g.setN(genN_);
    });
  }

  void applyPeers() {
    if (!path_) return;
    for (const auto& k : path_->setPeers(peers_)) {
      svc_.log().warn("config.peer_rejected key={}", key::NodePublic(k).shortString());
    }
    rearmTimer();
  }

  // ---- events -----------------------------------------------------------------------------
  // The complete list whenever anything changed since the last one, so the retained value a
  // snapshot returns is always complete. At most once a second: a forced publish (config or key
  // change) inside that second waits for the periodic check.
  void publishPeers(bool force) {
    const auto now = std::chrono::steady_clock::now();
    if (lastPeersPublish_ && now - *lastPeersPublish_ < PEERS_PERIOD - 50ms) {
      peersDirty_ = peersDirty_ || force;
      return;
    }
    std::vector<wg::PeerReport> reports;
    if (path_) reports = path_->peerReports(nowClocks());
    if (!force && !peersDirty_ && lastPeersPublish_ && reports == lastPeers_) return;
    lastPeers_ = reports;
    lastPeersPublish_ = now;
    peersDirty_ = false;
    svc_.bus().publish("wgd.peers", [&](capnp::AnyPointer::Builder b) {
      auto msg = b.initAs<schema::WgPeers>();
      msg.setFull(true);
      auto list = msg.initPeers(unsigned(reports.size()));
      for (unsigned i = 0; i < reports.size(); ++i) {
        const auto& r = reports[i];
        auto p = list[i];
        p.setNodePublic(nodeKeyText(r.publicKey));
        p.setLastHandshakeUnixNano(r.lastHandshake ? int64_t(r.lastHandshake->count()) : 0);
        p.setRxBytes(r.rxBytes);
        p.setTxBytes(r.txBytes);
        p.setState(std::string(wg::peerStateName(r.state)));
      }
    });
  }

  // Drop counters, when they changed, at most once a second (debug level: they are driven by
  // network input).
  void logDrops() {
    if (!path_) return;
    const auto& c = path_->counters();
    std::string line;
    uint64_t total = c.malformedFrames + c.untaggedDatagrams + droppedNoKey_;
    for (size_t i = 0; i < c.drops.size(); ++i) {
      total += c.drops[i];
      if (c.drops[i])
        line += " " + std::string(wg::dropReasonName(wg::DropReason(i))) + "=" + std::to_string(c.drops[i]);
    }
    if (total == lastDropTotal_) return;
    lastDropTotal_ = total;
    svc_.log().debug("datapath.drops malformed_frames={} untagged={} no_key={}{}", c.malformedFrames,
                     c.untaggedDatagrams, droppedNoKey_, line);
  }

  void publishDiscoAdvert(const crypto::Key32& from, const crypto::Key32& disco) {
    const std::string fromText = nodeKeyText(from), discoText = key::DiscoPublic(disco).toString();
    svc_.bus().publish("wgd.discoAdvert", [&](capnp::AnyPointer::Builder b) {
      auto a = b.initAs<schema::DiscoAdvert>();
      a.setFromNodePublic(fromText);
      a.setDiscoPublic(discoText);
    });
  }

  struct PendingPing {
    bus::Request req;
    std::chrono::steady_clock::time_point sent;
    bus::Handle timeout;
    std::string nodePublic;
  };

  service::Service& svc_;
  NodeKeyStore store_;
  std::unique_ptr<wg::DataPath> path_;
  std::unique_ptr<bus::PipeSender> toMagicsock_, toNetstack_;
  std::unique_ptr<bus::PipeReceiver> fromNetstack_, fromMagicsock_;
  bus::Handle timer_, peersTimer_;
  std::optional<wg::Duration> timerAt_;
  log::RateLimiter clientInfoLimit_;
  std::vector<wg::PeerSpec> peers_;
  std::vector<std::string> addresses_;
  uint64_t genEpoch_ = 0, genN_ = 0;
  bool haveGeneration_ = false;
  std::vector<wg::PeerReport> lastPeers_;
  std::optional<std::chrono::steady_clock::time_point> lastPeersPublish_;
  bool peersDirty_ = false;
  uint64_t droppedNoKey_ = 0, lastDropTotal_ = 0;
  std::map<uint64_t, PendingPing> pendingPings_;  // by DataPath ping token
  uint64_t nextPingToken_ = 1;
};

// A key holder must not leave its key in a core file or to a same-uid ptrace/proc reader.
Result<void> hardenProcess() {
  struct rlimit none {};
  if (::setrlimit(RLIMIT_CORE, &none) != 0) return Error::failed("setrlimit(RLIMIT_CORE, 0) failed");
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return Error::failed("prctl(PR_SET_DUMPABLE, 0) failed");
  return {};
}

}  // namespace

Result<std::shared_ptr<void>> startApp(service::Service& service) {
  TNET_TRY_VOID(hardenProcess());  // before the key is read
  TNET_TRY(auto store, NodeKeyStore::open(service.options().stateDir));
  auto app = std::make_shared<WgdApp>(service, std::move(store));
  TNET_TRY_VOID(app->start());
  return std::shared_ptr<void>(app);
}

}  // namespace tnet::wgd
