// Device: peers, indices, load and the receive path (wireguard-go device.go, receive.go).
#include "services/wgd/core/device.h"

#include <algorithm>
#include <cstring>

#include "services/wgd/core/peer.h"

namespace tnet::wg {

Endpoint Endpoint::fromBytes(ByteSpan b) {
  Endpoint e;
  e.size = uint8_t(std::min(b.size(), MAX_SIZE));
  std::copy_n(b.begin(), e.size, e.bytes.begin());
  return e;
}

std::string_view dropReasonName(DropReason reason) {
  switch (reason) {
    case DropReason::NONE:
      return "none";
    case DropReason::MALFORMED:
      return "malformed";
    case DropReason::INVALID_MAC1:
      return "invalid_mac1";
    case DropReason::COOKIE_REQUIRED:
      return "cookie_required";
    case DropReason::RATE_LIMITED:
      return "rate_limited";
    case DropReason::HANDSHAKE_INVALID:
      return "handshake_invalid";
    case DropReason::UNKNOWN_PEER:
      return "unknown_peer";
    case DropReason::REPLAYED_INITIATION:
      return "replayed_initiation";
    case DropReason::HANDSHAKE_FLOOD:
      return "handshake_flood";
    case DropReason::UNEXPECTED_RESPONSE:
      return "unexpected_response";
    case DropReason::INVALID_COOKIE_REPLY:
      return "invalid_cookie_reply";
    case DropReason::UNKNOWN_INDEX:
      return "unknown_index";
    case DropReason::KEYPAIR_EXPIRED:
      return "keypair_expired";
    case DropReason::DECRYPT_FAILED:
      return "decrypt_failed";
    case DropReason::REPLAYED_COUNTER:
      return "replayed_counter";
    case DropReason::INVALID_INNER_PACKET:
      return "invalid_inner_packet";
    case DropReason::DISALLOWED_SOURCE:
      return "disallowed_source";
    case DropReason::NO_ROUTE:
      return "no_route";
    case DropReason::PACKET_TOO_LARGE:
      return "packet_too_large";
  }
  return "unknown";
}

Device::Device(const DeviceConfig& config)
    : identity_((crypto::init(), config.privateKey)),
      tunMtu_(config.tunMtu),
      timings_(config.timings),
      random_(config.random ? config.random : &systemRandom_) {
  cookieChecker_.init(identity_.publicKey);
}

Device::~Device() = default;

Result<PeerId> Device::addPeer(const PeerConfig& config) {
  if (peers_.size() >= MAX_PEERS) return Error::overloaded("wireguard: too many peers");
  if (config.publicKey == identity_.publicKey)
    return Error::invalid("wireguard: peer has our own public key");
  if (peersByKey_.count(config.publicKey)) return Error::invalid("wireguard: duplicate peer public key");
  auto peer = std::make_unique<Peer>();
  peer->id = nextPeerId_++;
  peer->publicKey = config.publicKey;
  peer->handshake.remoteStatic = config.publicKey;
  if (!crypto::x25519(peer->handshake.precomputedStaticStatic, identity_.privateKey(), config.publicKey)) {
    return Error::invalid("wireguard: peer public key is low-order");
  }
  peer->cookieGenerator.init(config.publicKey);
  peer->endpoint = config.endpoint;
  peer->persistentKeepaliveSeconds = config.persistentKeepaliveSeconds;
  for (const IpPrefix& p : config.allowedIps) allowedIps_.insert(p, peer->id);
  const PeerId id = peer->id;
  peersByKey_[config.publicKey] = id;
  peers_[id] = std::move(peer);
  return id;
}

void Device::removePeer(PeerId id) {
  Peer* peer = findPeer(id);
  if (!peer) return;
  zeroAndFlushAll(*peer);
  allowedIps_.removePeer(id);
  peersByKey_.erase(peer->publicKey);
  peers_.erase(id);
}

std::optional<PeerId> Device::peerByKey(const Key32& publicKey) const {
  auto it = peersByKey_.find(publicKey);
  if (it == peersByKey_.end()) return std::nullopt;
  return it->second;
}

void Device::setEndpoint(PeerId id, const Endpoint& endpoint) {
  if (Peer* peer = findPeer(id)) peer->endpoint = endpoint;
}

void Device::setAllowedIps(PeerId id, const std::vector<IpPrefix>& allowedIps) {
  if (!findPeer(id)) return;
  allowedIps_.removePeer(id);
  for (const IpPrefix& p : allowedIps) allowedIps_.insert(p, id);
}

void Device::setPrivateKey(const Key32& privateKey) {
  identity_.reset(privateKey);
  cookieChecker_.init(identity_.publicKey);
  if (auto same = peerByKey(identity_.publicKey)) removePeer(*same);
  for (auto& [id, peer] : peers_) {
    zeroAndFlushAll(*peer);
    for (PeerTimer* t : {&peer->retransmitHandshake, &peer->sendKeepalive, &peer->newHandshake,
                         &peer->zeroKeyMaterial, &peer->persistentKeepalive}) {
      t->del();
    }
    peer->handshakeAttempts = 0;
    peer->handshake.lastSentHandshake.reset();
    // addPeer refused low-order keys, so this cannot fail for a peer we hold.
    if (!crypto::x25519(peer->handshake.precomputedStaticStatic, identity_.privateKey(), peer->publicKey)) {
      crypto::wipe(peer->handshake.precomputedStaticStatic);
    }
  }
}

std::optional<PeerStatus> Device::peerStatus(PeerId id) const {
  const Peer* peer = findPeer(id);
  if (!peer) return std::nullopt;
  PeerStatus s;
  s.publicKey = peer->publicKey;
  s.endpoint = peer->endpoint;
  s.hasCurrentKeypair = peer->current != nullptr;
  s.sessionsDerived = peer->sessionsDerived;
  s.lastHandshake = peer->lastHandshake;
  s.stagedPackets = peer->staged.size();
  s.handshakeAttempts = peer->handshakeAttempts;
  s.txBytes = peer->txBytes;
  s.rxBytes = peer->rxBytes;
  s.handshakeInProgress = peer->handshake.stage == HandshakeStage::INITIATION_CREATED;
  if (peer->current) s.keypairCreated = peer->current->created;
  return s;
}

Device::Peer* Device::findPeer(PeerId id) {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second.get();
}

const Device::Peer* Device::findPeer(PeerId id) const {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : it->second.get();
}

uint32_t Device::newIndex(PeerId peer) {
  // Index 0 is never handed out, so a cleared handshake (localIndex 0) never names a live entry.
  for (;;) {
    uint8_t b[4];
    random_->fill(b);
    const uint32_t index = getU32LE(b);
    if (index == 0 || indexTable_.count(index)) continue;
    indexTable_[index] = IndexEntry{peer, false};
    return index;
  }
}

void Device::deleteKeypair(std::unique_ptr<Keypair>& kp) {
  if (!kp) return;
  indexTable_.erase(kp->localIndex);
  kp.reset();
}

Device::Keypair* Device::keypairByIndex(Peer& peer, uint32_t localIndex) {
  for (Keypair* kp : {peer.current.get(), peer.next.get(), peer.previous.get()}) {
    if (kp && kp->localIndex == localIndex) return kp;
  }
  return nullptr;
}

void Device::noteHandshakeBacklog(size_t queued, Now now) {
  if (queued >= UNDER_LOAD_QUEUE_LENGTH) underLoadUntil_ = now.mono + UNDER_LOAD_AFTER_TIME;
}

// wireguard-go judges load by its handshake queue length. This core has no queue, so it counts
// handshake messages per second instead (the same threshold: a full queue's worth in a second),
// and also accepts the caller's backlog through noteHandshakeBacklog().
bool Device::isUnderLoad(Now now) {
  if (now.mono - loadWindowStart_ >= std::chrono::seconds(1)) {
    loadWindowStart_ = now.mono;
    loadWindowCount_ = 0;
  }
  if (++loadWindowCount_ >= UNDER_LOAD_QUEUE_LENGTH) underLoadUntil_ = now.mono + UNDER_LOAD_AFTER_TIME;
  return underLoadUntil_ && now.mono < *underLoadUntil_;
}

// Token bucket per source, as wireguard-go's ratelimiter (keyed by the opaque endpoint bytes).
bool Device::rateLimitAllows(const Endpoint& from, Now now) {
  constexpr Duration PACKET_COST = std::chrono::seconds(1) / RATELIMIT_PACKETS_PER_SECOND;
  constexpr Duration MAX_TOKENS = PACKET_COST * RATELIMIT_PACKETS_BURSTABLE;
  std::vector<uint8_t> key(from.view().begin(), from.view().end());
  auto it = rateBuckets_.find(key);
  if (it == rateBuckets_.end()) {
    rateBuckets_.emplace(std::move(key), Bucket{MAX_TOKENS - PACKET_COST, now.mono});
    return true;
  }
  Bucket& b = it->second;
  b.tokens += now.mono - b.lastTime;
  b.lastTime = now.mono;
  if (b.tokens > MAX_TOKENS) b.tokens = MAX_TOKENS;
  if (b.tokens > PACKET_COST) {
    b.tokens -= PACKET_COST;
    return true;
  }
  return false;
}

Duration Device::jitter() {
  uint8_t b[2];
  random_->fill(b);
  return std::chrono::milliseconds((uint32_t(b[0]) | (uint32_t(b[1]) << 8)) % REKEY_TIMEOUT_JITTER_MAX_MS);
}

DatagramResult Device::handleDatagram(ByteSpan datagram, const Endpoint& from, Now now) {
  DatagramResult r;
  auto type = wire::classifyWgDatagram(datagram);
  if (!type) {
    r.drop = DropReason::MALFORMED;
    return r;
  }
  switch (*type) {
    case wire::WgMessageType::INITIATION:
      handleInitiation(datagram, from, now, r);
      break;
    case wire::WgMessageType::RESPONSE:
      handleResponse(datagram, from, now, r);
      break;
    case wire::WgMessageType::COOKIE_REPLY:
      handleCookieReply(datagram, now, r);
      break;
    case wire::WgMessageType::TRANSPORT:
      handleTransport(datagram, from, now, r);
      break;
  }
  return r;
}

bool Device::checkHandshakeMacs(ByteSpan msg, const Endpoint& from, Now now, DatagramResult& r) {
  if (!cookieChecker_.checkMac1(msg)) {
    r.drop = DropReason::INVALID_MAC1;
    return false;
  }
  if (isUnderLoad(now)) {
    if (!cookieChecker_.checkMac2(msg, from.view(), now.mono)) {
      const uint32_t sender = getU32LE(msg.data() + 4);
      auto reply = cookieChecker_.createReply(msg, sender, from.view(), now.mono, *random_);
      r.send.push_back(Datagram{NO_PEER, from, wire::serializeWgCookieReply(reply)});
      r.drop = DropReason::COOKIE_REQUIRED;
      return false;
    }
    if (!rateLimitAllows(from, now)) {
      r.drop = DropReason::RATE_LIMITED;
      return false;
    }
  }
  return true;
}

void Device::handleInitiation(ByteSpan bytes, const Endpoint& from, Now now, DatagramResult& r) {
  if (!checkHandshakeMacs(bytes, from, now, r)) return;
  auto msg = wire::parseWgInitiation(bytes);
  if (!msg) {
    r.drop = DropReason::MALFORMED;
    return;
  }
  auto opening = openInitiationStatic(identity_, *msg);
  if (!opening) {
    r.drop = DropReason::HANDSHAKE_INVALID;
    return;
  }
  auto it = peersByKey_.find(opening->peerStatic);
  if (it == peersByKey_.end()) {
    r.drop = DropReason::UNKNOWN_PEER;
    return;
  }
  Peer& peer = *peers_.at(it->second);
  auto timestamp = openInitiationTimestamp(*opening, peer.handshake.precomputedStaticStatic, *msg);
  if (!timestamp) {
    r.drop = DropReason::HANDSHAKE_INVALID;
    return;
  }
  if (!tai64nAfter(*timestamp, peer.handshake.lastTimestamp)) {
    r.drop = DropReason::REPLAYED_INITIATION;
    return;
  }
  if (peer.handshake.lastInitiationConsumption &&
      now.mono - *peer.handshake.lastInitiationConsumption <= HANDSHAKE_INITIATION_RATE) {
    r.drop = DropReason::HANDSHAKE_FLOOD;
    return;
  }
  commitInitiation(peer.handshake, *opening, *msg, *timestamp, now.mono);
  r.peer = peer.id;
  timersAnyAuthenticatedPacketTraversal(peer, now);
  timersAnyAuthenticatedPacketReceived(peer);
  peer.endpoint = from;
  peer.rxBytes += bytes.size();
  sendHandshakeResponse(peer, now, r.send);
}

void Device::handleResponse(ByteSpan bytes, const Endpoint& from, Now now, DatagramResult& r) {
  if (!checkHandshakeMacs(bytes, from, now, r)) return;
  auto msg = wire::parseWgResponse(bytes);
  if (!msg) {
    r.drop = DropReason::MALFORMED;
    return;
  }
  auto entry = indexTable_.find(msg->receiver);
  if (entry == indexTable_.end() || entry->second.isKeypair) {
    r.drop = DropReason::UNEXPECTED_RESPONSE;
    return;
  }
  Peer& peer = *peers_.at(entry->second.peer);
  if (peer.handshake.stage != HandshakeStage::INITIATION_CREATED) {
    r.drop = DropReason::UNEXPECTED_RESPONSE;
    return;
  }
  if (!consumeResponse(identity_, peer.handshake, *msg)) {
    r.drop = DropReason::HANDSHAKE_INVALID;
    return;
  }
  r.peer = peer.id;
  peer.endpoint = from;
  peer.rxBytes += bytes.size();
  timersAnyAuthenticatedPacketTraversal(peer, now);
  timersAnyAuthenticatedPacketReceived(peer);
  beginSymmetricSession(peer, now);
  timersSessionDerived(peer, now);
  timersHandshakeComplete(peer, now);
  sendKeepalive(peer, now, r.send);  // confirms the session to the responder (or releases staged data)
}

void Device::handleCookieReply(ByteSpan bytes, Now now, DatagramResult& r) {
  auto msg = wire::parseWgCookieReply(bytes);
  if (!msg) {
    r.drop = DropReason::MALFORMED;
    return;
  }
  auto entry = indexTable_.find(msg->receiver);
  if (entry == indexTable_.end()) {
    r.drop = DropReason::UNKNOWN_INDEX;
    return;
  }
  Peer& peer = *peers_.at(entry->second.peer);
  if (!peer.cookieGenerator.consumeReply(*msg, now.mono)) {
    r.drop = DropReason::INVALID_COOKIE_REPLY;
    return;
  }
  r.peer = peer.id;
}

namespace {

// Trims padding using the IP header's length and returns the inner source address, or a drop
// reason (wireguard-go RoutineSequentialReceiver).
DropReason trimInnerPacket(Bytes& packet, ByteSpan& source) {
  constexpr size_t IPV4_HEADER_LEN = 20, IPV6_HEADER_LEN = 40;
  switch (packet[0] >> 4) {
    case 4: {
      if (packet.size() < IPV4_HEADER_LEN) return DropReason::INVALID_INNER_PACKET;
      const size_t length = getU16BE(packet.data() + 2);
      if (length > packet.size() || length < IPV4_HEADER_LEN) return DropReason::INVALID_INNER_PACKET;
      packet.resize(length);
      source = ByteSpan(packet.data() + 12, 4);
      return DropReason::NONE;
    }
    case 6: {
      if (packet.size() < IPV6_HEADER_LEN) return DropReason::INVALID_INNER_PACKET;
      const size_t length = size_t(getU16BE(packet.data() + 4)) + IPV6_HEADER_LEN;
      if (length > packet.size()) return DropReason::INVALID_INNER_PACKET;
      packet.resize(length);
      source = ByteSpan(packet.data() + 8, 16);
      return DropReason::NONE;
    }
    default:
      return DropReason::INVALID_INNER_PACKET;
  }
}

}  // namespace

void Device::handleTransport(ByteSpan bytes, const Endpoint& from, Now now, DatagramResult& r) {
  auto header = wire::parseWgTransportHeader(bytes);
  if (!header) {
    r.drop = DropReason::MALFORMED;
    return;
  }
  auto entry = indexTable_.find(header->receiver);
  if (entry == indexTable_.end() || !entry->second.isKeypair) {
    r.drop = DropReason::UNKNOWN_INDEX;
    return;
  }
  Peer& peer = *peers_.at(entry->second.peer);
  Keypair* kp = keypairByIndex(peer, header->receiver);
  if (!kp) {
    r.drop = DropReason::UNKNOWN_INDEX;
    return;
  }
  if (kp->created + REJECT_AFTER_TIME < now.mono) {
    r.drop = DropReason::KEYPAIR_EXPIRED;
    return;
  }
  const ByteSpan content = bytes.subspan(wire::WG_TRANSPORT_OFFSET_CONTENT);
  Bytes plain(content.size() - wire::WG_TAG_SIZE);
  if (!crypto::aeadOpen(plain, kp->receiveKey, crypto::nonceLE(header->counter), content, {})) {
    r.drop = DropReason::DECRYPT_FAILED;
    return;
  }
  if (!kp->replayFilter.validateCounter(header->counter, REJECT_AFTER_MESSAGES)) {
    r.drop = DropReason::REPLAYED_COUNTER;
    return;
  }
  r.peer = peer.id;
  if (receivedWithKeypair(peer, kp)) {
    peer.endpoint = from;
    timersHandshakeComplete(peer, now);
    sendStagedPackets(peer, now, r.send);
  }
  peer.rxBytes += plain.size() + wire::WG_KEEPALIVE_SIZE;
  const bool isData = !plain.empty();
  DropReason inner = DropReason::NONE;
  if (isData) {
    ByteSpan source;
    inner = trimInnerPacket(plain, source);
    if (inner == DropReason::NONE && allowedIps_.lookup(source) != peer.id)
      inner = DropReason::DISALLOWED_SOURCE;
  }
  peer.endpoint = from;
  keepKeyFreshReceiving(peer, now, r.send);
  timersAnyAuthenticatedPacketTraversal(peer, now);
  timersAnyAuthenticatedPacketReceived(peer);
  if (isData) timersDataReceived(peer, now);

  if (!isData) {
    r.keepalive = true;
  } else if (inner != DropReason::NONE) {
    r.drop = inner;
  } else {
    r.packet = std::move(plain);
  }
}

}  // namespace tnet::wg
