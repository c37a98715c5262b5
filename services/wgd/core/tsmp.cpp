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

std::optional<TsmpPong> parseTsmpPong(const IpView& ip) {
  if (ip.protocol != IPPROTO_TSMP || ip.payload.size() < 1 + 8 || ip.payload[0] != TSMP_PONG) return std::nullopt;
  TsmpPong pong;
  std::copy_n(ip.payload.begin() + 1, 8, pong.data.begin());
  if (ip.payload.size() >= 1 + 8 + 2) pong.peerApiPort = getU16BE(ip.payload.data() + 9);
  return pong;
}

Bytes buildIpHeader(ByteSpan source, ByteSpan destination, uint8_t protocol, size_t payloadLength) {
  const bool v6 = source.size() == 16;
  Bytes out(v6 ? IPV6_HEADER_LEN : IPV4_HEADER_LEN, 0);
  uint8_t* b = out.data();
  if (v6) {
    b[0] = 0x60;
    putU16BE(b + 4, uint16_t(payloadLength));
    b[6] = protocol;
    b[7] = DEFAULT_TTL;
    std::copy(source.begin(), source.end(), b + 8);
    std::copy(destination.begin(), destination.end(), b + 24);
  } else {
    b[0] = 0x45;
    putU16BE(b + 2, uint16_t(IPV4_HEADER_LEN + payloadLength));
    b[8] = DEFAULT_TTL;
    b[9] = protocol;
    std::copy(source.begin(), source.end(), b + 12);
    std::copy(destination.begin(), destination.end(), b + 16);
    putU16BE(b + 10, ipv4HeaderChecksum(ByteSpan(b, IPV4_HEADER_LEN)));
  }
  return out;
}

Bytes buildTsmpPing(ByteSpan source, ByteSpan destination, const std::array<uint8_t, 8>& data) {
  if (source.size() != destination.size() || (source.size() != 4 && source.size() != 16)) return {};
  constexpr size_t BODY = 9;
  Bytes out = buildIpHeader(source, destination, IPPROTO_TSMP, BODY);
  out.push_back(TSMP_PING);
  out.insert(out.end(), data.begin(), data.end());
  return out;
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
