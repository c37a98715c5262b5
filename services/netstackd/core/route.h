// Where a proxy dial goes, as Go's userspace mode decides it (tsdial.Dialer.UserDial with
// UseNetstackForIP = "PeerForIP finds a node"): this node's and its peers' tailnet addresses go
// into the netstack; quad-100 is answered in-process; every other address (including CGNAT or
// Tailscale-ULA addresses that no node in the netmap owns) is dialled through the OS. Also the
// errno → SOCKS5 reply / Go error text mapping for OS dials. Pure functions: unit-tested.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "services/netstackd/core/packet.h"

namespace tnet::netstack::route {

enum class Via { TAILNET, QUAD100, OS };

// The addresses of the nodes in the netmap (self and peers).
class TailnetAddrs {
 public:
  void clear() { addrs_.clear(); }
  void add(const Addr& a);
  bool contains(const Addr& a) const;
  size_t size() const { return addrs_.size(); }

 private:
  std::set<Addr> addrs_;
};

// ::ffff:a.b.c.d → a.b.c.d (Go's netip.Addr.Unmap, applied to every dial target).
Addr unmap(const Addr& a);
// 100.100.100.100 or fd7a:115c:a1e0::53.
bool isQuad100(const Addr& a);
Via classify(const Addr& dst, const TailnetAddrs& tailnet);

// A failed OS connect(): the RFC 1928 code for its cause (refused 0x05, network unreachable 0x03,
// host unreachable / timeout 0x04, anything else 0x01). The wire carries 0x01 regardless, as Go's
// server sends (Conn::socksFail).
uint8_t socksReplyFor(int err);
// Go's net.OpError text: "dial tcp 127.0.0.1:9: connect: connection refused",
// "dial tcp 192.0.2.1:80: i/o timeout" (ETIMEDOUT from our own deadline).
std::string dialErrorText(const std::string& network, const Addr& a, uint16_t port, int err);
// Go's resolver text for a failed lookup: "lookup example.invalid: no such host".
std::string lookupErrorText(const std::string& host, int gaiError);
// "127.0.0.1:80", "[::1]:80".
std::string hostPort(const Addr& a, uint16_t port);

}  // namespace tnet::netstack::route
