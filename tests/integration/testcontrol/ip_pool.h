// Tailnet address allocation: one IPv4 /32 from 100.64.0.0/10 (CGNAT, as Tailscale assigns) and
// the matching IPv6 /128 in Tailscale's 4-to-6 range fd7a:115c:a1e0:ab12:4843:cd96:6200::/104
// (inside fd7a:115c:a1e0::/48; Go's tsaddr.Tailscale4To6). Addresses are handed out in order
// and never reused, so a removed node's address cannot be mistaken for a new node's.
#pragma once

#include <cstdint>
#include <optional>

#include "libs/ipn/netip.h"

namespace tnet::testcontrol {

struct NodeAddresses {
  ipn::IpPrefix v4;  // a.b.c.d/32
  ipn::IpPrefix v6;  // fd7a:…/128
};

// Go's tsaddr.Tailscale4To6 (nullopt outside 100.64.0.0/10).
std::optional<ipn::IpAddr> tailscale4To6(const ipn::IpAddr& v4);

class IpPool {
 public:
  // nullopt once the /10 is exhausted (about four million nodes).
  std::optional<NodeAddresses> next();
  uint64_t allocated() const { return allocated_; }
  // For a saved tailnet: the position after the last address handed out, and its restore.
  uint32_t cursor() const { return cursor_; }
  void restore(uint32_t cursor, uint64_t allocated) {
    cursor_ = cursor;
    allocated_ = allocated;
  }

 private:
  uint32_t cursor_ = 0;  // offset into 100.64.0.0/10 of the last address handed out
  uint64_t allocated_ = 0;
};

}  // namespace tnet::testcontrol
