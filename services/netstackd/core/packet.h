// Just enough of an IPv4/IPv6 packet for the filter and the inbound dispatch: addresses,
// protocol, ports, TCP flags, ICMP type. Parses untrusted bytes from the tunnel (fuzzed).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace tnet::netstack {

enum IpProto : uint8_t {
  PROTO_ICMP4 = 1,
  PROTO_TCP = 6,
  PROTO_UDP = 17,
  PROTO_ICMP6 = 58,
  PROTO_TSMP = 99,
  PROTO_SCTP = 132,
};

// An IP address as 16 bytes (IPv4 in the first 4) plus the family.
struct Addr {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};
  bool operator==(const Addr&) const = default;
  auto operator<=>(const Addr&) const = default;
  std::string toString() const;
  static Addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    Addr r;
    r.bytes[0] = a, r.bytes[1] = b, r.bytes[2] = c, r.bytes[3] = d;
    return r;
  }
};

// TCP flag bits as in the header.
inline constexpr uint8_t TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_ACK = 0x10;

struct PacketInfo {
  bool v6 = false;
  uint8_t proto = 0;      // after IPv6 extension headers
  bool fragment = false;  // a non-first fragment (no transport header)
  Addr src, dst;
  uint16_t srcPort = 0, dstPort = 0;  // TCP/UDP; 0 otherwise
  uint8_t tcpFlags = 0;
  uint8_t icmpType = 0, icmpCode = 0;
  size_t transportOffset = 0;  // where the TCP/UDP/ICMP header starts
  size_t totalLength = 0;      // from the IP header (≤ the bytes given)

  bool isTcpSyn() const { return proto == PROTO_TCP && (tcpFlags & (TCP_SYN | TCP_ACK)) == TCP_SYN; }
  bool isIcmp() const { return proto == PROTO_ICMP4 || proto == PROTO_ICMP6; }
  bool isEchoRequest() const {
    return (proto == PROTO_ICMP4 && icmpType == 8) || (proto == PROTO_ICMP6 && icmpType == 128);
  }
  bool isEchoReply() const {
    return (proto == PROTO_ICMP4 && icmpType == 0) || (proto == PROTO_ICMP6 && icmpType == 129);
  }
  // ICMP errors (unreachable, time exceeded, ...): v4 types 3, 4, 5, 11, 12; v6 types < 128.
  bool isIcmpError() const;
};

enum class ParseStatus { OK, TOO_SHORT, BAD_VERSION, BAD_HEADER };

// Parses the IP header (and the transport header when present and complete).
ParseStatus parsePacket(std::span<const uint8_t> packet, PacketInfo& out);

}  // namespace tnet::netstack
