// The ICMP echo request wgd originates for `tnet ping --icmp` and the matching of its reply (Go's
// userspaceEngine.sendICMPEchoRequest and tstun's OnICMPEchoResponseReceived hook). The reply is
// read from untrusted plaintext that came out of a WireGuard session: never read past its end.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "libs/base/bytes.h"
#include "services/wgd/core/tsmp.h"

namespace tnet::wg {

inline constexpr uint8_t IPPROTO_ICMP = 1;
inline constexpr uint8_t IPPROTO_ICMPV6 = 58;

// Go's ICMPEchoPayload: 4 random bytes used as identifier and sequence number, no data.
using EchoIdSeq = std::array<uint8_t, 4>;

// An echo request (ICMPv4 type 8 or ICMPv6 type 128, code 0) from `source` to `destination`
// (both 4 or both 16 bytes, else an empty result) carrying `idSeq` and no data, with the IP header
// of buildIpHeader and a correct ICMP checksum (ICMPv6: over the RFC 8200 pseudo-header).
Bytes buildIcmpEchoRequest(ByteSpan source, ByteSpan destination, const EchoIdSeq& idSeq);

// An echo reply (ICMPv4 type 0 / ICMPv6 type 129, code 0, at least the 8-byte header): its
// identifier and sequence bytes. nullopt for every other packet. Like Go, the checksum is not
// checked (the packet was authenticated by WireGuard).
std::optional<EchoIdSeq> parseIcmpEchoReply(const IpView& ip);

// The Internet checksum (RFC 1071) of `data` added to the partial 32-bit `sum`, folded and
// complemented.
uint16_t internetChecksum(ByteSpan data, uint32_t sum = 0);

}  // namespace tnet::wg
