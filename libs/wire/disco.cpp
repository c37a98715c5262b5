#include "libs/wire/disco.h"

#include <cstring>

namespace tnet::disco {

namespace {

const Error SHORT = Error::invalid("disco: short message");

uint8_t* appendHeader(Bytes& out, MessageType t, size_t dataLen) {
  size_t at = out.size();
  out.resize(at + MESSAGE_HEADER_LEN + dataLen);  // zero-filled: Ping padding relies on it
  out[at] = uint8_t(t);
  out[at + 1] = 0;  // version 0
  return out.data() + at + MESSAGE_HEADER_LEN;
}

template <typename Tag>
uint8_t* putKey(uint8_t* p, const key::PublicKey<Tag>& k) {
  std::memcpy(p, k.raw().data(), KEY_LEN);
  return p + KEY_LEN;
}

crypto::Key32 getRaw(const uint8_t* p) {
  crypto::Key32 k;
  std::memcpy(k.data(), p, k.size());
  return k;
}
DiscoPublic getDisco(const uint8_t* p) {
  return DiscoPublic(getRaw(p));
}
NodePublic getNode(const uint8_t* p) {
  return NodePublic(getRaw(p));
}

std::vector<wire::IpPort> getEndpoints(ByteSpan b) {
  std::vector<wire::IpPort> eps;
  eps.reserve(b.size() / wire::IP_PORT_WIRE_LEN);  // bounded by the input
  for (size_t i = 0; i + wire::IP_PORT_WIRE_LEN <= b.size(); i += wire::IP_PORT_WIRE_LEN) {
    eps.push_back(wire::getIpPort(b.data() + i));
  }
  return eps;
}

size_t relayEndpointLen(const UdpRelayEndpoint& e) {
  return RELAY_ENDPOINT_FIXED_LEN + wire::IP_PORT_WIRE_LEN * e.addrPorts.size();
}

void putRelayEndpoint(uint8_t* p, const UdpRelayEndpoint& e) {
  p = putKey(p, e.serverDisco);
  p = putKey(p, e.clientDisco[0]);
  p = putKey(p, e.clientDisco[1]);
  putU64BE(p, e.lamportId);
  putU32BE(p + 8, e.vni);
  putU64BE(p + 12, uint64_t(e.bindLifetimeNs));
  putU64BE(p + 20, uint64_t(e.steadyStateLifetimeNs));
  p += 28;
  for (const auto& ep : e.addrPorts) {
    wire::putIpPort(p, ep);
    p += wire::IP_PORT_WIRE_LEN;
  }
}

// Go's UDPRelayEndpoint.decode: the fixed part plus at least one whole endpoint.
Result<UdpRelayEndpoint> getRelayEndpoint(ByteSpan b) {
  if (b.size() < RELAY_ENDPOINT_FIXED_LEN + wire::IP_PORT_WIRE_LEN ||
      (b.size() - RELAY_ENDPOINT_FIXED_LEN) % wire::IP_PORT_WIRE_LEN != 0) {
    return SHORT;
  }
  UdpRelayEndpoint e;
  const uint8_t* p = b.data();
  e.serverDisco = getDisco(p);
  e.clientDisco[0] = getDisco(p + 32);
  e.clientDisco[1] = getDisco(p + 64);
  e.lamportId = getU64BE(p + 96);
  e.vni = getU32BE(p + 104);
  e.bindLifetimeNs = int64_t(getU64BE(p + 108));
  e.steadyStateLifetimeNs = int64_t(getU64BE(p + 116));
  e.addrPorts = getEndpoints(b.subspan(RELAY_ENDPOINT_FIXED_LEN));
  return e;
}

struct Appender {
  Bytes& out;

  void operator()(const Ping& m) {
    const bool hasKey = !m.nodeKey.isZero();
    uint8_t* d = appendHeader(out, MessageType::PING, 12 + (hasKey ? KEY_LEN : 0) + m.padding);
    std::memcpy(d, m.txId.data(), 12);
    if (hasKey) putKey(d + 12, m.nodeKey);
  }
  void operator()(const Pong& m) {
    uint8_t* d = appendHeader(out, MessageType::PONG, PONG_LEN);
    std::memcpy(d, m.txId.data(), 12);
    wire::putIpPort(d + 12, m.src);
  }
  void operator()(const CallMeMaybe& m) {
    uint8_t* d = appendHeader(out, MessageType::CALL_ME_MAYBE, wire::IP_PORT_WIRE_LEN * m.myNumber.size());
    for (const auto& ep : m.myNumber) {
      wire::putIpPort(d, ep);
      d += wire::IP_PORT_WIRE_LEN;
    }
  }
  void operator()(const BindUdpRelayEndpoint& m) {
    uint8_t* d = appendHeader(out, m.type, BIND_COMMON_LEN);
    putU32BE(d, m.vni);
    putU32BE(d + 4, m.generation);
    d = putKey(d + 8, m.remoteKey);
    std::memcpy(d, m.challenge.data(), m.challenge.size());
  }
  void operator()(const CallMeMaybeVia& m) {
    uint8_t* d = appendHeader(out, MessageType::CALL_ME_MAYBE_VIA, relayEndpointLen(m.endpoint));
    putRelayEndpoint(d, m.endpoint);
  }
  void operator()(const AllocateUdpRelayEndpointRequest& m) {
    uint8_t* d = appendHeader(out, MessageType::ALLOCATE_UDP_RELAY_ENDPOINT_REQUEST, ALLOCATE_REQUEST_LEN);
    d = putKey(d, m.clientDisco[0]);
    d = putKey(d, m.clientDisco[1]);
    putU32BE(d, m.generation);
  }
  void operator()(const AllocateUdpRelayEndpointResponse& m) {
    uint8_t* d = appendHeader(out, MessageType::ALLOCATE_UDP_RELAY_ENDPOINT_RESPONSE,
                              4 + relayEndpointLen(m.endpoint));
    putU32BE(d, m.generation);
    putRelayEndpoint(d + 4, m.endpoint);
  }
  void operator()(const UnknownMessage& m) {
    out.push_back(m.type);
    out.push_back(m.version);
  }
};

}  // namespace

Result<Message> parseMessage(ByteSpan p) {
  if (p.size() < MESSAGE_HEADER_LEN) return SHORT;
  const uint8_t type = p[0];
  const uint8_t ver = p[1];
  ByteSpan b = p.subspan(MESSAGE_HEADER_LEN);
  switch (MessageType(type)) {
    case MessageType::PING: {
      if (b.size() < 12) return SHORT;
      Ping m;
      std::memcpy(m.txId.data(), b.data(), 12);
      m.padding = b.size() - 12;
      // Lax on longer messages, as Go: a key if 32 bytes follow, the rest is padding.
      if (b.size() - 12 >= KEY_LEN) {
        m.nodeKey = getNode(b.data() + 12);
        m.padding -= KEY_LEN;
      }
      return Message(m);
    }
    case MessageType::PONG: {
      if (b.size() < PONG_LEN) return SHORT;
      Pong m;
      std::memcpy(m.txId.data(), b.data(), 12);
      m.src = wire::getIpPort(b.data() + 12);
      return Message(m);
    }
    case MessageType::CALL_ME_MAYBE: {
      CallMeMaybe m;
      // Go ignores (without error) a body that is not whole endpoints or has version ≠ 0.
      if (b.size() % wire::IP_PORT_WIRE_LEN != 0 || ver != 0 || b.empty()) return Message(m);
      m.myNumber = getEndpoints(b);
      return Message(m);
    }
    case MessageType::BIND_UDP_RELAY_ENDPOINT:
    case MessageType::BIND_UDP_RELAY_ENDPOINT_CHALLENGE:
    case MessageType::BIND_UDP_RELAY_ENDPOINT_ANSWER: {
      if (b.size() < BIND_COMMON_LEN) return SHORT;
      BindUdpRelayEndpoint m;
      m.type = MessageType(type);
      m.vni = getU32BE(b.data());
      m.generation = getU32BE(b.data() + 4);
      m.remoteKey = getDisco(b.data() + 8);
      std::memcpy(m.challenge.data(), b.data() + 40, 32);
      return Message(m);
    }
    case MessageType::CALL_ME_MAYBE_VIA: {
      CallMeMaybeVia m;
      if (ver != 0) return Message(m);
      TNET_TRY(m.endpoint, getRelayEndpoint(b));
      return Message(m);
    }
    case MessageType::ALLOCATE_UDP_RELAY_ENDPOINT_REQUEST: {
      AllocateUdpRelayEndpointRequest m;
      if (ver != 0) return Message(m);
      if (b.size() < ALLOCATE_REQUEST_LEN) return SHORT;
      m.clientDisco[0] = getDisco(b.data());
      m.clientDisco[1] = getDisco(b.data() + 32);
      m.generation = getU32BE(b.data() + 64);
      return Message(m);
    }
    case MessageType::ALLOCATE_UDP_RELAY_ENDPOINT_RESPONSE: {
      AllocateUdpRelayEndpointResponse m;
      if (ver != 0) return Message(m);
      if (b.size() < 4) return SHORT;
      m.generation = getU32BE(b.data());
      TNET_TRY(m.endpoint, getRelayEndpoint(b.subspan(4)));
      return Message(m);
    }
  }
  return Message(UnknownMessage{type, ver});
}

void appendMessage(Bytes& out, const Message& msg) {
  std::visit(Appender{out}, msg);
}

Bytes marshalMessage(const Message& msg) {
  Bytes out;
  appendMessage(out, msg);
  return out;
}

const char* messageName(const Message& msg) {
  struct Namer {
    const char* operator()(const Ping&) { return "ping"; }
    const char* operator()(const Pong&) { return "pong"; }
    const char* operator()(const CallMeMaybe&) { return "call-me-maybe"; }
    const char* operator()(const BindUdpRelayEndpoint& m) {
      switch (m.type) {
        case MessageType::BIND_UDP_RELAY_ENDPOINT_CHALLENGE:
          return "bind-udp-relay-endpoint-challenge";
        case MessageType::BIND_UDP_RELAY_ENDPOINT_ANSWER:
          return "bind-udp-relay-endpoint-answer";
        default:
          return "bind-udp-relay-endpoint";
      }
    }
    const char* operator()(const CallMeMaybeVia&) { return "call-me-maybe-via"; }
    const char* operator()(const AllocateUdpRelayEndpointRequest&) {
      return "allocate-udp-relay-endpoint-request";
    }
    const char* operator()(const AllocateUdpRelayEndpointResponse&) {
      return "allocate-udp-relay-endpoint-response";
    }
    const char* operator()(const UnknownMessage&) { return "unknown"; }
  };
  return std::visit(Namer{}, msg);
}

bool hasDiscoHeader(ByteSpan p) {
  return p.size() >= HEADER_LEN && std::memcmp(p.data(), MAGIC, MAGIC_LEN) == 0;
}

bool looksLikeDiscoWrapper(ByteSpan p) {
  return p.size() >= WRAPPER_MIN_LEN && std::memcmp(p.data(), MAGIC, MAGIC_LEN) == 0;
}

std::optional<DiscoPublic> senderKey(ByteSpan p) {
  if (!hasDiscoHeader(p)) return std::nullopt;
  return getDisco(p.data() + MAGIC_LEN);
}

Result<Bytes> sealPacket(ByteSpan plaintext, const DiscoPrivate& senderPriv, const DiscoPublic& receiverPub,
                         std::span<const uint8_t, NONCE_LEN> nonce) {
  Bytes out(PACKET_OVERHEAD + plaintext.size());
  std::memcpy(out.data(), MAGIC, MAGIC_LEN);
  putKey(out.data() + MAGIC_LEN, senderPriv.publicKey());
  std::memcpy(out.data() + HEADER_LEN, nonce.data(), NONCE_LEN);
  if (!crypto::boxSeal(MutableByteSpan(out).subspan(WRAPPER_MIN_LEN), plaintext, nonce, receiverPub.raw(),
                       senderPriv.secret().raw())) {
    return Error::invalid("disco: cannot seal to a low-order key");
  }
  return out;
}

Result<Bytes> sealPacket(ByteSpan plaintext, const DiscoPrivate& senderPriv, const DiscoPublic& receiverPub) {
  std::array<uint8_t, NONCE_LEN> nonce;
  crypto::randomBytes(nonce);
  return sealPacket(plaintext, senderPriv, receiverPub, nonce);
}

Result<Bytes> sealMessage(const Message& msg, const DiscoPrivate& senderPriv,
                          const DiscoPublic& receiverPub) {
  Bytes plain = marshalMessage(msg);
  return sealPacket(plain, senderPriv, receiverPub);
}

Result<OpenedPacket> openPacket(ByteSpan p, const DiscoPrivate& myPriv, MutableByteSpan scratch) {
  if (!hasDiscoHeader(p)) return Error::invalid("disco: not a disco packet");
  if (p.size() < PACKET_OVERHEAD) return Error::invalid("disco: packet too short for a box");
  const size_t plainLen = p.size() - PACKET_OVERHEAD;
  if (scratch.size() < plainLen) return Error::invalid("disco: scratch buffer too small");
  OpenedPacket r;
  r.sender = getDisco(p.data() + MAGIC_LEN);
  std::span<const uint8_t, NONCE_LEN> nonce(p.data() + HEADER_LEN, NONCE_LEN);
  if (!crypto::boxOpen(scratch.first(plainLen), p.subspan(WRAPPER_MIN_LEN), nonce, r.sender.raw(),
                       myPriv.secret().raw())) {
    return Error::denied("disco: box does not open (wrong key or tampered)");
  }
  r.plaintext = ByteSpan(scratch.data(), plainLen);
  return r;
}

Result<OpenedMessage> openMessage(ByteSpan packet, const DiscoPrivate& myPriv) {
  Bytes scratch(packet.size() >= PACKET_OVERHEAD ? packet.size() - PACKET_OVERHEAD : 0);
  TNET_TRY(auto opened, openPacket(packet, myPriv, scratch));
  TNET_TRY(auto msg, parseMessage(opened.plaintext));
  return OpenedMessage{opened.sender, std::move(msg)};
}

}  // namespace tnet::disco
