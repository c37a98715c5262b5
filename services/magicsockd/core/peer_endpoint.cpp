#include "services/magicsockd/core/peer_endpoint.h"

#include <algorithm>
#include <cassert>

#include "services/magicsockd/core/constants.h"

namespace tnet::magicsock {

wire::IpPort derpMagicAddr(uint16_t region) {
  return wire::IpPort::v4(127, 3, 3, 40, region);
}

PeerEndpoint::PeerEndpoint(RandomFill random) : random_(std::move(random)) {
  assert(random_);
}

void PeerEndpoint::setNetmap(MonoTime now, const std::vector<wire::IpPort>& endpoints, uint16_t homeDerp,
                             std::vector<Action>& out) {
  homeDerp_ = homeDerp;
  for (auto& [addr, c] : candidates_) c.inNetmap = false;
  for (const auto& ep : endpoints) {
    auto it = candidates_.find(ep);
    if (it == candidates_.end()) {
      if (candidates_.size() >= MAX_CANDIDATE_ENDPOINTS) continue;
      it = candidates_.emplace(ep, Candidate{}).first;
    }
    it->second.inNetmap = true;
  }
  std::vector<wire::IpPort> gone;
  for (const auto& [addr, c] : candidates_) {
    if (shouldDelete(now, c)) gone.push_back(addr);
  }
  for (const auto& addr : gone) deleteCandidate(addr);
  reportPath(now, out);
}

// Go endpointState.shouldDeleteLocked: CallMeMaybe-learned endpoints stay until the next
// CallMeMaybe drops them; netmap ones while listed; ping-learned ones for the session timeout.
bool PeerEndpoint::shouldDelete(MonoTime now, const Candidate& c) const {
  if (c.callMeMaybeTime) return false;
  if (c.inNetmap) return false;
  if (!c.lastGotPing) return true;
  return now - *c.lastGotPing > SESSION_ACTIVE_TIMEOUT;
}

void PeerEndpoint::deleteCandidate(const wire::IpPort& addr) {
  candidates_.erase(addr);
  if (best_.valid && best_.addr == addr) {
    best_ = AddrQuality{};
    trustUntil_ = MonoTime::min();
  }
}

SendPath PeerEndpoint::sendPath(MonoTime now) const {
  SendPath p;
  if (best_.valid) {
    p.udp = best_.addr;
    if (now <= trustUntil_) return p;
  }
  p.derpRegion = homeDerp_ != 0 ? homeDerp_ : derpRoute_;
  return p;
}

SendPath PeerEndpoint::noteSendData(MonoTime now, std::vector<Action>& out) {
  if (!best_.valid || now > trustUntil_) sendDiscoPings(now, true, out);
  lastSendExt_ = now;
  if (heartbeatAt_ == NEVER) heartbeatAt_ = now + HEARTBEAT_INTERVAL;
  reportPath(now, out);
  return sendPath(now);
}

bool PeerEndpoint::startPing(MonoTime now, const wire::IpPort& to, PingPurpose purpose,
                             std::vector<Action>& out) {
  auto it = candidates_.find(to);
  if (it == candidates_.end()) return false;
  if (sentPings_.size() >= MAX_OUTSTANDING_PINGS) return false;
  it->second.lastPing = now;
  disco::TxId txId;
  do {
    random_(txId);
  } while (sentPings_.count(txId) != 0);
  sentPings_.emplace(txId, SentPing{DiscoAddr::viaUdp(to), now, purpose});
  out.push_back(SendDiscoPing{DiscoAddr::viaUdp(to), txId, purpose});
  return true;
}

void PeerEndpoint::sendDiscoPings(MonoTime now, bool sendCallMeMaybe, std::vector<Action>& out) {
  lastFullPing_ = now;
  std::vector<wire::IpPort> gone;
  bool sentAny = false;
  for (auto& [addr, c] : candidates_) {
    if (shouldDelete(now, c)) {
      gone.push_back(addr);
      continue;
    }
    if (c.lastPing && now - *c.lastPing < DISCO_PING_INTERVAL) continue;
    sentAny = startPing(now, addr, PingPurpose::DISCOVERY, out) || sentAny;
  }
  for (const auto& addr : gone) deleteCandidate(addr);
  // The CallMeMaybe asks the peer to ping us back so both NATs open; it only goes via DERP.
  if (sentAny && sendCallMeMaybe && homeDerp_ != 0) out.push_back(SendCallMeMaybe{homeDerp_});
}

bool PeerEndpoint::wantFullPing(MonoTime now) const {
  if (!best_.valid || !lastFullPing_) return true;
  if (now > trustUntil_) return true;
  if (best_.latency <= GOOD_ENOUGH_LATENCY) return false;
  return now - *lastFullPing_ >= UPGRADE_UDP_DIRECT_INTERVAL;
}

void PeerEndpoint::heartbeat(MonoTime now, std::vector<Action>& out) {
  if (!lastSendExt_ || now - *lastSendExt_ > SESSION_ACTIVE_TIMEOUT) {
    heartbeatAt_ = NEVER;  // session idle: stop until the next outbound packet
    return;
  }
  if (best_.valid) startPing(now, best_.addr, PingPurpose::HEARTBEAT, out);
  if (wantFullPing(now)) sendDiscoPings(now, true, out);
  heartbeatAt_ = now + HEARTBEAT_INTERVAL;
}

void PeerEndpoint::handlePing(MonoTime now, const DiscoAddr& from, const disco::TxId& txId,
                              std::vector<Action>& out) {
  if (std::find(recentRxTxIds_.begin(), recentRxTxIds_.end(), txId) != recentRxTxIds_.end()) return;
  recentRxTxIds_.push_back(txId);
  if (recentRxTxIds_.size() > RECENT_RX_TXIDS) recentRxTxIds_.pop_front();

  if (!from.isDerp()) {
    // A ping over UDP proves the peer can reach us from that address: it becomes a candidate.
    auto it = candidates_.find(from.udp);
    if (it == candidates_.end() && candidates_.size() < MAX_CANDIDATE_ENDPOINTS) {
      it = candidates_.emplace(from.udp, Candidate{}).first;
    }
    if (it != candidates_.end()) it->second.lastGotPing = now;
  }
  wire::IpPort observed = from.isDerp() ? derpMagicAddr(from.derpRegion) : from.udp;
  out.push_back(SendDiscoPong{from, txId, observed});
}

Result<void> PeerEndpoint::handlePong(MonoTime now, const DiscoAddr& from, const disco::Pong& pong,
                                      std::vector<Action>& out) {
  auto sp = sentPings_.find(pong.txId);
  if (sp == sentPings_.end()) return Error::invalid("pong for unknown or expired txid");
  SentPing ping = sp->second;
  sentPings_.erase(sp);
  Duration latency = now - ping.at;
  // Go records the latency against the address the ping went to (sp.to), and only a pong that
  // itself arrived over UDP can promote a direct path.
  if (from.isDerp() || ping.to.isDerp()) return {};
  auto it = candidates_.find(ping.to.udp);
  if (it == candidates_.end()) return {};
  it->second.pongs.push_back(PongReply{latency, now, pong.src});
  if (it->second.pongs.size() > PONG_HISTORY_COUNT) it->second.pongs.pop_front();

  AddrQuality thisPong{ping.to.udp, true, latency, 0};
  if (betterAddr(thisPong, best_) || (best_.valid && now > trustUntil_)) best_ = thisPong;
  if (best_.addr == thisPong.addr) {
    best_.latency = latency;
    bestAt_ = now;
    trustUntil_ = now + TRUST_UDP_ADDR_DURATION;
  }
  reportPath(now, out);
  return {};
}

Result<void> PeerEndpoint::handleCallMeMaybe(MonoTime now, const DiscoAddr& from,
                                             const disco::CallMeMaybe& cmm, std::vector<Action>& out) {
  if (!from.isDerp()) return Error::denied("CallMeMaybe accepted only via DERP");
  for (auto& [addr, c] : candidates_) c.fromCallMeMaybe = false;
  for (const auto& ep : cmm.myNumber) {
    if (!ep.is4() && isLinkLocalUnicast(ep)) continue;  // Go skips these: no zone to ping on
    auto it = candidates_.find(ep);
    if (it == candidates_.end()) {
      if (candidates_.size() >= MAX_CANDIDATE_ENDPOINTS) continue;
      it = candidates_.emplace(ep, Candidate{}).first;
    }
    it->second.fromCallMeMaybe = true;
    it->second.callMeMaybeTime = now;
  }
  // Previously CallMeMaybe-learned endpoints missing from this list are gone.
  std::vector<wire::IpPort> gone;
  for (const auto& [addr, c] : candidates_) {
    if (c.callMeMaybeTime && !c.fromCallMeMaybe) gone.push_back(addr);
  }
  for (const auto& addr : gone) deleteCandidate(addr);
  // Ping everything now, even if pinged < 5 s ago: the peer just opened its side.
  for (auto& [addr, c] : candidates_) c.lastPing.reset();
  sendDiscoPings(now, false, out);
  reportPath(now, out);
  return {};
}

MonoTime PeerEndpoint::tick(MonoTime now, std::vector<Action>& out) {
  for (auto it = sentPings_.begin(); it != sentPings_.end();) {
    if (now - it->second.at >= PING_TIMEOUT_DURATION) {
      it = sentPings_.erase(it);  // counted as lost; trust simply lapses without a pong
    } else {
      ++it;
    }
  }
  if (heartbeatAt_ <= now) heartbeat(now, out);
  reportPath(now, out);
  return nextDeadline();
}

MonoTime PeerEndpoint::nextDeadline() const {
  MonoTime next = heartbeatAt_;
  for (const auto& [txId, sp] : sentPings_) next = earliest(next, sp.at + PING_TIMEOUT_DURATION);
  // The moment trust lapses the send path changes: wake up to report it.
  if (reportedTrusted_) next = earliest(next, trustUntil_ + Duration(1));
  return next;
}

void PeerEndpoint::reportPath(MonoTime now, std::vector<Action>& out) {
  // Tracked apart from the path: with no DERP region at all, a lapsed path looks the same.
  reportedTrusted_ = best_.valid && now <= trustUntil_;
  SendPath p = sendPath(now);
  if (p == reported_) return;
  reported_ = p;
  out.push_back(PathChanged{p, p.udp ? best_.latency : Duration(0)});
}

}  // namespace tnet::magicsock
