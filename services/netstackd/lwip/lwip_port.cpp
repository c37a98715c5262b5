// The platform functions lwIP calls: the clock, randomness and the RFC 6528 ISN hook.
#include <array>
#include <chrono>
#include <cstring>

#include "libs/crypto/crypto.h"
#include "lwip/arch.h"
#include "lwip/ip_addr.h"
#include "lwip/sys.h"
#include "tnet_lwip_hooks.h"

namespace {

const std::array<uint8_t, 32>& isnSecret() {
  static const std::array<uint8_t, 32> secret = [] {
    std::array<uint8_t, 32> s{};
    tnet::crypto::init();
    tnet::crypto::randomBytes(s);
    return s;
  }();
  return secret;
}

// 16 bytes per address; IPv4 is the first 4 with the family byte set apart.
void putAddr(uint8_t* out, const ip_addr_t* a) {
  std::memset(out, 0, 17);
  if (IP_IS_V6(a)) {
    out[0] = 6;
    std::memcpy(out + 1, ip_2_ip6(a)->addr, 16);
  } else {
    out[0] = 4;
    std::memcpy(out + 1, &ip_2_ip4(a)->addr, 4);
  }
}

}  // namespace

extern "C" u32_t sys_now(void) {
  using namespace std::chrono;
  return static_cast<u32_t>(duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

extern "C" uint32_t tnet_lwip_rand(void) {
  uint32_t v = 0;
  tnet::crypto::randomBytes({reinterpret_cast<uint8_t*>(&v), sizeof v});
  return v;
}

// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4 µs clock.
extern "C" u32_t tnet_lwip_tcp_isn(const ip_addr_t* local_ip, u16_t local_port, const ip_addr_t* remote_ip,
                                   u16_t remote_port) {
  uint8_t input[17 + 17 + 4];
  putAddr(input, local_ip);
  putAddr(input + 17, remote_ip);
  input[34] = uint8_t(local_port >> 8);
  input[35] = uint8_t(local_port);
  input[36] = uint8_t(remote_port >> 8);
  input[37] = uint8_t(remote_port);
  uint8_t digest[32];
  tnet::crypto::blake2s({digest, sizeof digest}, {{input, sizeof input}}, isnSecret());
  uint32_t f =
      uint32_t(digest[0]) | uint32_t(digest[1]) << 8 | uint32_t(digest[2]) << 16 | uint32_t(digest[3]) << 24;
  using namespace std::chrono;
  auto micros = duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
  return static_cast<u32_t>(uint64_t(micros) / 4) + f;
}
