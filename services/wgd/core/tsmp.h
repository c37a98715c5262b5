// TSMP, Tailscale's in-tunnel signalling (IP protocol 99; Go net/packet/tsmp.go, net/tstun
// wrap.go): wgd answers pings itself and hands disco-key adverts to magicsockd. Everything here
// reads untrusted plaintext that came out of a WireGuard session and never crashes on it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <variant>

#include "libs/base/bytes.h"
#include "libs/crypto/crypto.h"

namespace tnet::wg {

inline constexpr uint8_t IPPROTO_TSMP = 99;

struct TsmpPing {
  std::array<uint8_t, 8> data{};
};
struct TsmpDiscoAdvert {
  crypto::Key32 discoPublic{};
};

// The IP header facts TSMP needs, from an IPv4 or IPv6 packet (no extension headers, no
// fragments: Go classifies those as something other than TSMP).
struct IpView {
  bool isV6 = false;
  uint8_t protocol = 0;
  ByteSpan source, destination;  // 4 or 16 bytes, into the packet
  ByteSpan payload;              // bounded by the header's length field
  uint32_t ipId = 0;             // IPv4 identification, or the IPv6 flow label
};
std::optional<IpView> parseIp(ByteSpan packet);

// A TSMP message in `packet`, or nullopt when it is not TSMP or not a kind wgd handles (rejects
// and pongs pass through to netstackd untouched).
std::optional<std::variant<TsmpPing, TsmpDiscoAdvert>> parseTsmp(const IpView& ip);

// The pong Go's Wrapper.injectOutboundPong sends for `request`: the request's IP header turned
// around (source and destination swapped, the IP ID's bits flipped, TTL 64), then
// 'o' data[8] peerapi_port[2 BE].
Bytes buildTsmpPong(const IpView& request, const TsmpPing& ping, uint16_t peerApiPort = 0);

// A pong ('o' data[8], then peerapi_port[2 BE] when present: Go's AsTSMPPong accepts 9 bytes
// with port 0). nullopt for anything else.
struct TsmpPong {
  std::array<uint8_t, 8> data{};
  uint16_t peerApiPort = 0;
};
std::optional<TsmpPong> parseTsmpPong(const IpView& ip);

// The ping Go's userspaceEngine.sendTSMPPing injects: an IPv4 (ID 0, no flags, TTL 64) or IPv6
// (flow label 0, hop limit 64) header with protocol 99 from `source` to `destination` (both 4 or
// both 16 bytes, else an empty result), then 'p' data[8].
Bytes buildTsmpPing(ByteSpan source, ByteSpan destination, const std::array<uint8_t, 8>& data);

// A bare IPv4 (20 bytes) or IPv6 (40 bytes) header as Go's IP4Header/IP6Header.Marshal writes it
// with a zero IP ID / flow label, for a payload of `payloadLength` bytes; the IPv4 checksum set.
// `source` and `destination` are both 4 or both 16 bytes (asserted by the callers).
Bytes buildIpHeader(ByteSpan source, ByteSpan destination, uint8_t protocol, size_t payloadLength);

// The RFC 791 header checksum over `header` (whose checksum field is zero).
uint16_t ipv4HeaderChecksum(ByteSpan header);

}  // namespace tnet::wg
