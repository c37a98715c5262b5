#include "libs/wire/derp.h"

#include <cstring>

namespace tnet::derp {

namespace {

NodePublic getKey(const uint8_t* p) {
  crypto::Key32 k;
  std::memcpy(k.data(), p, KEY_LEN);
  return NodePublic(k);
}

void appendKey(Bytes& out, const NodePublic& k) {
  out.insert(out.end(), k.raw().begin(), k.raw().end());
}

void appendBytes(Bytes& out, const uint8_t* p, size_t n) {
  out.insert(out.end(), p, p + n);
}

Result<void> checkPacketLen(size_t n) {
  if (n > MAX_PACKET_SIZE) {
    return Error::invalid("derp: packet too big: " + std::to_string(n) + " bytes (max " +
                          std::to_string(MAX_PACKET_SIZE) + ")");
  }
  return {};
}

}  // namespace

const char* frameTypeName(FrameType t) {
  switch (t) {
    case FrameType::SERVER_KEY:
      return "ServerKey";
    case FrameType::CLIENT_INFO:
      return "ClientInfo";
    case FrameType::SERVER_INFO:
      return "ServerInfo";
    case FrameType::SEND_PACKET:
      return "SendPacket";
    case FrameType::RECV_PACKET:
      return "RecvPacket";
    case FrameType::KEEP_ALIVE:
      return "KeepAlive";
    case FrameType::NOTE_PREFERRED:
      return "NotePreferred";
    case FrameType::PEER_GONE:
      return "PeerGone";
    case FrameType::PEER_PRESENT:
      return "PeerPresent";
    case FrameType::FORWARD_PACKET:
      return "ForwardPacket";
    case FrameType::WATCH_CONNS:
      return "WatchConns";
    case FrameType::CLOSE_PEER:
      return "ClosePeer";
    case FrameType::PING:
      return "Ping";
    case FrameType::PONG:
      return "Pong";
    case FrameType::HEALTH:
      return "Health";
    case FrameType::RESTARTING:
      return "Restarting";
  }
  return "unknown";
}

std::array<uint8_t, FRAME_HEADER_LEN> frameHeader(FrameType type, uint32_t len) {
  std::array<uint8_t, FRAME_HEADER_LEN> h;
  h[0] = uint8_t(type);
  putU32BE(&h[1], len);
  return h;
}

void appendFrameHeader(Bytes& out, FrameType type, uint32_t len) {
  auto h = frameHeader(type, len);
  appendBytes(out, h.data(), h.size());
}

Result<void> appendFrame(Bytes& out, FrameType type, ByteSpan payload) {
  if (payload.size() > MAX_WRITE_FRAME_LEN) return Error::invalid("derp: unreasonably large frame write");
  appendFrameHeader(out, type, uint32_t(payload.size()));
  appendBytes(out, payload.data(), payload.size());
  return {};
}

void appendServerKey(Bytes& out, const NodePublic& serverPub) {
  appendFrameHeader(out, FrameType::SERVER_KEY, SERVER_KEY_LEN);
  appendBytes(out, MAGIC, sizeof(MAGIC));
  appendKey(out, serverPub);
}

Result<std::array<uint8_t, FRAME_HEADER_LEN + KEY_LEN>> packetFramePrefix(FrameType type,
                                                                          const NodePublic& key,
                                                                          size_t packetLen) {
  TNET_TRY_VOID(checkPacketLen(packetLen));
  std::array<uint8_t, FRAME_HEADER_LEN + KEY_LEN> p;
  p[0] = uint8_t(type);
  putU32BE(&p[1], uint32_t(KEY_LEN + packetLen));
  std::memcpy(&p[FRAME_HEADER_LEN], key.raw().data(), KEY_LEN);
  return p;
}

Result<void> appendSendPacket(Bytes& out, const NodePublic& dst, ByteSpan packet) {
  TNET_TRY(auto prefix, packetFramePrefix(FrameType::SEND_PACKET, dst, packet.size()));
  appendBytes(out, prefix.data(), prefix.size());
  appendBytes(out, packet.data(), packet.size());
  return {};
}

Result<void> appendRecvPacket(Bytes& out, const NodePublic& src, ByteSpan packet) {
  TNET_TRY(auto prefix, packetFramePrefix(FrameType::RECV_PACKET, src, packet.size()));
  appendBytes(out, prefix.data(), prefix.size());
  appendBytes(out, packet.data(), packet.size());
  return {};
}

Result<void> appendForwardPacket(Bytes& out, const NodePublic& src, const NodePublic& dst, ByteSpan packet) {
  TNET_TRY_VOID(checkPacketLen(packet.size()));
  appendFrameHeader(out, FrameType::FORWARD_PACKET, uint32_t(2 * KEY_LEN + packet.size()));
  appendKey(out, src);
  appendKey(out, dst);
  appendBytes(out, packet.data(), packet.size());
  return {};
}

void appendKeepAlive(Bytes& out) {
  appendFrameHeader(out, FrameType::KEEP_ALIVE, 0);
}

void appendNotePreferred(Bytes& out, bool preferred) {
  appendFrameHeader(out, FrameType::NOTE_PREFERRED, 1);
  out.push_back(preferred ? 0x01 : 0x00);
}

void appendPeerGone(Bytes& out, const NodePublic& peer, PeerGoneReason reason) {
  appendFrameHeader(out, FrameType::PEER_GONE, KEY_LEN + 1);
  appendKey(out, peer);
  out.push_back(uint8_t(reason));
}

void appendPeerPresent(Bytes& out, const NodePublic& peer, const wire::IpPort& ipPort, uint8_t flags) {
  appendFrameHeader(out, FrameType::PEER_PRESENT, PEER_PRESENT_LEN);
  appendKey(out, peer);
  uint8_t ep[wire::IP_PORT_WIRE_LEN];
  wire::putIpPort(ep, ipPort);
  appendBytes(out, ep, sizeof ep);
  out.push_back(flags);
}

void appendWatchConns(Bytes& out) {
  appendFrameHeader(out, FrameType::WATCH_CONNS, 0);
}

void appendClosePeer(Bytes& out, const NodePublic& target) {
  appendFrameHeader(out, FrameType::CLOSE_PEER, KEY_LEN);
  appendKey(out, target);
}

void appendPing(Bytes& out, const PingData& data) {
  appendFrameHeader(out, FrameType::PING, uint32_t(data.size()));
  appendBytes(out, data.data(), data.size());
}

void appendPong(Bytes& out, const PingData& data) {
  appendFrameHeader(out, FrameType::PONG, uint32_t(data.size()));
  appendBytes(out, data.data(), data.size());
}

Result<void> appendHealth(Bytes& out, std::string_view problem) {
  return appendFrame(out, FrameType::HEALTH,
                     ByteSpan(reinterpret_cast<const uint8_t*>(problem.data()), problem.size()));
}

void appendRestarting(Bytes& out, uint32_t reconnectInMs, uint32_t tryForMs) {
  appendFrameHeader(out, FrameType::RESTARTING, 8);
  uint8_t b[8];
  putU32BE(b, reconnectInMs);
  putU32BE(b + 4, tryForMs);
  appendBytes(out, b, sizeof b);
}

Result<NodePublic> parseServerKey(const Frame& f) {
  if (f.payload.size() > SERVER_KEY_MAX_LEN) {
    return Error::invalid("derp: server greeting of " + std::to_string(f.payload.size()) +
                          " bytes exceeds the 1024-byte limit");
  }
  if (f.type != FrameType::SERVER_KEY || f.payload.size() < SERVER_KEY_LEN ||
      std::memcmp(f.payload.data(), MAGIC, sizeof(MAGIC)) != 0) {
    return Error::invalid("derp: invalid server greeting");
  }
  return getKey(f.payload.data() + sizeof(MAGIC));
}

ServerMessage decodeServerFrame(const Frame& f) {
  const ByteSpan b = f.payload;
  switch (f.type) {
    case FrameType::SERVER_INFO:
      return ServerInfoSealed{b};
    case FrameType::KEEP_ALIVE:
      return KeepAlive{};
    case FrameType::PEER_GONE: {
      if (b.size() < KEY_LEN) return Ignored{f.type, "short peerGone frame"};
      PeerGone m;
      m.peer = getKey(b.data());
      if (b.size() > KEY_LEN) m.reason = PeerGoneReason(b[KEY_LEN]);
      return m;
    }
    case FrameType::PEER_PRESENT: {
      if (b.size() < KEY_LEN) return Ignored{f.type, "short peerPresent frame"};
      PeerPresent m;
      m.key = getKey(b.data());
      if (b.size() >= KEY_LEN + wire::IP_PORT_WIRE_LEN) {
        m.ipPort = wire::getIpPort(b.data() + KEY_LEN);
        if (b.size() >= PEER_PRESENT_LEN) m.flags = b[KEY_LEN + wire::IP_PORT_WIRE_LEN];
      }
      return m;
    }
    case FrameType::RECV_PACKET: {
      if (b.size() < KEY_LEN) return Ignored{f.type, "short packet"};
      return RecvPacket{getKey(b.data()), b.subspan(KEY_LEN)};
    }
    case FrameType::PING: {
      if (b.size() < 8) return Ignored{f.type, "short ping frame"};
      Ping m;
      std::memcpy(m.data.data(), b.data(), 8);
      return m;
    }
    case FrameType::PONG: {
      if (b.size() < 8) return Ignored{f.type, "short pong frame"};
      Pong m;
      std::memcpy(m.data.data(), b.data(), 8);
      return m;
    }
    case FrameType::HEALTH:
      return Health{std::string(reinterpret_cast<const char*>(b.data()), b.size())};
    case FrameType::RESTARTING: {
      if (b.size() < 8) return Ignored{f.type, "short server restarting frame"};
      return Restarting{getU32BE(b.data()), getU32BE(b.data() + 4)};
    }
    default:
      return Ignored{f.type, "frame type not handled by clients"};
  }
}

bool isServerHandledType(FrameType t) {
  switch (t) {
    case FrameType::CLIENT_INFO:
    case FrameType::SEND_PACKET:
    case FrameType::FORWARD_PACKET:
    case FrameType::NOTE_PREFERRED:
    case FrameType::WATCH_CONNS:
    case FrameType::CLOSE_PEER:
    case FrameType::PING:
      return true;
    default:
      return false;
  }
}

Result<ClientMessage> decodeClientFrame(const Frame& f) {
  const ByteSpan b = f.payload;
  switch (f.type) {
    case FrameType::SEND_PACKET: {
      if (b.size() < KEY_LEN) return Error::invalid("derp: short send packet frame");
      if (b.size() - KEY_LEN > MAX_PACKET_SIZE) {
        return Error::invalid("derp: data packet longer (" + std::to_string(b.size() - KEY_LEN) +
                              ") than max of 65536");
      }
      return ClientMessage(SendPacket{getKey(b.data()), b.subspan(KEY_LEN)});
    }
    case FrameType::FORWARD_PACKET: {
      if (b.size() < 2 * KEY_LEN) return Error::invalid("derp: short forward packet frame");
      if (b.size() - 2 * KEY_LEN > MAX_PACKET_SIZE) {
        return Error::invalid("derp: data packet longer (" + std::to_string(b.size() - 2 * KEY_LEN) +
                              ") than max of 65536");
      }
      return ClientMessage(
          ForwardPacket{getKey(b.data()), getKey(b.data() + KEY_LEN), b.subspan(2 * KEY_LEN)});
    }
    case FrameType::NOTE_PREFERRED:
      if (b.size() != 1) return Error::invalid("derp: frameNotePreferred wrong size");
      return ClientMessage(NotePreferred{b[0] != 0});
    case FrameType::WATCH_CONNS:
      if (!b.empty()) return Error::invalid("derp: frameWatchConns wrong size");
      return ClientMessage(WatchConns{});
    case FrameType::CLOSE_PEER:
      if (b.size() != KEY_LEN) return Error::invalid("derp: frameClosePeer wrong size");
      return ClientMessage(ClosePeer{getKey(b.data())});
    case FrameType::PING: {
      if (b.size() < 8) return Error::invalid("derp: short ping: " + std::to_string(b.size()));
      if (b.size() > SERVER_MAX_PING_LEN)
        return Error::invalid("derp: ping body too large: " + std::to_string(b.size()));
      Ping m;
      std::memcpy(m.data.data(), b.data(), 8);
      return ClientMessage(m);
    }
    default:
      return ClientMessage(UnknownFrame{f.type});
  }
}

}  // namespace tnet::derp
