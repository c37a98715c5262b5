#include "libs/ipn/netip.h"

#include <arpa/inet.h>

#include <cstdio>

namespace tnet::ipn {

namespace {

Result<IpAddr> parseV4(std::string_view s, std::string_view whole) {
  IpAddr a;
  int part = 0;
  size_t i = 0;
  while (part < 4) {
    size_t start = i;
    unsigned v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + unsigned(s[i] - '0');
      if (v > 255 || i - start >= 3) {
        return Error::invalid("ParseAddr(\"" + std::string(whole) + "\"): IPv4 field has value >255");
      }
      ++i;
    }
    if (i == start) {
      return Error::invalid("ParseAddr(\"" + std::string(whole) + "\"): unable to parse IP");
    }
    if (i - start > 1 && s[start] == '0') {
      return Error::invalid("ParseAddr(\"" + std::string(whole) +
                            "\"): IPv4 field has octet with leading zero");
    }
    a.bytes[size_t(part)] = uint8_t(v);
    ++part;
    if (part < 4) {
      if (i >= s.size() || s[i] != '.') {
        return Error::invalid("ParseAddr(\"" + std::string(whole) + "\"): IPv4 address too short");
      }
      ++i;
    }
  }
  if (i != s.size()) {
    return Error::invalid("ParseAddr(\"" + std::string(whole) + "\"): unexpected character");
  }
  return a;
}

}  // namespace

Result<IpAddr> parseIpAddr(std::string_view text) {
  if (text.empty()) return Error::invalid("ParseAddr(\"\"): unable to parse IP");
  if (text.find(':') == std::string_view::npos) return parseV4(text, text);
  IpAddr a;
  a.v6 = true;
  std::string_view body = text;
  if (auto pct = text.find('%'); pct != std::string_view::npos) {
    a.zone = std::string(text.substr(pct + 1));
    body = text.substr(0, pct);
    if (a.zone.empty()) {
      return Error::invalid("ParseAddr(\"" + std::string(text) + "\"): zone must be a non-empty string");
    }
  }
  std::string tmp(body);
  if (tmp.size() > 45 || inet_pton(AF_INET6, tmp.c_str(), a.bytes.data()) != 1) {
    return Error::invalid("ParseAddr(\"" + std::string(text) + "\"): unable to parse IP");
  }
  return a;
}

std::string IpAddr::toString() const {
  char buf[64];
  if (!v6) {
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", bytes[0], bytes[1], bytes[2], bytes[3]);
    return buf;
  }
  std::string out;
  bool mapped = true;
  for (int i = 0; i < 10; ++i) mapped = mapped && bytes[size_t(i)] == 0;
  mapped = mapped && bytes[10] == 0xff && bytes[11] == 0xff;
  if (mapped) {
    std::snprintf(buf, sizeof buf, "::ffff:%u.%u.%u.%u", bytes[12], bytes[13], bytes[14], bytes[15]);
    out = buf;
  } else {
    uint16_t w[8];
    for (int i = 0; i < 8; ++i) w[i] = uint16_t((bytes[size_t(2 * i)] << 8) | bytes[size_t(2 * i + 1)]);
    // RFC 5952: the longest run (first if tied) of two or more zero words becomes "::".
    int bestStart = -1, bestLen = 0;
    for (int i = 0; i < 8;) {
      if (w[i] != 0) {
        ++i;
        continue;
      }
      int j = i;
      while (j < 8 && w[j] == 0) ++j;
      if (j - i > bestLen && j - i >= 2) {
        bestStart = i;
        bestLen = j - i;
      }
      i = j;
    }
    for (int i = 0; i < 8; ++i) {
      if (i == bestStart) {
        out += "::";
        i += bestLen - 1;
        continue;
      }
      if (!out.empty() && out.back() != ':') out += ':';
      std::snprintf(buf, sizeof buf, "%x", w[i]);
      out += buf;
    }
  }
  if (!zone.empty()) out += "%" + zone;
  return out;
}

Result<IpPrefix> parseIpPrefix(std::string_view text) {
  auto slash = text.rfind('/');
  if (slash == std::string_view::npos) {
    return Error::invalid("netip.ParsePrefix(\"" + std::string(text) + "\"): no '/'");
  }
  auto addrText = text.substr(0, slash);
  if (addrText.find('%') != std::string_view::npos) {
    return Error::invalid("netip.ParsePrefix(\"" + std::string(text) +
                          "\"): IPv6 zones cannot be present in a prefix");
  }
  auto addr = parseIpAddr(addrText);
  if (!addr) {
    return Error::invalid("netip.ParsePrefix(\"" + std::string(text) + "\"): " + addr.error().message);
  }
  auto bitsText = text.substr(slash + 1);
  int bits = 0;
  bool ok = !bitsText.empty() && bitsText.size() <= 3 && !(bitsText.size() > 1 && bitsText[0] == '0');
  for (char c : bitsText) {
    if (c < '0' || c > '9') {
      ok = false;
      break;
    }
    bits = bits * 10 + (c - '0');
  }
  if (!ok || bits > addr->bitLen()) {
    return Error::invalid("netip.ParsePrefix(\"" + std::string(text) + "\"): bad bits after slash: \"" +
                          std::string(bitsText) + "\"");
  }
  return IpPrefix{*addr, bits};
}

std::string IpPrefix::toString() const {
  return addr.toString() + "/" + std::to_string(bits);
}

IpPrefix IpPrefix::masked() const {
  IpPrefix p = *this;
  int total = addr.bitLen();
  for (int bit = bits; bit < total; ++bit) {
    p.addr.bytes[size_t(bit / 8)] &= uint8_t(~(0x80u >> (bit % 8)));
  }
  return p;
}

Result<IpAddrPort> parseIpAddrPort(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return Error::invalid("invalid AddrPort \"" + std::string(text) + "\": not an ip:port");
  }
  std::string_view host = text.substr(0, colon);
  std::string_view portText = text.substr(colon + 1);
  bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  auto addr = parseIpAddr(host);
  if (!addr) return Error::invalid("invalid AddrPort \"" + std::string(text) + "\": " + addr.error().message);
  if (addr->v6 != bracketed) {
    return Error::invalid("invalid AddrPort \"" + std::string(text) + "\": " +
                          (addr->v6 ? "IPv6 addresses must be surrounded by square brackets"
                                    : "IPv4 addresses must not be surrounded by square brackets"));
  }
  unsigned port = 0;
  if (portText.empty() || portText.size() > 5) {
    return Error::invalid("invalid AddrPort \"" + std::string(text) + "\": invalid port");
  }
  for (char c : portText) {
    if (c < '0' || c > '9')
      return Error::invalid("invalid AddrPort \"" + std::string(text) + "\": invalid port");
    port = port * 10 + unsigned(c - '0');
  }
  if (port > 65535) return Error::invalid("invalid AddrPort \"" + std::string(text) + "\": invalid port");
  return IpAddrPort{*addr, uint16_t(port)};
}

std::string IpAddrPort::toString() const {
  if (addr.v6) return "[" + addr.toString() + "]:" + std::to_string(port);
  return addr.toString() + ":" + std::to_string(port);
}

}  // namespace tnet::ipn
