// The send path: handshake messages, staging, sealing and key rotation (wireguard-go send.go,
// noise-protocol.go BeginSymmetricSession / ReceivedWithKeypair, peer.go ZeroAndFlushAll).
#include <algorithm>
#include <cstring>

#include "services/wgd/core/device.h"
#include "services/wgd/core/peer.h"

namespace tnet::wg {
namespace {

// Pad to a multiple of 16, never past the TUN MTU (wireguard-go calculatePaddingSize).
size_t paddedSize(size_t size, size_t mtu) {
  size_t last = size;
  if (mtu == 0) return (last + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1);
  if (last > mtu) last %= mtu;
  size_t padded = (last + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1);
  if (padded > mtu) padded = mtu;
  return size + (padded - last);
}

}  // namespace

void Device::emit(Peer& peer, Bytes bytes, Out& out) {
  peer.txBytes += bytes.size();
  out.push_back(Datagram{peer.id, peer.endpoint, std::move(bytes)});
}

std::vector<Datagram> Device::initiateHandshake(PeerId id, Now now) {
  Out out;
  if (Peer* peer = findPeer(id)) sendHandshakeInitiation(*peer, false, now, out);
  return out;
}

void Device::sendHandshakeInitiation(Peer& peer, bool isRetry, Now now, Out& out) {
  if (!isRetry) peer.handshakeAttempts = 0;
  HandshakeState& hs = peer.handshake;
  if (hs.lastSentHandshake && now.mono - *hs.lastSentHandshake < REKEY_TIMEOUT) return;
  hs.lastSentHandshake = now.mono;

  Key32 ephemeral;
  random_->fill(ephemeral);
  if (hs.localIndex != 0) indexTable_.erase(hs.localIndex);
  hs.localIndex = 0;
  const uint32_t index = newIndex(peer.id);
  auto msg = createInitiation(identity_, hs, ephemeral, tai64nFromUnix(now.wall), index);
  crypto::wipe(ephemeral);
  if (!msg) {  // unreachable for peers addPeer accepted (their keys are not low-order)
    indexTable_.erase(index);
    hs.clear();
    return;
  }
  Bytes packet = wire::serializeWgInitiation(*msg);
  peer.cookieGenerator.addMacs(packet, now.mono);
  timersAnyAuthenticatedPacketTraversal(peer, now);
  timersAnyAuthenticatedPacketSent(peer);
  emit(peer, std::move(packet), out);
  timersHandshakeInitiated(peer, now);
}

void Device::sendHandshakeResponse(Peer& peer, Now now, Out& out) {
  HandshakeState& hs = peer.handshake;
  hs.lastSentHandshake = now.mono;
  if (hs.localIndex != 0) indexTable_.erase(hs.localIndex);
  hs.localIndex = 0;
  const uint32_t index = newIndex(peer.id);
  Key32 ephemeral;
  random_->fill(ephemeral);
  auto msg = createResponse(hs, ephemeral, index);
  crypto::wipe(ephemeral);
  if (!msg) {
    indexTable_.erase(index);
    hs.clear();
    return;
  }
  Bytes packet = wire::serializeWgResponse(*msg);
  peer.cookieGenerator.addMacs(packet, now.mono);
  beginSymmetricSession(peer, now);
  timersSessionDerived(peer, now);
  timersAnyAuthenticatedPacketTraversal(peer, now);
  timersAnyAuthenticatedPacketSent(peer);
  emit(peer, std::move(packet), out);
}

void Device::beginSymmetricSession(Peer& peer, Now now) {
  HandshakeState& hs = peer.handshake;
  auto keys = deriveSessionKeys(hs);
  if (!keys) return;
  auto kp = std::make_unique<Keypair>();
  kp->sendKey = keys->send;
  kp->receiveKey = keys->receive;
  kp->isInitiator = keys->isInitiator;
  kp->created = now.mono;
  kp->replayFilter.reset();
  kp->localIndex = hs.localIndex;
  kp->remoteIndex = hs.remoteIndex;
  indexTable_[kp->localIndex] = IndexEntry{peer.id, true};
  hs.localIndex = 0;
  ++peer.sessionsDerived;

  if (kp->isInitiator) {
    std::unique_ptr<Keypair> oldPrevious = std::move(peer.previous);
    if (peer.next) {
      peer.previous = std::move(peer.next);
      deleteKeypair(peer.current);
    } else {
      peer.previous = std::move(peer.current);
    }
    deleteKeypair(oldPrevious);
    peer.current = std::move(kp);
  } else {
    // The responder may not send on the new pair until the initiator has used it.
    deleteKeypair(peer.next);
    peer.next = std::move(kp);
    deleteKeypair(peer.previous);
  }
}

bool Device::receivedWithKeypair(Peer& peer, Keypair* kp) {
  if (!peer.next || peer.next.get() != kp) return false;
  std::unique_ptr<Keypair> old = std::move(peer.previous);
  peer.previous = std::move(peer.current);
  deleteKeypair(old);
  peer.current = std::move(peer.next);
  return true;
}

void Device::zeroAndFlushAll(Peer& peer) {
  deleteKeypair(peer.previous);
  deleteKeypair(peer.current);
  deleteKeypair(peer.next);
  if (peer.handshake.localIndex != 0) indexTable_.erase(peer.handshake.localIndex);
  peer.handshake.clear();
  peer.staged.clear();
}

SendResult Device::sendPacket(ByteSpan ip, Now now) {
  SendResult r;
  if (ip.size() > wire::WG_MAX_CONTENT_SIZE) {
    r.drop = DropReason::PACKET_TOO_LARGE;
    return r;
  }
  ByteSpan destination;
  if (!ip.empty() && ip[0] >> 4 == 4 && ip.size() >= 20) {
    destination = ip.subspan(16, 4);
  } else if (!ip.empty() && ip[0] >> 4 == 6 && ip.size() >= 40) {
    destination = ip.subspan(24, 16);
  } else {
    r.drop = DropReason::INVALID_INNER_PACKET;
    return r;
  }
  auto id = allowedIps_.lookup(destination);
  Peer* peer = id ? findPeer(*id) : nullptr;
  if (!peer) {
    r.drop = DropReason::NO_ROUTE;
    return r;
  }
  r.peer = peer->id;
  stagePacket(*peer, ip);
  sendStagedPackets(*peer, now, r.send);
  return r;
}

void Device::stagePacket(Peer& peer, ByteSpan packet) {
  // The oldest packet makes room (wireguard-go StagePackets), so a stalled handshake cannot grow
  // memory without bound.
  if (peer.staged.size() >= QUEUE_STAGED_SIZE) peer.staged.pop_front();
  // Padding never pushes a maximal packet past the largest UDP payload.
  const size_t padded = std::min(paddedSize(packet.size(), tunMtu_), wire::WG_MAX_CONTENT_SIZE);
  Bytes buffer(wire::WG_TRANSPORT_HEADER_SIZE + padded + wire::WG_TAG_SIZE);
  if (!packet.empty())
    std::memcpy(buffer.data() + wire::WG_TRANSPORT_HEADER_SIZE, packet.data(), packet.size());
  peer.staged.push_back(std::move(buffer));
}

void Device::sendKeepalive(Peer& peer, Now now, Out& out) {
  if (peer.staged.empty()) peer.staged.push_back(Bytes(wire::WG_KEEPALIVE_SIZE));
  sendStagedPackets(peer, now, out);
}

void Device::sendStagedPackets(Peer& peer, Now now, Out& out) {
  for (;;) {
    if (peer.staged.empty()) return;
    Keypair* kp = peer.current.get();
    if (!kp || kp->sendNonce >= REJECT_AFTER_MESSAGES || now.mono - kp->created >= REJECT_AFTER_TIME) {
      sendHandshakeInitiation(peer, false, now, out);
      return;
    }
    bool sent = false, dataSent = false;
    while (!peer.staged.empty()) {
      const uint64_t nonce = kp->sendNonce;
      if (nonce >= REJECT_AFTER_MESSAGES) break;  // the packet stays staged for the next key pair
      ++kp->sendNonce;
      Bytes buffer = std::move(peer.staged.front());
      peer.staged.pop_front();
      const size_t padded = buffer.size() - wire::WG_KEEPALIVE_SIZE;
      wire::writeWgTransportHeader(buffer.data(), kp->remoteIndex, nonce);
      uint8_t* content = buffer.data() + wire::WG_TRANSPORT_HEADER_SIZE;
      crypto::aeadSeal(MutableByteSpan(content, padded + wire::WG_TAG_SIZE), kp->sendKey,
                       crypto::nonceLE(nonce), ByteSpan(content, padded), {});
      dataSent = dataSent || padded != 0;
      sent = true;
      emit(peer, std::move(buffer), out);
    }
    if (sent) {
      timersAnyAuthenticatedPacketTraversal(peer, now);
      timersAnyAuthenticatedPacketSent(peer);
      if (dataSent) timersDataSent(peer, now);
      keepKeyFreshSending(peer, now, out);
    }
  }
}

void Device::keepKeyFreshSending(Peer& peer, Now now, Out& out) {
  const Keypair* kp = peer.current.get();
  if (!kp) return;
  if (kp->sendNonce > timings_.rekeyAfterMessages ||
      (kp->isInitiator && now.mono - kp->created > timings_.rekeyAfterTime)) {
    sendHandshakeInitiation(peer, false, now, out);
  }
}

void Device::keepKeyFreshReceiving(Peer& peer, Now now, Out& out) {
  if (peer.sentLastMinuteHandshake) return;
  const Keypair* kp = peer.current.get();
  if (kp && kp->isInitiator &&
      now.mono - kp->created > REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT) {
    peer.sentLastMinuteHandshake = true;
    sendHandshakeInitiation(peer, false, now, out);
  }
}

}  // namespace tnet::wg
