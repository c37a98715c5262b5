// The text forms of Go's netip.Addr, netip.Prefix and netip.AddrPort, which is what Prefs and
// ConfigVAlpha carry in JSON. Stored as canonical text, validated on the way in.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "libs/base/result.h"

namespace tnet::ipn {

struct IpAddr {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4
  std::string zone;                 // IPv6 zone ("%eth0"), without the '%'

  int bitLen() const { return v6 ? 128 : 32; }
  std::string toString() const;  // Go's netip.Addr.String()
  bool operator==(const IpAddr&) const = default;
};

struct IpPrefix {
  IpAddr addr;
  int bits = 0;
  std::string toString() const;
  IpPrefix masked() const;  // the prefix with host bits cleared
  bool isMasked() const { return masked().addr == addr; }
  bool operator==(const IpPrefix&) const = default;
};

// Go's netip.ParseAddr / ParsePrefix / ParseAddrPort: no leading zeros in IPv4 octets,
// prefixes have no zone. The error text names the input.
Result<IpAddr> parseIpAddr(std::string_view text);
Result<IpPrefix> parseIpPrefix(std::string_view text);
struct IpAddrPort {
  IpAddr addr;
  uint16_t port = 0;
  std::string toString() const;
  bool operator==(const IpAddrPort&) const = default;
};
Result<IpAddrPort> parseIpAddrPort(std::string_view text);

}  // namespace tnet::ipn
