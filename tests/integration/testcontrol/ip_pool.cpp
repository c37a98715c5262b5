#include "tests/integration/testcontrol/ip_pool.h"

namespace tnet::testcontrol {
namespace {

constexpr uint32_t CGNAT_BASE = (100u << 24) | (64u << 16);  // 100.64.0.0
constexpr uint32_t CGNAT_SIZE = 1u << 22;                    // /10

// Addresses Tailscale reserves inside 100.64.0.0/10 (tsaddr): the MagicDNS/service /24
// 100.100.100.0/24 (Quad100 lives there) and ChromeOS's VM range 100.115.92.0/23.
bool reserved(uint32_t ip) {
  if ((ip & 0xffffff00u) == ((100u << 24) | (100u << 16) | (100u << 8))) return true;
  if ((ip & 0xfffffe00u) == ((100u << 24) | (115u << 16) | (92u << 8))) return true;
  // .0 and .255 are valid /32s, but some stacks and tools treat them as network/broadcast.
  uint8_t last = ip & 0xff;
  return last == 0 || last == 255;
}

ipn::IpAddr v4Addr(uint32_t ip) {
  ipn::IpAddr a;
  a.bytes[0] = uint8_t(ip >> 24);
  a.bytes[1] = uint8_t(ip >> 16);
  a.bytes[2] = uint8_t(ip >> 8);
  a.bytes[3] = uint8_t(ip);
  return a;
}

}  // namespace

std::optional<ipn::IpAddr> tailscale4To6(const ipn::IpAddr& v4) {
  if (v4.v6 || v4.bytes[0] != 100 || (v4.bytes[1] & 0xc0) != 64) return std::nullopt;
  ipn::IpAddr a;
  a.v6 = true;
  a.bytes = {0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 0xab, 0x12, 0x48, 0x43, 0xcd, 0x96, 0x62, 0, 0, 0};
  a.bytes[13] = v4.bytes[1];
  a.bytes[14] = v4.bytes[2];
  a.bytes[15] = v4.bytes[3];
  return a;
}

std::optional<NodeAddresses> IpPool::next() {
  while (cursor_ + 1 < CGNAT_SIZE) {
    ++cursor_;
    uint32_t ip = CGNAT_BASE + cursor_;
    if (reserved(ip)) continue;
    NodeAddresses out;
    out.v4 = {v4Addr(ip), 32};
    out.v6 = {*tailscale4To6(out.v4.addr), 128};
    ++allocated_;
    return out;
  }
  return std::nullopt;
}

}  // namespace tnet::testcontrol
