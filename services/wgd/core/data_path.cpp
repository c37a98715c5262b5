#include "services/wgd/core/data_path.h"

#include <algorithm>
#include <cstring>
#include <set>

namespace tnet::wg {
namespace {

// The Device copies the key into its own sodium memory; this temporary copy is wiped.
struct WipedConfig : DeviceConfig {
  WipedConfig(const Key32& key, RandomSource* r) {
    privateKey = key;
    random = r;
  }
  ~WipedConfig() { crypto::wipe(privateKey); }
};

}  // namespace

std::string_view peerStateName(PeerState state) {
  switch (state) {
    case PeerState::NONE:
      return "none";
    case PeerState::HANDSHAKING:
      return "handshaking";
    case PeerState::ESTABLISHED:
      return "established";
    case PeerState::EXPIRED:
      return "expired";
  }
  return "none";
}

DataPath::DataPath(const Key32& privateKey, DataPathOutput output, RandomSource* random)
    : device_(WipedConfig(privateKey, random)), out_(std::move(output)), random_(random ? random : &systemRandom_) {
  frame_.reserve(MAGICSOCK_TAG_SIZE + 2048);
}

void DataPath::setPrivateKey(const Key32& privateKey) {
  device_.setPrivateKey(privateKey);
  // The Device drops a peer that now has our own key; forget it here too.
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (!device_.peerStatus(it->second)) {
      keysById_.erase(it->second);
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
}

std::vector<Key32> DataPath::setPeers(const std::vector<PeerSpec>& peers) {
  std::vector<Key32> rejected;
  std::set<Key32> wanted;
  for (const PeerSpec& p : peers) wanted.insert(p.publicKey);
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (!wanted.count(it->first)) {
      device_.removePeer(it->second);
      keysById_.erase(it->second);
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  for (const PeerSpec& p : peers) {
    auto it = peers_.find(p.publicKey);
    if (it != peers_.end()) {
      device_.setAllowedIps(it->second, p.allowedIps);
      continue;
    }
    PeerConfig pc;
    pc.publicKey = p.publicKey;
    pc.allowedIps = p.allowedIps;
    auto id = device_.addPeer(pc);
    if (!id) {
      rejected.push_back(p.publicKey);
      continue;
    }
    peers_[p.publicKey] = *id;
    keysById_[*id] = p.publicKey;
  }
  return rejected;
}

void DataPath::countDrop(DropReason reason) {
  if (reason != DropReason::NONE) ++counters_.drops[size_t(reason)];
}

void DataPath::emit(std::vector<Datagram>& send) {
  for (Datagram& d : send) {
    const Key32* tag = nullptr;
    Key32 fromEndpoint{};
    if (d.peer != NO_PEER) {
      auto it = keysById_.find(d.peer);
      if (it != keysById_.end()) tag = &it->second;
    } else if (d.to.size >= MAGICSOCK_TAG_SIZE) {
      // A cookie reply to an unidentified sender goes back the way the datagram came.
      std::copy_n(d.to.bytes.begin(), MAGICSOCK_TAG_SIZE, fromEndpoint.begin());
      if (fromEndpoint != Key32{}) tag = &fromEndpoint;
    }
    if (!tag) {
      ++counters_.untaggedDatagrams;
      continue;
    }
    frame_.resize(MAGICSOCK_TAG_SIZE + d.bytes.size());
    std::memcpy(frame_.data(), tag->data(), MAGICSOCK_TAG_SIZE);
    std::memcpy(frame_.data() + MAGICSOCK_TAG_SIZE, d.bytes.data(), d.bytes.size());
    ++counters_.toMagicsock;
    out_.toMagicsock(frame_);
  }
}

void DataPath::fromMagicsock(ByteSpan frame, Now now) {
  if (frame.size() <= MAGICSOCK_HEADER_SIZE) {
    ++counters_.malformedFrames;
    return;
  }
  const Endpoint from = Endpoint::fromBytes(frame.first(MAGICSOCK_HEADER_SIZE));
  DatagramResult r = device_.handleDatagram(frame.subspan(MAGICSOCK_HEADER_SIZE), from, now);
  countDrop(r.drop);
  emit(r.send);
  if (r.packet) deliver(*r.packet, r.peer, now);
}

void DataPath::deliver(Bytes& packet, PeerId from, Now now) {
  auto ip = parseIp(packet);
  if (ip) {
    if (!pingTokens_.empty() && consumePingAnswer(*ip)) return;
    if (auto tsmp = parseTsmp(*ip)) {
      if (auto* ping = std::get_if<TsmpPing>(&*tsmp)) {
        ++counters_.tsmpPings;
        Bytes pong = buildTsmpPong(*ip, *ping);
        SendResult s = device_.sendPacket(pong, now);
        countDrop(s.drop);
        emit(s.send);
      } else if (auto* advert = std::get_if<TsmpDiscoAdvert>(&*tsmp)) {
        ++counters_.discoAdverts;
        auto it = keysById_.find(from);
        if (it != keysById_.end() && out_.discoAdvert) out_.discoAdvert(it->second, advert->discoPublic);
      }
      return;
    }
  }
  ++counters_.toNetstack;
  out_.toNetstack(packet);
}

void DataPath::fromNetstack(ByteSpan packet, Now now) {
  SendResult s = device_.sendPacket(packet, now);
  countDrop(s.drop);
  emit(s.send);
}

namespace {

std::array<uint8_t, 16> addressKey(ByteSpan addr) {
  std::array<uint8_t, 16> k{};
  std::copy(addr.begin(), addr.end(), k.begin());
  return k;
}

}  // namespace

Result<Key32> DataPath::startPing(uint64_t token, PingKind kind, ByteSpan source, ByteSpan destination, Now now) {
  if (source.size() != destination.size() || (source.size() != 4 && source.size() != 16))
    return Error::invalid("ping: source and destination must be IPv4 or IPv6 addresses of one family");
  if (pingTokens_.count(token)) return Error::invalid("ping: token in use");
  if (pingTokens_.size() >= MAX_PENDING_PINGS) return Error::overloaded("ping: too many pings outstanding");
  auto peer = device_.routeFor(destination);
  auto key = peer ? keysById_.find(*peer) : keysById_.end();
  if (key == keysById_.end()) return Error::failed("no matching peer");
  PingKey pk;
  pk.kind = kind;
  Bytes packet;
  if (kind == PingKind::TSMP) {
    do {
      random_->fill(pk.tsmpData);
    } while (tsmpWaiters_.count(pk.tsmpData));
    packet = buildTsmpPing(source, destination, pk.tsmpData);
    tsmpWaiters_[pk.tsmpData] = token;
  } else {
    pk.icmp.first = addressKey(destination);
    do {
      random_->fill(pk.icmp.second);
    } while (icmpWaiters_.count(pk.icmp));
    packet = buildIcmpEchoRequest(source, destination, pk.icmp.second);
    icmpWaiters_[pk.icmp] = token;
  }
  pingTokens_[token] = pk;
  ++counters_.pingsSent;
  SendResult s = device_.sendPacket(packet, now);
  countDrop(s.drop);
  emit(s.send);
  return key->second;
}

void DataPath::cancelPing(uint64_t token) {
  auto it = pingTokens_.find(token);
  if (it == pingTokens_.end()) return;
  if (it->second.kind == PingKind::TSMP) {
    tsmpWaiters_.erase(it->second.tsmpData);
  } else {
    icmpWaiters_.erase(it->second.icmp);
  }
  pingTokens_.erase(it);
}

// Go's tstun wrapper hands every pong to the engine (which ignores unknown data) and swallows an
// echo reply only when its id/seq is one the engine is waiting for; everything else flows on.
bool DataPath::consumePingAnswer(const IpView& ip) {
  std::optional<uint64_t> token;
  uint16_t port = 0;
  if (auto pong = parseTsmpPong(ip)) {
    auto it = tsmpWaiters_.find(pong->data);
    if (it == tsmpWaiters_.end()) return false;
    token = it->second;
    port = pong->peerApiPort;
  } else if (auto idSeq = parseIcmpEchoReply(ip)) {
    auto it = icmpWaiters_.find(IcmpKey{addressKey(ip.source), *idSeq});
    if (it == icmpWaiters_.end()) return false;
    token = it->second;
  } else {
    return false;
  }
  cancelPing(*token);
  ++counters_.pingsAnswered;
  if (out_.pingAnswered) out_.pingAnswered(*token, port);
  return true;
}

void DataPath::tick(Now now) {
  TickResult t = device_.tick(now);
  emit(t.send);
}

std::vector<PeerReport> DataPath::peerReports(Now now) const {
  std::vector<PeerReport> out;
  out.reserve(peers_.size());
  for (const auto& [key, id] : peers_) {
    auto s = device_.peerStatus(id);
    if (!s) continue;
    PeerReport r;
    r.publicKey = key;
    r.lastHandshake = s->lastHandshake;
    r.rxBytes = s->rxBytes;
    r.txBytes = s->txBytes;
    if (s->keypairCreated && now.mono - *s->keypairCreated < REJECT_AFTER_TIME) {
      r.state = PeerState::ESTABLISHED;
    } else if (s->handshakeInProgress) {
      r.state = PeerState::HANDSHAKING;
    } else if (s->lastHandshake) {
      r.state = PeerState::EXPIRED;
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace tnet::wg
