// Builds minimal IPv4/IPv6 packets for the core's tests (checksums are not filled in: the
// filter does not look at them).
#pragma once

#include <cstdint>
#include <vector>

#include "libs/base/bytes.h"
#include "services/netstackd/core/packet.h"

namespace tnet::netstack::testing {

inline std::vector<uint8_t> makePacket(const Addr& src, const Addr& dst, uint8_t proto, uint16_t sport,
                                       uint16_t dport, uint8_t tcpFlagsOrIcmpType = 0, size_t payload = 0) {
  size_t th = proto == PROTO_TCP ? 20 : proto == PROTO_UDP ? 8 : 8;
  size_t ih = dst.v6 ? 40 : 20;
  std::vector<uint8_t> p(ih + th + payload, 0);
  if (!dst.v6) {
    p[0] = 0x45;
    putU16BE(&p[2], uint16_t(p.size()));
    p[8] = 64;
    p[9] = proto;
    std::copy(src.bytes.begin(), src.bytes.begin() + 4, &p[12]);
    std::copy(dst.bytes.begin(), dst.bytes.begin() + 4, &p[16]);
  } else {
    p[0] = 0x60;
    putU16BE(&p[4], uint16_t(p.size() - 40));
    p[6] = proto;
    p[7] = 64;
    std::copy(src.bytes.begin(), src.bytes.end(), &p[8]);
    std::copy(dst.bytes.begin(), dst.bytes.end(), &p[24]);
  }
  uint8_t* t = &p[ih];
  if (proto == PROTO_TCP || proto == PROTO_UDP) {
    putU16BE(t, sport);
    putU16BE(t + 2, dport);
    if (proto == PROTO_TCP) {
      t[12] = 0x50;
      t[13] = tcpFlagsOrIcmpType;
    } else {
      putU16BE(t + 4, uint16_t(8 + payload));
    }
  } else {
    t[0] = tcpFlagsOrIcmpType;
  }
  return p;
}

inline Addr v6addr(std::initializer_list<uint8_t> prefix, uint8_t last) {
  Addr a;
  a.v6 = true;
  size_t i = 0;
  for (auto b : prefix) a.bytes[i++] = b;
  a.bytes[15] = last;
  return a;
}

}  // namespace tnet::netstack::testing
