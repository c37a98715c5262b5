// TAI64N timestamps as WireGuard sends them in initiations (wireguard-go tai64n/tai64n.go):
// big-endian seconds since 1970 offset by 2^62 + 10, then big-endian nanoseconds with the low 24
// bits cleared, so the timestamp does not leak a precise clock to an observer.
#pragma once

#include <array>
#include <cstdint>

#include "services/wgd/core/constants.h"

namespace tnet::wg {

using Tai64n = std::array<uint8_t, 12>;

// `unixTime` is wall-clock time since the Unix epoch.
Tai64n tai64nFromUnix(Duration unixTime);
// True when a is strictly later than b (byte order is time order).
bool tai64nAfter(const Tai64n& a, const Tai64n& b);

}  // namespace tnet::wg
