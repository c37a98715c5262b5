// The URLs libs/net accepts: http:// or https://, a host (letters, digits, '-', '.', '_' — a name
// or IPv4 — or a bracketed IPv6 literal), an optional port, and a path with optional query. No
// user info; a fragment is dropped; no control characters or spaces anywhere. I/O-free (it parses
// control-supplied PingRequest URLs too: tests/fuzz/url_fuzz.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "libs/base/result.h"

namespace tnet::net {

struct Url {
  bool tls = false;   // https
  std::string host;   // without brackets for IPv6
  uint16_t port = 0;  // the explicit port, or 80 / 443 from the scheme
  bool explicitPort = false;
  std::string target;  // "/path?query", "/" when empty

  // "host" or "host:port" (IPv6 in brackets), as the Host header wants it.
  std::string hostHeader() const;
};

Result<Url> parseUrl(std::string_view text);

}  // namespace tnet::net
