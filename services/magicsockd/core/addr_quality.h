// Scoring candidate UDP paths against each other: Go's betterAddr (wgengine/magicsock/
// endpoint.go). Latency gives up to 100 points to the faster path, the address class adds a
// bonus, and a tie-ish result keeps the current path so two similar paths do not flap.
#pragma once

#include <cstdint>

#include "libs/wire/disco_endpoint.h"
#include "services/magicsockd/core/mono_time.h"

namespace tnet::magicsock {

struct AddrQuality {
  wire::IpPort addr;
  bool valid = false;
  Duration latency{0};
  uint16_t wireMtu = 0;  // 0: not probed
};

bool isLoopback(const wire::IpPort& a);
bool isLinkLocalUnicast(const wire::IpPort& a);
bool isPrivate(const wire::IpPort& a);  // RFC 1918 and fc00::/7, as Go netip.Addr.IsPrivate

// Whether `a` should replace `b` as the best address.
bool betterAddr(const AddrQuality& a, const AddrQuality& b);

}  // namespace tnet::magicsock
