#include "services/netstackd/app/addr_convert.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "lwip/ip.h"

namespace tnet::netstack {

ip_addr_t toLwip(const Addr& a) {
  ip_addr_t r;
  if (a.v6) {
    IP_SET_TYPE_VAL(r, IPADDR_TYPE_V6);
    std::memcpy(ip_2_ip6(&r)->addr, a.bytes.data(), 16);
  } else {
    IP_SET_TYPE_VAL(r, IPADDR_TYPE_V4);
    std::memcpy(&ip_2_ip4(&r)->addr, a.bytes.data(), 4);
  }
  return r;
}

Addr fromLwip(const ip_addr_t* a) {
  Addr r;
  if (IP_IS_V6(a)) {
    r.v6 = true;
    std::memcpy(r.bytes.data(), ip_2_ip6(a)->addr, 16);
  } else {
    std::memcpy(r.bytes.data(), &ip_2_ip4(a)->addr, 4);
  }
  return r;
}

socklen_t toSockaddr(const Addr& a, uint16_t port, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (a.v6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    std::memcpy(&s6->sin6_addr, a.bytes.data(), 16);
    return sizeof *s6;
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  s4->sin_family = AF_INET;
  s4->sin_port = htons(port);
  std::memcpy(&s4->sin_addr, a.bytes.data(), 4);
  return sizeof *s4;
}

bool fromSockaddr(const sockaddr_storage& ss, Addr& a, uint16_t& port) {
  a = Addr{};
  if (ss.ss_family == AF_INET) {
    auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
    std::memcpy(a.bytes.data(), &s4->sin_addr, 4);
    port = ntohs(s4->sin_port);
    return true;
  }
  if (ss.ss_family == AF_INET6) {
    auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    a.v6 = true;
    std::memcpy(a.bytes.data(), &s6->sin6_addr, 16);
    port = ntohs(s6->sin6_port);
    return true;
  }
  return false;
}

}  // namespace tnet::netstack
