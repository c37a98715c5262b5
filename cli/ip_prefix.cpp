#include "cli/ip_prefix.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "libs/ipn/dns_name.h"

namespace tnet::cli {

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string s(text);
  IpAddr a;
  if (s.find(':') != std::string::npos) {
    if (s.find('%') != std::string::npos) return std::nullopt;  // zones are not tailnet addresses
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
    a.v6 = true;
    return a;
  }
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  return a;
}

std::string IpAddr::toString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof(buf));
  return buf;
}

bool IpAddr::operator<(const IpAddr& o) const {
  if (v6 != o.v6) return !v6;
  return std::memcmp(bytes.data(), o.bytes.data(), v6 ? 16 : 4) < 0;
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto addr = IpAddr::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  std::string_view bitsText = text.substr(slash + 1);
  if (bitsText.empty() || bitsText.size() > 3) return std::nullopt;
  if (bitsText.size() > 1 && bitsText[0] == '0') return std::nullopt;  // Go rejects leading zeros
  int bits = 0;
  for (char c : bitsText) {
    if (c < '0' || c > '9') return std::nullopt;
    bits = bits * 10 + (c - '0');
  }
  if (bits > (addr->v6 ? 128 : 32)) return std::nullopt;
  return IpPrefix{*addr, bits};
}

IpPrefix IpPrefix::masked() const {
  IpPrefix p = *this;
  int total = addr.v6 ? 128 : 32;
  for (int i = bits; i < total; ++i) {
    p.addr.bytes[static_cast<size_t>(i / 8)] &= static_cast<uint8_t>(~(0x80u >> (i % 8)));
  }
  return p;
}

std::string IpPrefix::toString() const {
  return addr.toString() + "/" + std::to_string(bits);
}

Result<std::vector<std::string>> calcAdvertiseRoutes(std::string_view routes, bool advertiseExitNode) {
  std::vector<IpPrefix> list;
  auto add = [&](const IpPrefix& p) {
    if (std::find(list.begin(), list.end(), p) == list.end()) list.push_back(p);
  };
  const IpPrefix all4 = *IpPrefix::parse("0.0.0.0/0");
  const IpPrefix all6 = *IpPrefix::parse("::/0");
  if (!routes.empty()) {
    bool default4 = false, default6 = false;
    size_t start = 0;
    for (;;) {
      size_t comma = routes.find(',', start);
      std::string_view item = routes.substr(start, comma == std::string_view::npos ? comma : comma - start);
      auto p = IpPrefix::parse(item);
      if (!p) return Error::invalid(ipn::goQuote(item) + " is not a valid IP address or CIDR prefix");
      if (!(*p == p->masked())) {
        return Error::invalid(p->toString() + " has non-address bits set; expected " +
                              p->masked().toString());
      }
      if (*p == all4) default4 = true;
      if (*p == all6) default6 = true;
      add(*p);
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    if (default4 && !default6) {
      return Error::invalid("0.0.0.0/0 advertised without its IPv6 counterpart, please also advertise ::/0");
    }
    if (default6 && !default4) {
      return Error::invalid("::/0 advertised without its IPv4 counterpart, please also advertise 0.0.0.0/0");
    }
  }
  if (advertiseExitNode) {
    add(all4);
    add(all6);
  }
  std::sort(list.begin(), list.end(), [](const IpPrefix& a, const IpPrefix& b) {
    if (a.bits != b.bits) return a.bits < b.bits;
    return a.addr < b.addr;
  });
  std::vector<std::string> out;
  for (const auto& p : list) out.push_back(p.toString());
  return out;
}

bool containsExitRoutes(const std::vector<std::string>& routes) {
  bool v4 = false, v6 = false;
  for (const auto& r : routes) {
    if (r == "0.0.0.0/0") v4 = true;
    if (r == "::/0") v6 = true;
  }
  return v4 && v6;
}

}  // namespace tnet::cli
