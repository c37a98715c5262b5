#include "services/wgd/core/tsmp.h"

#include <algorithm>

namespace tnet::wg {
namespace {

constexpr size_t IPV4_HEADER_LEN = 20;
constexpr size_t IPV6_HEADER_LEN = 40;
constexpr uint8_t TSMP_PING = 'p';
constexpr uint8_t TSMP_PONG = 'o';
constexpr uint8_t TSMP_DISCO_ADVERT = 'a';
constexpr uint8_t DEFAULT_TTL = 64;

}  // namespace

std::optional<IpView> parseIp(ByteSpan p) {
  if (p.empty()) return std::nullopt;
  IpView v;
  switch (p[0] >> 4) {
    case 4: {
      if (p.size() < IPV4_HEADER_LEN) return std::nullopt;
      const size_t ihl = size_t(p[0] & 0x0f) * 4;
      const size_t total = getU16BE(p.data() + 2);
      if (ihl < IPV4_HEADER_LEN || total < ihl || total > p.size()) return std::nullopt;
      // More-fragments set or a non-zero offset: not a whole datagram.
      if ((getU16BE(p.data() + 6) & 0x3fff) != 0) return std::nullopt;
      v.protocol = p[9];
      v.ipId = getU16BE(p.data() + 4);
      v.source = p.subspan(12, 4);
      v.destination = p.subspan(16, 4);
      v.payload = p.subspan(ihl, total - ihl);
      return v;
    }
    case 6: {
      if (p.size() < IPV6_HEADER_LEN) return std::nullopt;
      const size_t length = getU16BE(p.data() + 4);
      if (IPV6_HEADER_LEN + length > p.size()) return std::nullopt;
      v.isV6 = true;
      v.protocol = p[6];
      v.ipId = getU32BE(p.data()) & 0x000fffff;
      v.source = p.subspan(8, 16);
      v.destination = p.subspan(24, 16);
      v.payload = p.subspan(IPV6_HEADER_LEN, length);
      return v;
    }
    default:
      return std::nullopt;
  }
}

std::optional<std::variant<TsmpPing, TsmpDiscoAdvert>> parseTsmp(const IpView& ip) {
  if (ip.protocol != IPPROTO_TSMP || ip.payload.empty()) return std::nullopt;
  const ByteSpan p = ip.payload;
  if (p[0] == TSMP_PING && p.size() >= 1 + 8) {
    TsmpPing ping;
    std::copy_n(p.begin() + 1, 8, ping.data.begin());
    return ping;
  }
  if (p[0] == TSMP_DISCO_ADVERT && p.size() >= 1 + 32) {
    TsmpDiscoAdvert advert;
    std::copy_n(p.begin() + 1, 32, advert.discoPublic.begin());
    return advert;
  }
  return std::nullopt;
}

uint16_t ipv4HeaderChecksum(ByteSpan header) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < header.size(); i += 2) sum += getU16BE(header.data() + i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

Bytes buildTsmpPong(const IpView& request, const TsmpPing& ping, uint16_t peerApiPort) {
  constexpr size_t BODY = 11;
  const size_t headerLen = request.isV6 ? IPV6_HEADER_LEN : IPV4_HEADER_LEN;
  Bytes out(headerLen + BODY, 0);
  uint8_t* b = out.data();
  if (request.isV6) {
    putU32BE(b, (~request.ipId) & 0x000fffff);
    b[0] = 0x60;
    putU16BE(b + 4, uint16_t(BODY));
    b[6] = IPPROTO_TSMP;
    b[7] = DEFAULT_TTL;
    std::copy(request.destination.begin(), request.destination.end(), b + 8);
    std::copy(request.source.begin(), request.source.end(), b + 24);
  } else {
    b[0] = 0x45;
    putU16BE(b + 2, uint16_t(out.size()));
    putU16BE(b + 4, uint16_t(~request.ipId));
    b[8] = DEFAULT_TTL;
    b[9] = IPPROTO_TSMP;
    std::copy(request.destination.begin(), request.destination.end(), b + 12);
    std::copy(request.source.begin(), request.source.end(), b + 16);
    putU16BE(b + 10, ipv4HeaderChecksum(ByteSpan(b, IPV4_HEADER_LEN)));
  }
  uint8_t* body = b + headerLen;
  body[0] = TSMP_PONG;
  std::copy(ping.data.begin(), ping.data.end(), body + 1);
  putU16BE(body + 9, peerApiPort);
  return out;
}

}  // namespace tnet::wg
