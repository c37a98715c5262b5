#include "libs/wire/demux.h"

#include "libs/wire/disco.h"
#include "libs/wire/stun.h"

namespace tnet::demux {

GoClassification packetLooksLike(ByteSpan msg) {
  if (stun::isStun(msg) && msg[1] == 0x01) return {LooksLike::STUN_BINDING, false};

  if (msg.size() >= GENEVE_HEADER_LEN && (msg[0] & 0xC0) == 0 && (msg[1] & 0x3F) == 0 && msg[7] == 0) {
    switch (getU16BE(msg.data() + 2)) {
      case GENEVE_PROTOCOL_DISCO:
        // A well-formed Geneve header that says disco but is not: Go keeps its pre-Geneve
        // behaviour and calls it naked WireGuard.
        if (disco::hasDiscoHeader(msg.subspan(GENEVE_HEADER_LEN))) return {LooksLike::DISCO, true};
        return {LooksLike::WIREGUARD, false};
      case GENEVE_PROTOCOL_WIREGUARD:
        return {LooksLike::WIREGUARD, true};
      default:
        break;  // unknown protocol: not necessarily Geneve, fall through
    }
  }
  if (disco::hasDiscoHeader(msg)) return {LooksLike::DISCO, false};
  return {LooksLike::WIREGUARD, false};
}

WgType wireGuardType(ByteSpan b) {
  if (b.size() < WG_TRANSPORT_MIN_LEN) return WgType::NONE;  // wireguard-go's MinMessageSize
  switch (getU32LE(b.data())) {
    case 1:
      return b.size() == WG_INITIATION_LEN ? WgType::INITIATION : WgType::NONE;
    case 2:
      return b.size() == WG_RESPONSE_LEN ? WgType::RESPONSE : WgType::NONE;
    case 3:
      return b.size() == WG_COOKIE_REPLY_LEN ? WgType::COOKIE_REPLY : WgType::NONE;
    case 4:
      return WgType::TRANSPORT;
    default:
      return WgType::NONE;
  }
}

bool looksLikeInitiation(ByteSpan b) {
  return b.size() == WG_INITIATION_LEN && getU32LE(b.data()) == 1;
}

Datagram classifyDatagram(ByteSpan msg) {
  Datagram d;
  const GoClassification c = packetLooksLike(msg);
  d.geneve = c.geneve;
  d.inner = msg;
  if (c.geneve) {
    d.geneveControl = (msg[1] & 0x80) != 0;
    d.vni = getU32BE(msg.data() + 4) >> 8;
    d.inner = msg.subspan(GENEVE_HEADER_LEN);
  }
  switch (c.kind) {
    case LooksLike::STUN_BINDING:
      d.kind = Kind::STUN;
      break;
    case LooksLike::DISCO:
      d.kind = Kind::DISCO;
      break;
    case LooksLike::WIREGUARD:
      d.wgType = wireGuardType(d.inner);
      d.kind = d.wgType == WgType::NONE ? Kind::UNKNOWN : Kind::WIREGUARD;
      break;
  }
  return d;
}

const char* kindName(Kind k) {
  switch (k) {
    case Kind::STUN:
      return "stun";
    case Kind::DISCO:
      return "disco";
    case Kind::WIREGUARD:
      return "wireguard";
    case Kind::UNKNOWN:
      return "unknown";
  }
  return "unknown";
}

}  // namespace tnet::demux
