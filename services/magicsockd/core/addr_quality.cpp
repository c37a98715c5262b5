#include "services/magicsockd/core/addr_quality.h"

namespace tnet::magicsock {

bool isLoopback(const wire::IpPort& a) {
  if (a.is4()) return a.v4Bytes()[0] == 127;
  for (size_t i = 0; i < 15; i++) {
    if (a.ip16[i] != 0) return false;
  }
  return a.ip16[15] == 1;
}

bool isLinkLocalUnicast(const wire::IpPort& a) {
  if (a.is4()) {
    auto b = a.v4Bytes();
    return b[0] == 169 && b[1] == 254;
  }
  return a.ip16[0] == 0xfe && (a.ip16[1] & 0xc0) == 0x80;
}

bool isPrivate(const wire::IpPort& a) {
  if (a.is4()) {
    auto b = a.v4Bytes();
    return b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168);
  }
  return (a.ip16[0] & 0xfe) == 0xfc;
}

namespace {
int classPoints(const wire::IpPort& a) {
  int points = 0;
  // The classes are exclusive in Go's order: loopback, then link-local, then private.
  if (isLoopback(a)) {
    points += 50;
  } else if (isLinkLocalUnicast(a)) {
    points += 30;
  } else if (isPrivate(a)) {
    points += 20;
  }
  if (!a.is4()) points += 10;  // IPv6 is a little more robust when latencies are close
  return points;
}
}  // namespace

bool betterAddr(const AddrQuality& a, const AddrQuality& b) {
  if (a.valid && b.valid && a.addr == b.addr) return a.wireMtu > b.wireMtu;
  if (!b.valid) return true;
  if (!a.valid) return false;

  // Points: the percentage by which the faster path beats the slower one (integer division on
  // nanoseconds, as Go's time.Duration arithmetic).
  int aPoints = 0;
  int bPoints = 0;
  int64_t al = a.latency.count();
  int64_t bl = b.latency.count();
  if (al > bl && al > 0) {
    bPoints = static_cast<int>(100 - (bl * 100) / al);
  } else if (bl > 0) {
    aPoints = static_cast<int>(100 - (al * 100) / bl);
  }
  aPoints += classPoints(a.addr);
  bPoints += classPoints(b.addr);

  // Under ~1% better with no bonus on either side: keep what we have.
  if (aPoints <= 1 && bPoints == 0) return false;
  return aPoints > bPoints;
}

}  // namespace tnet::magicsock
