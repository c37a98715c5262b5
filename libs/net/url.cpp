#include "libs/net/url.h"

#include <arpa/inet.h>

#include <charconv>

namespace tnet::net {

std::string Url::hostHeader() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (explicitPort) h += ":" + std::to_string(port);
  return h;
}

Result<Url> parseUrl(std::string_view text) {
  Url u;
  std::string_view rest;
  if (text.starts_with("https://")) {
    u.tls = true;
    rest = text.substr(8);
  } else if (text.starts_with("http://")) {
    rest = text.substr(7);
  } else {
    return Error::invalid("URL must start with http:// or https://");
  }
  for (char c : rest) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return Error::invalid("URL contains a control character or space");
  }
  size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view target = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) return Error::invalid("URL user info is not supported");
  if (target.find('#') != std::string_view::npos) target = target.substr(0, target.find('#'));
  std::string_view hostPart = authority;
  std::string_view portPart;
  if (authority.starts_with("[")) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Error::invalid("URL has an unterminated IPv6 literal");
    hostPart = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return Error::invalid("URL has junk after the IPv6 literal");
      portPart = after.substr(1);
      u.explicitPort = true;
    }
  } else {
    size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      hostPart = authority.substr(0, colon);
      portPart = authority.substr(colon + 1);
      u.explicitPort = true;
      if (hostPart.find(':') != std::string_view::npos) return Error::invalid("IPv6 hosts need brackets");
    }
  }
  if (hostPart.empty()) return Error::invalid("URL has no host");
  if (authority.starts_with("[")) {
    // An IPv6 literal (a zone, "%eth0", is not accepted).
    in6_addr a6;
    if (inet_pton(AF_INET6, std::string(hostPart).c_str(), &a6) != 1)
      return Error::invalid("URL has a bad IPv6 literal");
  } else {
    // Names and IPv4 only: the host goes into a Host header and TLS SNI, so nothing else.
    for (char c : hostPart) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                c == '.' || c == '_';
      if (!ok) return Error::invalid("URL host has a character that is not allowed");
    }
  }
  if (u.explicitPort) {
    unsigned port = 0;
    auto [p, ec] = std::from_chars(portPart.data(), portPart.data() + portPart.size(), port);
    if (portPart.empty() || ec != std::errc() || p != portPart.data() + portPart.size() || port == 0 ||
        port > 65535) {
      return Error::invalid("URL has a bad port");
    }
    u.port = static_cast<uint16_t>(port);
  } else {
    u.port = u.tls ? 443 : 80;
  }
  u.host = std::string(hostPart);
  u.target = target.empty() ? "/" : std::string(target);
  if (u.target[0] == '?') u.target.insert(0, "/");
  return u;
}

}  // namespace tnet::net
