// Classifying a datagram received on magicsock's UDP socket, as Go's magicsock packetLooksLike
// does (wgengine/magicsock/magicsock.go): STUN binding, disco (naked or in a Geneve header from a
// peer relay), else WireGuard. classifyDatagram goes one step further and applies wireguard-go's
// own acceptance rule (type 1..4 as a little-endian u32, exact sizes 148/92/64, transport ≥ 32),
// so datagrams Go would hand to wireguard-go only for it to drop them come back as UNKNOWN.
#pragma once

#include <cstdint>

#include "libs/base/bytes.h"

namespace tnet::demux {

constexpr size_t GENEVE_HEADER_LEN = 8;
constexpr uint16_t GENEVE_PROTOCOL_DISCO = 0x7A11;
constexpr uint16_t GENEVE_PROTOCOL_WIREGUARD = 0x7A12;

// WireGuard message sizes (wireguard-go device/noise-protocol.go).
constexpr size_t WG_INITIATION_LEN = 148;
constexpr size_t WG_RESPONSE_LEN = 92;
constexpr size_t WG_COOKIE_REPLY_LEN = 64;
constexpr size_t WG_TRANSPORT_MIN_LEN = 32;  // 16-byte header + 16-byte tag (a keepalive)

enum class LooksLike { STUN_BINDING, DISCO, WIREGUARD };

struct GoClassification {
  LooksLike kind = LooksLike::WIREGUARD;
  bool geneve = false;  // the 8-byte Geneve header precedes the disco/WireGuard bytes
};
// Exactly Go's packetLooksLike.
GoClassification packetLooksLike(ByteSpan datagram);

enum class Kind { STUN, DISCO, WIREGUARD, UNKNOWN };
enum class WgType : uint8_t { NONE = 0, INITIATION = 1, RESPONSE = 2, COOKIE_REPLY = 3, TRANSPORT = 4 };

struct Datagram {
  Kind kind = Kind::UNKNOWN;
  bool geneve = false;
  bool geneveControl = false;  // relay-handshake disco (Geneve control bit)
  uint32_t vni = 0;            // Geneve VNI (24 bits), when geneve
  WgType wgType = WgType::NONE;
  ByteSpan inner;  // the STUN/disco/WireGuard bytes, Geneve header stripped (points into input)
};
Datagram classifyDatagram(ByteSpan datagram);

// wireguard-go's receive check on a (Geneve-stripped) WireGuard message; NONE when it drops it.
WgType wireGuardType(ByteSpan message);
// Go's looksLikeInitiationMsg: exactly 148 bytes with LE32 type 1.
bool looksLikeInitiation(ByteSpan message);

const char* kindName(Kind kind);

}  // namespace tnet::demux
