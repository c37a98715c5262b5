// IP addresses and CIDR prefixes as the CLI validates them (Go's net/netip rules we rely on),
// and --advertise-routes / --advertise-exit-node folding (Go's netutil.CalcAdvertiseRoutes).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libs/base/result.h"

namespace tnet::cli {

struct IpAddr {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // v4 uses the first 4

  static std::optional<IpAddr> parse(std::string_view text);
  std::string toString() const;
  // netip.Addr.Less: IPv4 before IPv6, then bytewise.
  bool operator<(const IpAddr& o) const;
  bool operator==(const IpAddr& o) const = default;
};

struct IpPrefix {
  IpAddr addr;
  int bits = 0;

  static std::optional<IpPrefix> parse(std::string_view text);
  IpPrefix masked() const;
  std::string toString() const;
  bool operator==(const IpPrefix& o) const = default;
};

// Parses a comma-separated route list; adds 0.0.0.0/0 and ::/0 when advertiseExitNode. Sorted
// by prefix length, then address, de-duplicated. Empty input and no exit node → empty list.
Result<std::vector<std::string>> calcAdvertiseRoutes(std::string_view routes, bool advertiseExitNode);

// Whether a route list (prefix strings) holds both /0 routes.
bool containsExitRoutes(const std::vector<std::string>& routes);

}  // namespace tnet::cli
