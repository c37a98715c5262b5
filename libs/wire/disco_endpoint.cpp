#include "libs/wire/disco_endpoint.h"

#include <arpa/inet.h>

#include <cstring>

namespace tnet::wire {

namespace {
constexpr uint8_t V4_MAPPED_PREFIX[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
}

IpPort IpPort::v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
  IpPort r;
  std::memcpy(r.ip16.data(), V4_MAPPED_PREFIX, 12);
  r.ip16[12] = a;
  r.ip16[13] = b;
  r.ip16[14] = c;
  r.ip16[15] = d;
  r.port = port;
  return r;
}

IpPort IpPort::v4(std::span<const uint8_t, 4> addr, uint16_t port) {
  return v4(addr[0], addr[1], addr[2], addr[3], port);
}

IpPort IpPort::v6(std::span<const uint8_t, 16> addr, uint16_t port) {
  IpPort r;
  std::memcpy(r.ip16.data(), addr.data(), 16);
  r.port = port;
  return r;
}

bool IpPort::is4() const {
  return std::memcmp(ip16.data(), V4_MAPPED_PREFIX, 12) == 0;
}

std::array<uint8_t, 4> IpPort::v4Bytes() const {
  return {ip16[12], ip16[13], ip16[14], ip16[15]};
}

std::string IpPort::addrString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is4()) {
    inet_ntop(AF_INET, ip16.data() + 12, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, ip16.data(), buf, sizeof buf);
  }
  return buf;
}

std::string IpPort::toString() const {
  std::string a = addrString();
  if (is4()) return a + ":" + std::to_string(port);
  return "[" + a + "]:" + std::to_string(port);
}

std::optional<IpPort> IpPort::parse(std::string_view text) {
  std::string host;
  std::string_view portText;
  bool six = false;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = std::string(text.substr(1, close - 1));
    portText = text.substr(close + 2);
    six = true;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = std::string(text.substr(0, colon));
    portText = text.substr(colon + 1);
  }
  if (portText.empty() || portText.size() > 5) return std::nullopt;
  uint32_t port = 0;
  for (char c : portText) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + uint32_t(c - '0');
  }
  if (port > 65535) return std::nullopt;
  if (six) {
    uint8_t a[16];
    if (inet_pton(AF_INET6, host.c_str(), a) != 1) return std::nullopt;
    return v6(std::span<const uint8_t, 16>(a, 16), uint16_t(port));
  }
  uint8_t a[4];
  if (inet_pton(AF_INET, host.c_str(), a) != 1) return std::nullopt;
  return v4(std::span<const uint8_t, 4>(a, 4), uint16_t(port));
}

void putIpPort(uint8_t* out, const IpPort& ipp) {
  std::memcpy(out, ipp.ip16.data(), 16);
  putU16BE(out + 16, ipp.port);
}

IpPort getIpPort(const uint8_t* in) {
  IpPort r;
  std::memcpy(r.ip16.data(), in, 16);
  r.port = getU16BE(in + 16);
  return r;
}

}  // namespace tnet::wire
