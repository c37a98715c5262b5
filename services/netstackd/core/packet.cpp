#include "services/netstackd/core/packet.h"

#include <cstdio>

#include "libs/base/bytes.h"

namespace tnet::netstack {

std::string Addr::toString() const {
  char buf[64];
  if (!v6) {
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", bytes[0], bytes[1], bytes[2], bytes[3]);
    return buf;
  }
  std::string s;
  for (int i = 0; i < 16; i += 2) {
    if (i) s += ':';
    std::snprintf(buf, sizeof buf, "%x", getU16BE(&bytes[i]));
    s += buf;
  }
  return s;
}

bool PacketInfo::isIcmpError() const {
  if (proto == PROTO_ICMP4)
    return icmpType == 3 || icmpType == 4 || icmpType == 5 || icmpType == 11 || icmpType == 12;
  if (proto == PROTO_ICMP6) return icmpType < 128;
  return false;
}

namespace {

void parseTransport(std::span<const uint8_t> p, PacketInfo& out) {
  if (out.fragment) return;
  size_t off = out.transportOffset;
  size_t avail = out.totalLength > off ? out.totalLength - off : 0;
  const uint8_t* t = p.data() + off;
  switch (out.proto) {
    case PROTO_TCP:
      if (avail >= 20) {
        out.srcPort = getU16BE(t);
        out.dstPort = getU16BE(t + 2);
        out.tcpFlags = t[13];
      }
      break;
    case PROTO_UDP:
    case PROTO_SCTP:
      if (avail >= 8) {
        out.srcPort = getU16BE(t);
        out.dstPort = getU16BE(t + 2);
      }
      break;
    case PROTO_ICMP4:
    case PROTO_ICMP6:
      if (avail >= 4) {
        out.icmpType = t[0];
        out.icmpCode = t[1];
      }
      break;
    default:
      break;
  }
}

}  // namespace

ParseStatus parsePacket(std::span<const uint8_t> p, PacketInfo& out) {
  out = PacketInfo{};
  if (p.empty()) return ParseStatus::TOO_SHORT;
  uint8_t version = p[0] >> 4;
  if (version == 4) {
    if (p.size() < 20) return ParseStatus::TOO_SHORT;
    size_t ihl = size_t(p[0] & 0x0f) * 4;
    size_t total = getU16BE(&p[2]);
    if (ihl < 20 || total < ihl || total > p.size()) return ParseStatus::BAD_HEADER;
    out.proto = p[9];
    std::copy(&p[12], &p[16], out.src.bytes.begin());
    std::copy(&p[16], &p[20], out.dst.bytes.begin());
    uint16_t fragField = getU16BE(&p[6]);
    out.fragment = (fragField & 0x1fff) != 0;  // offset > 0: no transport header here
    out.transportOffset = ihl;
    out.totalLength = total;
    parseTransport(p, out);
    return ParseStatus::OK;
  }
  if (version == 6) {
    if (p.size() < 40) return ParseStatus::TOO_SHORT;
    size_t total = 40 + size_t(getU16BE(&p[4]));
    if (total > p.size()) return ParseStatus::BAD_HEADER;
    out.v6 = true;
    out.src.v6 = out.dst.v6 = true;
    std::copy(&p[8], &p[24], out.src.bytes.begin());
    std::copy(&p[24], &p[40], out.dst.bytes.begin());
    uint8_t next = p[6];
    size_t off = 40;
    // Hop-by-hop (0), routing (43), fragment (44), destination options (60): skip to the payload.
    for (int guard = 0; guard < 8; ++guard) {
      if (next == 0 || next == 43 || next == 60) {
        if (off + 8 > total) return ParseStatus::BAD_HEADER;
        size_t len = (size_t(p[off + 1]) + 1) * 8;
        next = p[off];
        off += len;
        if (off > total) return ParseStatus::BAD_HEADER;
      } else if (next == 44) {
        if (off + 8 > total) return ParseStatus::BAD_HEADER;
        uint16_t fragField = getU16BE(&p[off + 2]);
        if ((fragField & 0xfff8) != 0) out.fragment = true;
        next = p[off];
        off += 8;
      } else {
        break;
      }
    }
    out.proto = next;
    out.transportOffset = off;
    out.totalLength = total;
    parseTransport(p, out);
    return ParseStatus::OK;
  }
  return ParseStatus::BAD_VERSION;
}

}  // namespace tnet::netstack
