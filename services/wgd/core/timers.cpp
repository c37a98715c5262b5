// Timer hooks and expiries, named and armed as wireguard-go's device/timers.go (itself after the
// kernel's timers.c). Each peer's deadlines are plain values; tick() fires the due ones.
#include "services/wgd/core/device.h"
#include "services/wgd/core/peer.h"

namespace tnet::wg {

// After an authenticated data packet is sent: expect an answer within KEEPALIVE + REKEY_TIMEOUT.
void Device::timersDataSent(Peer& peer, Now now) {
  if (!peer.newHandshake.isPending())
    peer.newHandshake.mod(now, KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter());
}

// After an authenticated data packet is received: answer with a keepalive if we send nothing.
void Device::timersDataReceived(Peer& peer, Now now) {
  if (!peer.sendKeepalive.isPending()) {
    peer.sendKeepalive.mod(now, KEEPALIVE_TIMEOUT);
  } else {
    peer.needAnotherKeepalive = true;
  }
}

// After any authenticated packet (keepalive, data, handshake) is sent.
void Device::timersAnyAuthenticatedPacketSent(Peer& peer) {
  peer.sendKeepalive.del();
}

// After any authenticated packet is received.
void Device::timersAnyAuthenticatedPacketReceived(Peer& peer) {
  peer.newHandshake.del();
}

// After an initiation is sent.
void Device::timersHandshakeInitiated(Peer& peer, Now now) {
  peer.retransmitHandshake.mod(now, REKEY_TIMEOUT + jitter());
}

// After a response is consumed, or the first packet on a responder's new key pair arrives.
void Device::timersHandshakeComplete(Peer& peer, Now now) {
  peer.retransmitHandshake.del();
  peer.handshakeAttempts = 0;
  peer.sentLastMinuteHandshake = false;
  peer.lastHandshake = now.wall;
}

// After a key pair is derived: erase everything if no new one comes within 3 × REJECT_AFTER_TIME.
void Device::timersSessionDerived(Peer& peer, Now now) {
  peer.zeroKeyMaterial.mod(now, REJECT_AFTER_TIME * 3);
}

// Before sending or after receiving any authenticated packet.
void Device::timersAnyAuthenticatedPacketTraversal(Peer& peer, Now now) {
  if (peer.persistentKeepaliveSeconds > 0) {
    peer.persistentKeepalive.mod(now, std::chrono::seconds(peer.persistentKeepaliveSeconds));
  }
}

void Device::expiredRetransmitHandshake(Peer& peer, Now now, Out& out) {
  if (peer.handshakeAttempts > MAX_TIMER_HANDSHAKES) {
    // Give up: drop what waits for a key pair and erase leftovers later.
    peer.sendKeepalive.del();
    peer.staged.clear();
    if (!peer.zeroKeyMaterial.isPending()) peer.zeroKeyMaterial.mod(now, REJECT_AFTER_TIME * 3);
    return;
  }
  ++peer.handshakeAttempts;
  sendHandshakeInitiation(peer, true, now, out);
}

void Device::expiredSendKeepalive(Peer& peer, Now now, Out& out) {
  sendKeepalive(peer, now, out);
  if (peer.needAnotherKeepalive) {
    peer.needAnotherKeepalive = false;
    peer.sendKeepalive.mod(now, KEEPALIVE_TIMEOUT);
  }
}

// We sent data and heard nothing back for KEEPALIVE + REKEY_TIMEOUT: the session may be dead.
void Device::expiredNewHandshake(Peer& peer, Now now, Out& out) {
  sendHandshakeInitiation(peer, false, now, out);
}

void Device::expiredZeroKeyMaterial(Peer& peer) {
  zeroAndFlushAll(peer);
}

void Device::expiredPersistentKeepalive(Peer& peer, Now now, Out& out) {
  if (peer.persistentKeepaliveSeconds > 0) sendKeepalive(peer, now, out);
}

std::optional<Duration> Device::nextDeadline() const {
  std::optional<Duration> next;
  for (const auto& [id, peer] : peers_) {
    for (const PeerTimer* t : {&peer->retransmitHandshake, &peer->sendKeepalive, &peer->newHandshake,
                               &peer->zeroKeyMaterial, &peer->persistentKeepalive}) {
      if (t->at && (!next || *t->at < *next)) next = t->at;
    }
  }
  return next;
}

TickResult Device::tick(Now now) {
  TickResult r;
  for (auto& [id, peerPtr] : peers_) {
    Peer& peer = *peerPtr;
    if (peer.retransmitHandshake.due(now)) {
      peer.retransmitHandshake.del();
      expiredRetransmitHandshake(peer, now, r.send);
    }
    if (peer.sendKeepalive.due(now)) {
      peer.sendKeepalive.del();
      expiredSendKeepalive(peer, now, r.send);
    }
    if (peer.newHandshake.due(now)) {
      peer.newHandshake.del();
      expiredNewHandshake(peer, now, r.send);
    }
    if (peer.zeroKeyMaterial.due(now)) {
      peer.zeroKeyMaterial.del();
      expiredZeroKeyMaterial(peer);
    }
    if (peer.persistentKeepalive.due(now)) {
      peer.persistentKeepalive.del();
      expiredPersistentKeepalive(peer, now, r.send);
    }
  }
  r.nextDeadline = nextDeadline();
  // Forget rate-limit buckets idle for a second (they would be full again anyway).
  if (now.mono - lastRateGc_ >= std::chrono::seconds(1)) {
    lastRateGc_ = now.mono;
    for (auto it = rateBuckets_.begin(); it != rateBuckets_.end();) {
      it = now.mono - it->second.lastTime > std::chrono::seconds(1) ? rateBuckets_.erase(it) : std::next(it);
    }
  }
  return r;
}

}  // namespace tnet::wg
