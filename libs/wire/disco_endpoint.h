// IpPort: an IP address and UDP port as the data plane carries them on the wire — a 16-byte
// IPv6 address (IPv4 written v4-mapped, ::ffff:a.b.c.d) followed by a big-endian port. Disco
// Pong/CallMeMaybe, DERP PeerPresent and our STUN codec all use this one type, so it lives with
// the disco codec that defines the 18-byte endpoint encoding.
//
// Go keeps IPv4 and v4-mapped IPv6 distinct in netip.Addr but every decoder on these paths calls
// Unmap(), so a single 16-byte form loses nothing: is4() is "v4-mapped".
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "libs/base/bytes.h"

namespace tnet::wire {

constexpr size_t IP_PORT_WIRE_LEN = 18;  // ip16 || port[2 BE]

struct IpPort {
  std::array<uint8_t, 16> ip16{};
  uint16_t port = 0;

  static IpPort v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port);
  static IpPort v4(std::span<const uint8_t, 4> addr, uint16_t port);
  static IpPort v6(std::span<const uint8_t, 16> addr, uint16_t port);
  // "1.2.3.4:5678" or "[2001:db8::1]:5678"; nullopt on anything else (no zones, no names).
  static std::optional<IpPort> parse(std::string_view text);

  bool is4() const;                        // v4-mapped
  std::array<uint8_t, 4> v4Bytes() const;  // meaningful only when is4()
  std::string addrString() const;          // Go netip.Addr.String() of the unmapped address
  std::string toString() const;            // Go netip.AddrPort.String()

  bool operator==(const IpPort&) const = default;
};

// The 18-byte wire form. `out`/`in` must have IP_PORT_WIRE_LEN bytes.
void putIpPort(uint8_t* out, const IpPort& ipp);
IpPort getIpPort(const uint8_t* in);

}  // namespace tnet::wire
