#include "services/wgd/core/icmp_echo.h"

#include <algorithm>

namespace tnet::wg {
namespace {

constexpr uint8_t ICMP4_ECHO_REPLY = 0, ICMP4_ECHO_REQUEST = 8;
constexpr uint8_t ICMP6_ECHO_REQUEST = 128, ICMP6_ECHO_REPLY = 129;
constexpr size_t ECHO_HEADER_LEN = 8;  // type, code, checksum, identifier, sequence

uint32_t addWords(ByteSpan data, uint32_t sum) {
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) sum += getU16BE(data.data() + i);
  if (i < data.size()) sum += uint32_t(data[i]) << 8;
  return sum;
}

}  // namespace

uint16_t internetChecksum(ByteSpan data, uint32_t sum) {
  sum = addWords(data, sum);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

Bytes buildIcmpEchoRequest(ByteSpan source, ByteSpan destination, const EchoIdSeq& idSeq) {
  if (source.size() != destination.size() || (source.size() != 4 && source.size() != 16)) return {};
  const bool v6 = source.size() == 16;
  Bytes out = buildIpHeader(source, destination, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, ECHO_HEADER_LEN);
  const size_t o = out.size();
  out.resize(o + ECHO_HEADER_LEN, 0);
  out[o] = v6 ? ICMP6_ECHO_REQUEST : ICMP4_ECHO_REQUEST;
  std::copy(idSeq.begin(), idSeq.end(), out.begin() + o + 4);
  uint32_t pseudo = 0;
  if (v6) {
    // source, destination, upper-layer length (32 bits), three zero bytes, next header.
    pseudo = addWords(source, pseudo);
    pseudo = addWords(destination, pseudo);
    pseudo += uint32_t(ECHO_HEADER_LEN);
    pseudo += IPPROTO_ICMPV6;
  }
  putU16BE(out.data() + o + 2, internetChecksum(ByteSpan(out).subspan(o), pseudo));
  return out;
}

std::optional<EchoIdSeq> parseIcmpEchoReply(const IpView& ip) {
  if (ip.payload.size() < ECHO_HEADER_LEN || ip.payload[1] != 0) return std::nullopt;
  const uint8_t type = ip.payload[0];
  const bool reply = ip.isV6 ? (ip.protocol == IPPROTO_ICMPV6 && type == ICMP6_ECHO_REPLY)
                             : (ip.protocol == IPPROTO_ICMP && type == ICMP4_ECHO_REPLY);
  if (!reply) return std::nullopt;
  EchoIdSeq idSeq;
  std::copy_n(ip.payload.begin() + 4, 4, idSeq.begin());
  return idSeq;
}

}  // namespace tnet::wg
