// Datagrams: the UDP demux (STUN / disco / WireGuard), DERP-received packets, the wgd pipes and
// disco messages. Every drop is counted; network-triggered log lines are rate-limited.
#include <cstring>

#include "libs/wire/demux.h"
#include "services/magicsockd/app/magicsock.h"

namespace tnet::magicsockd {

namespace {
constexpr size_t TO_WGD_HEADER = 32 + 1 + 16 + 2;  // schemas/wgd.capnp
constexpr uint8_t PATH_UDP = 0;
constexpr uint8_t PATH_DERP = 1;
}  // namespace

void Magicsock::onUdpReadable(UdpSocket& sock) {
  // Edge-triggered: drain, but yield after a bounded amount so DERP and the pipes get turns.
  for (int round = 0; round < 16; ++round) {
    if (sock.receiveBatch([this](const wire::IpPort& from, ByteSpan d) { onUdpDatagram(from, d); }) == 0) {
      flushAll();
      return;
    }
  }
  flushAll();
  loop_.post([this, &sock] { onUdpReadable(sock); });
}

void Magicsock::onUdpDatagram(const wire::IpPort& from, ByteSpan datagram) {
  auto d = demux::classifyDatagram(datagram);
  if (d.geneve) {  // peer relays are not supported: nothing of ours sends Geneve
    drops_.udpGeneve++;
    return;
  }
  switch (d.kind) {
    case demux::Kind::STUN:
      onStunResponse(from, d.inner);
      return;
    case demux::Kind::DISCO:
      handleDisco(d.inner, magicsock::DiscoAddr::viaUdp(from), nullptr);
      return;
    case demux::Kind::WIREGUARD: {
      Peer* p = peerForAddr(from);
      if (p) notePeerRx(*p, d.inner.size());
      toWgd(p ? &p->node : nullptr, false, from, 0, d.inner);
      return;
    }
    case demux::Kind::UNKNOWN:
      drops_.udpUnknownKind++;
      if (dropLog_.allow()) {
        log_.debug("magicsock.drop_udp from={} len={} suppressed={}", from.toString(), datagram.size(),
                   dropLog_.takeSuppressed());
      }
      return;
  }
}

Peer* Magicsock::peerForAddr(const wire::IpPort& addr) {
  auto it = byAddr_.find(addr);
  return it == byAddr_.end() ? nullptr : it->second;
}

void Magicsock::noteAddr(const wire::IpPort& addr, Peer& peer) {
  // Bounded: a peer pinging from ever-new ports cannot grow the table without limit.
  constexpr size_t MAX_ADDRS = 4096;
  if (byAddr_.size() >= MAX_ADDRS && !byAddr_.count(addr)) return;
  byAddr_[addr] = &peer;
}

void Magicsock::notePeerRx(Peer& peer, size_t bytes) {
  peer.rxBytes += bytes;
  peer.lastRxMs = unixMsNow();
  pathsDirty_ = true;  // published by the 1 Hz timer
}

void Magicsock::onDerpPacket(int region, const derp::RecvPacket& rp) {
  lastDerpActivity_[region] = monoNow();
  if (disco::hasDiscoHeader(rp.data)) {
    handleDisco(rp.data, magicsock::DiscoAddr::viaDerp(uint16_t(region)), &rp.source);
    return;
  }
  auto it = peers_.find(rp.source);
  if (it == peers_.end()) {
    // wgd decides about unknown senders (it may not have the netmap we have): pass it tagged.
    drops_.derpFromUnknownPeer++;
  } else {
    it->second->ep->noteDerpRecv(uint16_t(region));
    notePeerRx(*it->second, rp.data.size());
  }
  toWgd(&rp.source, true, wire::IpPort{}, uint16_t(region), rp.data);
}

void Magicsock::toWgd(const key::NodePublic* peer, bool viaDerp, const wire::IpPort& src, uint16_t region,
                      ByteSpan datagram) {
  pipeScratch_.resize(TO_WGD_HEADER + datagram.size());
  uint8_t* h = pipeScratch_.data();
  if (peer) {
    std::memcpy(h, peer->raw().data(), 32);
  } else {
    std::memset(h, 0, 32);
  }
  h[32] = viaDerp ? PATH_DERP : PATH_UDP;
  if (viaDerp) {
    std::memset(h + 33, 0, 16);
    putU16BE(h + 49, region);
  } else {
    std::memcpy(h + 33, src.ip16.data(), 16);
    putU16BE(h + 49, src.port);
  }
  std::memcpy(h + TO_WGD_HEADER, datagram.data(), datagram.size());
  if (!toWgd_->push(pipeScratch_)) drops_.toWgdDropped++;
}

void Magicsock::onWgdBatch(std::span<const std::span<const uint8_t>> packets) {
  auto now = monoNow();
  bool touched = false;
  for (auto pkt : packets) {
    if (pkt.size() <= 32) {
      drops_.fromWgdMalformed++;
      continue;
    }
    auto k = key::NodePublic::fromBytes(pkt.first(32));
    auto it = peers_.find(*k);
    if (it == peers_.end()) {
      drops_.fromWgdUnknownPeer++;
      continue;
    }
    Peer& p = *it->second;
    ByteSpan dg = pkt.subspan(32);
    std::vector<magicsock::Action> actions;
    auto path = p.ep->noteSendData(now, actions);
    runActions(p, actions);
    touched = true;
    if (path.empty()) {
      drops_.noPath++;
      continue;
    }
    p.txBytes += dg.size();
    pathsDirty_ = true;
    p.lastTxMs = unixMsNow();
    p.lastTx = now;
    if (path.udp) sendUdp(*path.udp, dg, false);
    if (path.derpRegion) sendDerp(path.derpRegion, p.node, dg);
  }
  flushAll();
  if (touched) schedulePeerTimer();
}

void Magicsock::sendUdp(const wire::IpPort& to, ByteSpan datagram, bool now) {
  UdpSocket& s = to.is4() ? udp4_ : udp6_;
  if (!s.isOpen()) return;
  s.queue(to, datagram);
  if (now) s.flush();
}

bool Magicsock::sendDerp(int region, const key::NodePublic& dst, ByteSpan packet) {
  if (nodePublic_.isZero() || !wantRunning_) {
    drops_.derpNotConnected++;
    return false;
  }
  std::vector<magicsock::DerpAction> actions;
  derpPolicy_.noteWrite(monoNow(), region, actions);
  applyDerpActions(actions);
  auto it = derps_.find(region);
  if (it == derps_.end() || !it->second->send(dst, packet)) {
    drops_.derpNotConnected++;
    return false;
  }
  return true;
}

void Magicsock::flushAll() {
  udp4_.flush();
  udp6_.flush();
  if (toWgd_) toWgd_->flush();
}

void Magicsock::handleDisco(ByteSpan packet, const magicsock::DiscoAddr& from,
                            const key::NodePublic* derpSource) {
  auto sender = disco::senderKey(packet);
  if (!sender) {
    drops_.discoBadBox++;
    return;
  }
  auto pit = byDisco_.find(*sender);
  if (pit == byDisco_.end()) {
    // Typically a peer whose new disco key we have not heard of yet, or a stale one.
    drops_.discoUnknownSender++;
    if (dropLog_.allow()) {
      log_.debug("magicsock.disco_unknown_sender via={} suppressed={}",
                 from.isDerp() ? "derp" : from.udp.toString(), dropLog_.takeSuppressed());
    }
    return;
  }
  Peer& peer = *pit->second;
  if (derpSource && *derpSource != peer.node) {
    drops_.discoWrongDerpSource++;
    return;
  }
  auto opened = disco::openMessage(packet, discoKey_);
  if (!opened) {
    drops_.discoBadBox++;
    return;
  }
  auto now = monoNow();
  std::vector<magicsock::Action> actions;
  if (auto* ping = std::get_if<disco::Ping>(&opened->message)) {
    if (!from.isDerp()) noteAddr(from.udp, peer);
    peer.ep->handlePing(now, from, ping->txId, actions);
  } else if (auto* pong = std::get_if<disco::Pong>(&opened->message)) {
    if (auto w = pingWaiters_.find(pong->txId); w != pingWaiters_.end()) {
      auto& pw = *w->second;
      auto rtt = now - pw.sentAt;
      pw.req.reply([&](capnp::AnyPointer::Builder b) {
        auto r = b.initAs<schema::PingReply>();
        r.setLatencyNs(rtt.count());
        if (from.isDerp()) {
          r.setDerpRegionId(from.derpRegion);
          r.setDerpRegionCode(derpRegionCode(from.derpRegion));
        } else {
          r.setEndpoint(from.udp.toString());
        }
      });
      pingWaiters_.erase(w);
    } else if (auto r = peer.ep->handlePong(now, from, *pong, actions); !r) {
      drops_.discoRejected++;
    } else if (!from.isDerp()) {
      peer.lastRtt = peer.ep->bestAddr().latency;
    }
  } else if (auto* cmm = std::get_if<disco::CallMeMaybe>(&opened->message)) {
    if (auto r = peer.ep->handleCallMeMaybe(now, from, *cmm, actions); !r) drops_.discoRejected++;
  } else {
    drops_
        .discoRejected++;  // relay messages and unknown types: not supported, ignored as Go's old clients do
  }
  runActions(peer, actions);
  flushAll();
  schedulePeerTimer();
}

void Magicsock::runActions(Peer& peer, std::vector<magicsock::Action>& actions) {
  for (auto& a : actions) {
    if (auto* ping = std::get_if<magicsock::SendDiscoPing>(&a)) {
      sendDisco(peer, ping->to, disco::Ping{.txId = ping->txId, .nodeKey = nodePublic_});
    } else if (auto* pong = std::get_if<magicsock::SendDiscoPong>(&a)) {
      sendDisco(peer, pong->to, disco::Pong{.txId = pong->txId, .src = pong->observedSrc});
    } else if (auto* cmm = std::get_if<magicsock::SendCallMeMaybe>(&a)) {
      disco::CallMeMaybe m;
      for (const auto& e : endpoints_) m.myNumber.push_back(e.addr);
      sendDisco(peer, magicsock::DiscoAddr::viaDerp(cmm->derpRegion), m);
    } else if (auto* pc = std::get_if<magicsock::PathChanged>(&a)) {
      bool wasDirect = peer.path.direct();
      peer.path = pc->path;
      if (pc->path.udp) noteAddr(*pc->path.udp, peer);
      if (pc->latency.count() > 0) peer.lastRtt = pc->latency;
      // A peer's first path is its home DERP (every peer of a new netmap gets one): debug, so
      // that a netmap of thousands of peers does not write thousands of lines; direct paths and
      // falling back to DERP are what operators look for.
      bool initialDerp = !pc->path.udp && !wasDirect;
      log_.log(initialDerp ? spdlog::level::debug : spdlog::level::info,
               "magicsock.path peer={} udp={} derp={} latency_us={}", peer.node.shortString(),
               pc->path.udp ? pc->path.udp->toString() : "-", pc->path.derpRegion,
               std::chrono::duration_cast<std::chrono::microseconds>(pc->latency).count());
      markPathsDirty(true);
    }
  }
  actions.clear();
}

void Magicsock::sendDisco(Peer& peer, const magicsock::DiscoAddr& to, const disco::Message& msg) {
  if (peer.disco.isZero()) return;
  auto sealed = disco::sealMessage(msg, discoKey_, peer.disco);
  if (!sealed) return;  // a low-order key: nothing sensible to send to
  if (to.isDerp()) {
    sendDerp(to.derpRegion, peer.node, *sealed);
  } else {
    sendUdp(to.udp, *sealed, true);
  }
}

void Magicsock::schedulePeerTimer() {
  MonoTime next = magicsock::NEVER;
  for (const auto& [k, p] : peers_) next = magicsock::earliest(next, p->ep->nextDeadline());
  if (next == peerTimerAt_ && peerTimer_) return;
  peerTimerAt_ = next;
  if (next == magicsock::NEVER) {
    peerTimer_.reset();
    return;
  }
  auto delay = next - monoNow();
  if (delay < Duration(0)) delay = Duration(0);
  peerTimer_ = loop_.after(delay, [this] { onPeerTimer(); });
}

void Magicsock::onPeerTimer() {
  peerTimer_.reset();
  peerTimerAt_ = magicsock::NEVER;
  auto now = monoNow();
  for (auto& [k, p] : peers_) {
    if (p->ep->nextDeadline() <= now) {
      std::vector<magicsock::Action> actions;
      p->ep->tick(now, actions);
      runActions(*p, actions);
    }
  }
  flushAll();
  schedulePeerTimer();
}

}  // namespace tnet::magicsockd
